"""Live operations state: windows, percentiles, rings, SSE fan-out and spend seeding."""

from __future__ import annotations

import asyncio
import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmgw.audit.record import INSERT_SQL, AuditRecord
from llmgw.limits.model import BudgetSpec
from llmgw.ops import views as admin_views
from llmgw.ops.admin_views import pump
from llmgw.ops.live import (
    LATENCY_RING,
    TAIL_RING,
    Buckets,
    LiveState,
    percentile,
)
from llmgw.routing.clock import FakeClock
from llmgw.settings.parse import parse_settings
from llmgw.settings.schema import Settings
from llmgw.store.db import open_db
from llmgw.wire.sse import SseParser

CONFIG = """
[providers.a]
kind = "mock"

[models.m1]
aliases = ["one"]
deployments = [{ provider = "a", model = "up-1" }]

[tenants.acme]
models = ["*"]

[tenants.globex]
models = ["*"]
"""

# 2026-03-15 12:00:00 UTC: mid-day, mid-month
NOON = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC).timestamp()


def settings() -> Settings:
    return parse_settings(tomllib.loads(CONFIG), "cfg.toml")


def rec(**kw: Any) -> AuditRecord:
    base: dict[str, Any] = {
        "tenant": "acme/search",
        "api": "openai",
        "requested_model": "m1",
        "provider": "a",
        "served_model": "up-1",
        "attempts": 1,
        "attempt_log": (
            {"provider": "a", "model": "up-1", "error_class": None, "status": 200, "latency_ms": 5},
        ),
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_nanos": 1000,
        "latency_ms": 120.0,
        "ttft_ms": 40.0,
        "retention": "metadata",
    }
    base.update(kw)
    return AuditRecord(**base)


def make(clock: FakeClock | None = None, path: Path | None = None) -> LiveState:
    return LiveState(settings(), path, clock or FakeClock(1000.0, wall_start=NOON))


def test_buckets_slide_out_after_the_window() -> None:
    b = Buckets(60, 1.0, 2)
    b.row(100.0)[0] += 3
    b.row(130.5)[1] += 7
    assert b.totals(130.9) == [3, 7]
    assert b.totals(159.9) == [3, 7]  # slot 100 is the oldest of the 60 ending at 159
    assert b.totals(160.0) == [0, 7]
    assert b.totals(191.0) == [0, 0]
    b.row(220.0)[0] += 1  # wraps onto slot 100's index and resets it
    assert b.totals(220.0) == [1, 0]


def test_buckets_series_oldest_first() -> None:
    b = Buckets(60, 60.0, 1)
    b.row(0.0)[0] += 5
    b.row(120.0)[0] += 2
    assert b.series(179.0, 4) == [0, 5, 0, 2]


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([3, 1, 2], 0.5) == 2


def test_observe_counts_the_tenant_and_its_ancestors_in_the_minute() -> None:
    clock = FakeClock(1000.0, wall_start=NOON)
    live = make(clock)
    live.observe(rec())
    live.observe(rec(outcome="rejected", status=429, error_class="rate_limit_exceeded",
                     attempt_log=(), provider=None, served_model=None, cost_nanos=0,
                     input_tokens=0, output_tokens=0))  # fmt: skip
    live.observe(rec(tenant="globex", outcome="error", status=503, cost_nanos=0))
    for node in ("acme", "acme/search"):
        view = live.tenant_view(node)
        assert view["requests_per_min"] == 2
        assert view["tokens_per_min"] == 15
        assert view["rejections_per_min"] == 1
        assert view["errors_per_min"] == 0
        assert view["spend_today_nanos"] == view["spend_month_nanos"] == 1000
    assert live.tenant_view("globex")["errors_per_min"] == 1
    assert [e["outcome"] for e in live.tenant_errors("acme")] == ["rejected"]
    clock.advance(61)
    view = live.tenant_view("acme")
    assert view["requests_per_min"] == 0 and view["spend_today_nanos"] == 1000
    assert view["burn_per_hour_nanos"] == 1000
    assert view["spark"][-2] == 1000 and sum(view["spark"]) == 1000 and len(view["spark"]) == 30
    clock.advance(3600)
    assert live.tenant_view("acme")["burn_per_hour_nanos"] == 0


def test_cache_hits_are_not_spend() -> None:
    live = make()
    live.observe(rec(provider="cache", attempt_log=(), cost_nanos=500))
    assert live.tenant_view("acme")["spend_today_nanos"] == 0


def test_day_rollover_resets_today_not_month() -> None:
    clock = FakeClock(1000.0, wall_start=NOON)
    live = make(clock)
    live.observe(rec())
    clock.advance(13 * 3600)  # past midnight UTC, same month
    assert live.tenant_view("acme")["spend_today_nanos"] == 0
    live.observe(rec(cost_nanos=7))
    view = live.tenant_view("acme")
    assert view["spend_today_nanos"] == 7 and view["spend_month_nanos"] == 1007


def test_tenant_list_includes_declared_tenants_without_traffic() -> None:
    live = make()
    live.observe(rec(tenant="initech"))
    assert live.tenant_names() == ["acme", "globex", "initech"]


