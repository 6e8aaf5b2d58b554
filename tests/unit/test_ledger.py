"""The spend ledger: subtree sums, UTC period boundaries, per-model budgets, usage grouping."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from llmgw.audit.record import INSERT_SQL, AuditRecord
from llmgw.limits import ledger
from llmgw.limits.model import BudgetSpec
from llmgw.store.schema import apply_migrations


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:", isolation_level=None)
    apply_migrations(db)
    yield db
    db.close()


def add(conn: sqlite3.Connection, **fields: Any) -> AuditRecord:
    rec = AuditRecord(**{"ts": utc("2025-01-15T12:00:00"), "tenant": "acme", **fields})
    conn.execute(INSERT_SQL, rec.to_row())
    return rec


def test_subtree_covers_node_and_children_only(conn: sqlite3.Connection) -> None:
    for tenant, cost in [
        ("acme", 1),
        ("acme/search", 10),
        ("acme/search/prod", 100),
        ("acme2", 1000),
        ("acme-x", 10000),
        ("acme_y/z", 100000),
        ("", 1000000),
    ]:
        add(conn, tenant=tenant, cost_nanos=cost, input_tokens=2, output_tokens=3)
    everything = (0.0, utc("2030-01-01T00:00:00"))
    assert ledger.spend_by_period(conn, "acme", *everything) == (111, 15, 3)
    assert ledger.spend_by_period(conn, "acme/search", *everything) == (110, 10, 2)
    assert ledger.spend_by_period(conn, "acme/", *everything) == (111, 15, 3)
    assert ledger.spend_by_period(conn, "acme2", *everything)[0] == 1000
    assert ledger.spend_by_period(conn, "nobody", *everything) == (0, 0, 0)
    assert ledger.spend_by_period(conn, "", *everything)[0] == 1111111


def test_time_bounds_are_half_open_and_model_filter(conn: sqlite3.Connection) -> None:
    t0 = utc("2025-01-15T00:00:00")
    add(conn, ts=t0, cost_nanos=1, requested_model="gpt-4o")
    add(conn, ts=t0 + 10, cost_nanos=2, requested_model="gpt-4o-mini")
    add(conn, ts=t0 + 20, cost_nanos=4, requested_model="gpt-4o")
    assert ledger.spend_by_period(conn, "acme", t0, t0 + 20)[0] == 3
    assert ledger.spend_by_period(conn, "acme", t0 + 1, t0 + 21)[0] == 6
    assert ledger.spend_by_period(conn, "acme", t0, t0 + 21, model="gpt-4o") == (5, 0, 2)
    assert ledger.spend_by_period(conn, "acme", t0, t0 + 21, model="other") == (0, 0, 0)


def test_current_spend_month_boundaries_are_utc(conn: sqlite3.Connection) -> None:
    add(conn, ts=utc("2024-12-31T23:59:59.999"), cost_nanos=1)
    add(conn, ts=utc("2025-01-01T00:00:00"), cost_nanos=10)
    add(conn, ts=utc("2025-01-31T23:59:59"), cost_nanos=100)
    add(conn, ts=utc("2025-02-01T00:00:00"), cost_nanos=1000)
    month = BudgetSpec(key="month", period="month", limit_nanos=10**9)
    assert ledger.current_spend(conn, "acme", month, now=utc("2025-01-31T23:59:59.5")) == 110
    assert ledger.current_spend(conn, "acme", month, now=utc("2025-02-01T00:00:00")) == 1000
    assert ledger.current_spend(conn, "acme", month, now=utc("2024-12-01T00:00:00")) == 1
    day = BudgetSpec(key="day", period="day", limit_nanos=10**9)
    assert ledger.current_spend(conn, "acme", day, now=utc("2025-01-31T00:00:00")) == 100
    assert ledger.current_spend(conn, "acme", day, now=utc("2025-01-01T23:00:00")) == 10


def test_current_spend_window_and_model(conn: sqlite3.Connection) -> None:
    add(conn, ts=3599.0, cost_nanos=1, requested_model="a")
    add(conn, ts=3600.0, cost_nanos=10, requested_model="a")
    add(conn, ts=7199.0, cost_nanos=100, requested_model="b")
    window = BudgetSpec(key="window3600", period="window", limit_nanos=1, window_s=3600)
    assert ledger.current_spend(conn, "acme", window, now=5000.0) == 110
    per_model = BudgetSpec(
        key="window3600:a", period="window", limit_nanos=1, window_s=3600, model="a"
    )
    assert ledger.current_spend(conn, "acme", per_model, now=5000.0) == 10
    assert ledger.current_spend(conn, "acme", per_model, now=100.0) == 1


def test_cache_hits_are_savings_not_spend(conn: sqlite3.Connection) -> None:
    add(conn, cost_nanos=500, provider="openai")
    add(conn, cost_nanos=300, provider="cache", outcome="ok")
    add(conn, cost_nanos=0, provider="cache", outcome="ok")
    span = (0.0, utc("2030-01-01T00:00:00"))
    assert ledger.spend_by_period(conn, "acme", *span) == (500, 0, 3)
    (row,) = ledger.usage(conn, "tenant")
    assert (row["spend_nanos"], row["cache_hits"], row["cache_savings_nanos"]) == (500, 2, 300)
    assert row["cache_savings_usd"] == "0.0000003"


def test_usage_groups_and_counts(conn: sqlite3.Connection) -> None:
    d1, d2 = utc("2025-03-01T23:30:00"), utc("2025-03-02T00:30:00")
    add(conn, ts=d1, tenant="acme/a", requested_model="m1", provider="p1", cost_nanos=3 * 10**9,
        input_tokens=10, output_tokens=20, cached_tokens=5)  # fmt: skip
    add(conn, ts=d2, tenant="acme/b", requested_model="m2", provider="p2", cost_nanos=10**9,
        input_tokens=1, output_tokens=2)  # fmt: skip
    add(conn, ts=d2, tenant="acme/b", requested_model="m1", provider="p1", outcome="error",
        status=502)  # fmt: skip
    add(conn, ts=d2, tenant="acme/b", requested_model="m1", outcome="rejected", status=429)
    add(conn, ts=d2, tenant="beta", requested_model=None, outcome="aborted", cost_nanos=7)

    by_tenant = ledger.usage(conn, "tenant")
    assert [r["tenant"] for r in by_tenant] == ["acme/a", "acme/b", "beta"]
    b = by_tenant[1]
    assert (b["requests"], b["errors"], b["spend_nanos"], b["spend_usd"]) == (3, 2, 10**9, "1.00")
    a = by_tenant[0]
    assert (a["input_tokens"], a["output_tokens"], a["cached_tokens"]) == (10, 20, 5)

    by_model = {r["model"]: r for r in ledger.usage(conn, "model")}
    assert by_model["m1"]["requests"] == 3 and by_model["m1"]["spend_nanos"] == 3 * 10**9
    assert by_model[""]["spend_nanos"] == 7

    by_day = ledger.usage(conn, "day")
    assert [(r["day"], r["requests"]) for r in by_day] == [("2025-03-01", 1), ("2025-03-02", 4)]

    by_provider = ledger.usage(conn, "provider", tenant="acme")
    assert {r["provider"]: r["requests"] for r in by_provider} == {"p1": 2, "p2": 1, "": 1}

    assert ledger.usage(conn, "tenant", since=d2, until=d2 + 1, tenant="acme/a") == []
    assert [r["tenant"] for r in ledger.usage(conn, "tenant", since=d2)] == ["acme/b", "beta"]
    with pytest.raises(ValueError, match="unknown grouping"):
        ledger.usage(conn, "color")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="later"):
        ledger.usage(conn, "day", since=2.0, until=1.0)


def test_burn_is_per_hour(conn: sqlite3.Connection) -> None:
    now = 100_000.0
    add(conn, ts=now - 1000, cost_nanos=600)
    add(conn, ts=now - 3000, cost_nanos=400)
    add(conn, ts=now - 4000, cost_nanos=10**6)
    assert ledger.burn(conn, "acme", now=now) == 1000
    assert ledger.burn(conn, "acme", window_s=1800, now=now) == 1200
    with pytest.raises(ValueError):
        ledger.burn(conn, "acme", window_s=0, now=now)


def test_budget_status(conn: sqlite3.Connection) -> None:
    add(conn, ts=utc("2025-01-15T01:00:00"), cost_nanos=250_000_000)
    spec = BudgetSpec(key="day", period="day", limit_nanos=10**9, hard=False)
    status = ledger.budget_status(conn, "acme", spec, now=utc("2025-01-15T20:00:00"))
    assert status["spent_usd"] == "0.25" and status["limit_usd"] == "1.00"
    assert status["used_pct"] == "25.0" and status["hard"] is False
    assert status["period_end"] == utc("2025-01-16T00:00:00")
    zero = BudgetSpec(key="month", period="month", limit_nanos=0)
    assert (
        ledger.budget_status(conn, "acme", zero, now=utc("2025-01-15T20:00:00"))["used_pct"] is None
    )


def test_tenant_tree_adds_parents_in_order() -> None:
    tree = ledger.tenant_tree(["acme/search/prod", "beta"], {"acme2": 1}, ["", "acme/a"])
    assert tree == ["acme", "acme/a", "acme/search", "acme/search/prod", "acme2", "beta"]


def test_subtree_queries_use_the_tenant_index(conn: sqlite3.Connection) -> None:
    plans: list[str] = []

    class Spy:
        def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
            plans.extend(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
            return conn.execute(sql, params)

    ledger.spend_by_period(Spy(), "acme", 0.0, 1.0, model="m")  # type: ignore[arg-type]
    ledger.usage(Spy(), "model", 0.0, 1.0, tenant="acme")  # type: ignore[arg-type]
    searches = [p for p in plans if p.startswith(("SEARCH", "SCAN audit_log"))]
    assert len(searches) == 4
    assert all("audit_log_tenant_ts" in p for p in searches), searches


def test_per_model_spend_counts_calls_made_by_alias(conn: sqlite3.Connection) -> None:
    add(conn, cost_nanos=5, requested_model="gpt-4o")
    add(conn, cost_nanos=7, requested_model="4o")  # an alias of gpt-4o
    add(conn, cost_nanos=100, requested_model="other")
    spec = BudgetSpec(key="month:gpt-4o", period="month", limit_nanos=10**9, model="gpt-4o")
    now = utc("2025-01-20T00:00:00")
    assert ledger.current_spend(conn, "acme", spec, now) == 5
    assert ledger.current_spend(conn, "acme", spec, now, aliases=("4o",)) == 12
