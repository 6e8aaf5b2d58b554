"""``StateData``: the operator views built from a state file agree with the live state's."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from llmgw.audit.record import INSERT_SQL, AuditRecord
from llmgw.limits import overrides
from llmgw.ops import views
from llmgw.ops.live import LiveState
from llmgw.ops.state_data import StateData, budget_from_key
from llmgw.routing.clock import FakeClock
from llmgw.settings.schema import Settings
from llmgw.store.db import StateFileError, open_db
from llmgw.store.keys import KeyStore

NOON = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC).timestamp()


def rec(ts: float, tenant: str = "acme/search", **kw: Any) -> AuditRecord:
    base: dict[str, Any] = {
        "ts": ts,
        "tenant": tenant,
        "api": "openai",
        "requested_model": "m1",
        "provider": "a",
        "served_model": "up-1",
        "attempts": 1,
        "attempt_log": ({"provider": "a", "model": "up-1", "error_class": None, "status": 200},),
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_nanos": 1000,
        "latency_ms": 120.0,
        "ttft_ms": 40.0,
        "retention": "metadata",
    }
    base.update(kw)
    return AuditRecord(**base)


RECORDS = [
    rec(NOON - 40 * 86400, cost_nanos=5),  # last month
    rec(NOON - 86400, tenant="acme", cost_nanos=20),  # this month, not today
    rec(NOON - 3000, cost_nanos=100),  # today, 50 minutes ago
    rec(NOON - 600, tenant="globex", cost_nanos=7, latency_ms=300.0, ttft_ms=None),
    rec(NOON - 50, provider="cache", served_model="up-1", cost_nanos=999, attempt_log=()),
    rec(
        NOON - 40,
        outcome="error",
        status=503,
        error_class="overloaded",
        cost_nanos=0,
        attempt_log=({"provider": "a", "model": "up-1", "error_class": "overloaded"},),
    ),
    rec(
        NOON - 30,
        tenant="globex",
        outcome="rejected",
        status=429,
        cost_nanos=0,
        attempts=0,
        attempt_log=(),
    ),
    rec(NOON - 20, cost_nanos=3),
]


def write(path: Path, records: list[AuditRecord]) -> None:
    conn = open_db(path)
    conn.executemany(INSERT_SQL, [r.to_row() for r in records])
    conn.close()


def live_after(records: list[AuditRecord], now: float) -> LiveState:
    """A live state that saw ``records`` finish at their arrival times."""
    settings = Settings(providers={}, models={}, tenants={})
    clock = FakeClock(1000.0, wall_start=records[0].ts)
    live = LiveState(settings, None, clock)
    for r in records:
        clock.advance(r.ts - clock.wall())
        live.observe(r)
    clock.advance(now - clock.wall())
    return live


def state_data(path: Path, now: float) -> StateData:
    data = StateData(path, clock=lambda: now)
    asyncio.run(data.refresh())
    return data


def test_figures_match_the_live_state(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write(path, RECORDS)
    now = NOON
    data = state_data(path, now)
    live = live_after(RECORDS[1:], now)  # the live state starts this month
    for node in ("acme", "acme/search", "globex"):
        assert asyncio.run(data.tenant_figures(node)) == live.tenant_figures(node), node
    acme = asyncio.run(data.tenant_figures("acme"))
    # cache hit not spend; the subtree counts; last month is not this month
    assert acme.spend_today_nanos == 103 and acme.spend_month_nanos == 123
    assert acme.requests_per_min == 3 and acme.errors_per_min == 1
    assert acme.burn_per_hour_nanos == 103 and acme.spark[-2:] == [3, 0]
    globex = asyncio.run(data.tenant_figures("globex"))
    assert globex.rejections_per_min == 1 and globex.spend_today_nanos == 7
    (dep,) = asyncio.run(data.deployments())
    assert dep.figures == live.deployment_figures("a/up-1")
    assert dep.deployment == "a/up-1" and dep.figures.calls_per_min == 2
    assert dep.figures.error_rate == 0.5 and dep.state == "closed" and dep.in_flight == 0


def test_rows_written_later_are_counted_once(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write(path, RECORDS[:4])
    data = StateData(path, clock=lambda: NOON)
    asyncio.run(data.refresh())
    write(path, RECORDS[4:])
    asyncio.run(data.refresh())
    asyncio.run(data.refresh())
    live = live_after(RECORDS[1:], NOON)
    assert asyncio.run(data.tenant_figures("acme")) == live.tenant_figures("acme")
    calls, seq = asyncio.run(data.calls_after(0))
    assert len(calls) == len(RECORDS) and seq == len(RECORDS)
    assert calls[-1]["tokens"] == {"input": 10, "output": 5, "cached": 0}


def test_list_and_drill_down_are_one_row(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write(path, RECORDS)
    conn = open_db(path)
    KeyStore(conn).create("acme/search", "app")
    conn.close()
    data = state_data(path, NOON)
    listed = asyncio.run(views.tenants_view(data))["tenants"]
    assert [t["tenant"] for t in listed] == ["acme", "acme/search", "globex"]
    detail = asyncio.run(views.tenant_detail(data, "acme"))
    row = next(t for t in listed if t["tenant"] == "acme")
    assert {k: detail[k] for k in row} == row
    assert [k["tenant"] for k in detail["keys"]] == ["acme/search"]
    assert detail["models"] == ["m1"]
    assert [c["outcome"] for c in detail["errors"]] == ["error"]
    assert len(detail["calls"]) == 6 and detail["calls"][0]["ts"] == NOON - 20
    with pytest.raises(Exception, match="no tenant 'nobody'"):
        asyncio.run(views.tenant_detail(data, "nobody"))


def test_budgets_from_overrides_and_alerts(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write(path, RECORDS)
    conn = open_db(path)
    overrides.set_budget(conn, "acme", "day", overrides.make_budget("day", "1").limit_usd, True)
    conn.execute(
        "INSERT INTO budget_alerts (at, node, budget, period, threshold, spent_nanos,"
        " limit_nanos, hard, payload) VALUES (?, 'globex', 'month:m1', '2026-03', 0.5, 5, 10,"
        " 0, '{}')",
        (NOON - 100,),
    )
    conn.close()
    data = state_data(path, NOON)
    rows = {t["tenant"]: t for t in asyncio.run(views.tenants_view(data))["tenants"]}
    (day,) = rows["acme"]["budgets"]
    assert day["key"] == "day" and day["limit_nanos"] == 10**9
    assert day["spent_nanos"] == rows["acme"]["spend_today_nanos"] == 103
    (month,) = rows["globex"]["budgets"]
    assert month["model"] == "m1" and month["hard"] is False and month["spent_nanos"] == 7
    assert rows["acme/search"]["budgets"] == []


def test_saved_breakers_and_cache_counters(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    write(path, RECORDS)
    conn = open_db(path)
    snapshot = {"state": "open", "forced": "open", "opened_at": NOON - 10, "cooldown_s": 30}
    conn.execute(
        "INSERT INTO breakers (deployment, snapshot) VALUES ('b/down', ?)", (json.dumps(snapshot),)
    )
    conn.execute(
        "INSERT INTO cache_counters (tenant, model, kind, calls, saved_tokens, saved_nanos)"
        " VALUES ('acme', 'm1', 'hit-exact', 3, 30, 999), ('acme', 'm1', 'miss', 1, 0, 0)"
    )
    conn.close()
    data = state_data(path, NOON)
    deps = {d["deployment"]: d for d in asyncio.run(views.deployments_view(data))["deployments"]}
    assert deps["b/down"]["state"] == "open" and deps["b/down"]["forced"] == "open"
    assert deps["b/down"]["retry_after_s"] == 20.0 and deps["b/down"]["calls_per_min"] == 0
    cache = asyncio.run(views.cache_view(data))
    assert cache["enabled"] is True and cache["hit_rate"] == 0.75
    assert cache["by_tenant"][0]["savings_nanos"] == 999


def test_the_file_must_be_a_state_file(tmp_path: Path) -> None:
    with pytest.raises(StateFileError, match="no state at"):
        StateData(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(StateFileError, match="not a llmgw state file"):
        StateData(other)
    assert not (tmp_path / "missing.db").exists()


def test_budget_keys() -> None:
    spec = budget_from_key("window3600:gpt-4o", 5, True)
    assert spec is not None and (spec.period, spec.window_s, spec.model) == (
        "window",
        3600,
        "gpt-4o",
    )
    assert budget_from_key("month", 5, False) is not None
    assert budget_from_key("weird", 5, False) is None