def test_deployment_percentiles_error_rate_and_ring_bound() -> None:
    live = make()
    failed = {"provider": "a", "model": "up-1", "error_class": "overloaded", "status": 503}
    ok = {"provider": "a", "model": "up-1", "error_class": None, "status": 200}
    live.observe(rec(attempts=2, attempt_log=(failed, ok)))
    view = live.deployment_view("a/up-1")
    assert view["calls_per_min"] == 2 and view["error_rate"] == 0.5
    for i in range(LATENCY_RING + 100):
        live.observe(rec(latency_ms=float(i), ttft_ms=float(i) / 10))
    dep = live.deployments["a/up-1"]
    assert len(dep.latency_ms) == LATENCY_RING
    view = live.deployment_view("a/up-1")
    # the ring holds 100 .. 1123: the first 100 (and the 120 ms call) fell out
    assert view["latency_p50_ms"] == 100 + LATENCY_RING // 2 - 1
    assert view["latency_p99_ms"] == 100 + int(LATENCY_RING * 0.99)
    assert view["ttft_p50_ms"] == pytest.approx(view["latency_p50_ms"] / 10)
    assert live.deployment_view("nobody/none")["latency_p50_ms"] is None


def test_tail_ring_is_bounded_and_filters() -> None:
    live = make()
    for i in range(TAIL_RING + 5):
        live.observe(rec(id=f"req_{i}", tenant="acme" if i % 2 else "globex"))
    assert len(live.tail) == TAIL_RING
    newest = live.recent_calls(3)
    assert [c["id"] for c in newest] == [f"req_{TAIL_RING + 4 - i}" for i in range(3)]
    assert all(c["tenant"] == "acme" for c in live.recent_calls(50, tenant="acme"))
    assert live.recent_calls(5, status="rejected") == []
    assert len(live.recent_calls(5, status="200", model="m1")) == 5
    assert "request_body" not in newest[0]


def test_slow_subscriber_drops_oldest_and_is_told() -> None:
    live = make()
    slow = live.subscribe(size=3)
    fast = live.subscribe(size=100)
    only_globex = live.subscribe("globex")
    for i in range(5):
        live.observe(rec(id=f"req_{i}"))
    events, missed = slow.drain()
    assert [e["id"] for e in events] == ["req_2", "req_3", "req_4"] and missed == 2
    assert slow.drain() == ([], 0)
    events, missed = fast.drain()
    assert len(events) == 5 and missed == 0
    assert only_globex.drain() == ([], 0)
    live.unsubscribe(slow)
    live.observe(rec())
    assert slow.drain() == ([], 0)


class Sink:
    def __init__(self) -> None:
        self.body = b""

    async def __call__(self, message: dict[str, Any]) -> None:
        self.body += message.get("body", b"")


def test_pump_writes_sse_events_and_keepalives() -> None:
    async def run() -> bytes:
        live = make()
        sub = live.subscribe(size=2)
        sink = Sink()
        task = asyncio.create_task(pump(sub, sink, keepalive_s=0.01))
        for i in range(4):  # before the pump runs: two are dropped
            live.observe(rec(id=f"req_{i}"))
        await asyncio.sleep(0.05)
        await live.stop()
        await asyncio.wait_for(task, 1)
        return sink.body

    body = asyncio.run(run())
    assert b": keep-alive\n\n" in body
    events = SseParser().feed(body)
    kinds = [e.event for e in events]
    assert kinds[:3] == ["dropped", "call", "call"]
    assert orjson.loads(events[0].data) == {"missed": 2}
    assert orjson.loads(events[2].data)["id"] == "req_3"


def test_spend_is_seeded_from_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = open_db(path)
    rows = [
        rec(ts=NOON - 600, cost_nanos=100),  # today, 10 minutes ago
        rec(ts=NOON - 86400, cost_nanos=20, tenant="acme"),  # this month
        rec(ts=NOON - 40 * 86400, cost_nanos=5),  # last month
        rec(ts=NOON - 60, cost_nanos=999, provider="cache", tenant="globex"),  # cache hit
        rec(ts=NOON - 30, cost_nanos=3, tenant="globex"),
    ]
    conn.executemany(INSERT_SQL, [r.to_row() for r in rows])
    conn.close()
    live = make(path=path)
    asyncio.run(live.start())
    acme = live.tenant_view("acme")
    assert acme["spend_today_nanos"] == 100 and acme["spend_month_nanos"] == 120
    assert live.tenant_view("acme/search")["spend_month_nanos"] == 100
    assert acme["burn_per_hour_nanos"] == 100 and acme["spark"][-11] == 100
    globex = live.tenant_view("globex")
    assert globex["spend_today_nanos"] == 3 and globex["burn_per_hour_nanos"] == 3
    live.observe(rec(cost_nanos=1))
    assert live.tenant_view("acme")["spend_month_nanos"] == 121


def test_start_without_a_ledger_starts_at_zero(tmp_path: Path) -> None:
    live = make(path=tmp_path / "missing.db")
    asyncio.run(live.start())
    assert live.tenant_view("acme")["spend_month_nanos"] == 0


def test_budget_projection() -> None:
    spec = BudgetSpec(key="day", period="day", limit_nanos=1000)
    # 400 left at 100/hour: 4 hours from noon, still today
    assert admin_views.exhaustion_at(spec, 600, 100, NOON) == NOON + 4 * 3600
    assert admin_views.exhaustion_at(spec, 600, 10, NOON) is None  # 40 h: after the day ends
    assert admin_views.exhaustion_at(spec, 600, 0, NOON) is None
    assert admin_views.exhaustion_at(spec, 1000, 0, NOON) == NOON
    row = admin_views.budget_row(spec, 333, 0, NOON)
    assert row["used_pct"] == "33.3" and row["spent"] == "$0.000000333"
