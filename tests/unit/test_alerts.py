"""Budget threshold crossings, burn rates and the alert record."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from llmgw.limits.alerts import Alert, BurnTracker, alerts_for, crossed
from llmgw.limits.model import BudgetUsage
from llmgw.routing.clock import FakeClock


def test_crossed_exact_boundaries() -> None:
    assert crossed(0, 499, 1000) == []
    assert crossed(0, 500, 1000) == [0.5]
    assert crossed(500, 800, 1000) == [0.8]  # 50% was already passed
    assert crossed(499, 1000, 1000) == [0.5, 0.8, 1.0]
    assert crossed(1000, 5000, 1000) == []
    assert crossed(0, 3, 3, thresholds=(1.0, 0.5)) == [0.5, 1.0]
    # 0.8 * 7 = 5.6: 5 has not crossed it, 6 has (no float product)
    assert crossed(0, 5, 7, thresholds=(0.8,)) == []
    assert crossed(5, 6, 7, thresholds=(0.8,)) == [0.8]
    assert crossed(0, 1, 0) == [0.5, 0.8, 1.0]
    assert crossed(1, 2, 0) == []


def test_burn_rate_over_sliding_window() -> None:
    clock = FakeClock(start=0.0, wall_start=1_000_000.0)
    tracker = BurnTracker(clock, window_s=3600)
    assert tracker.burn_rate_per_hour() == 0
    tracker.record(1_000_000_000)  # $1 in the first minute: at least a minute of span
    assert tracker.burn_rate_per_hour() == Decimal(60)
    clock.advance(1800)
    tracker.record(1_000_000_000)
    assert tracker.burn_rate_per_hour() == Decimal(4)  # $2 over half an hour
    clock.advance(1800)  # the first charge leaves the window
    assert tracker.spent_in_window() == 1_000_000_000
    assert tracker.burn_rate_per_hour() == Decimal(1)
    tracker.record(0)
    tracker.record(-5)
    assert tracker.spent_in_window() == 1_000_000_000


def test_projected_exhaustion() -> None:
    clock = FakeClock(start=0.0)
    tracker = BurnTracker(clock, window_s=3600)
    assert tracker.projected_exhaustion(0, 10, now=500.0) is None
    clock.advance(3600)
    tracker.record(2_000_000_000)  # $2/hour
    assert tracker.projected_exhaustion(1_000_000_000, 5_000_000_000, now=100.0) == 100.0 + 7200
    assert tracker.projected_exhaustion(6, 5, now=100.0) == 100.0


def test_alerts_for_settled_usage_and_json() -> None:
    clock = FakeClock(start=0.0)
    tracker = BurnTracker(clock)
    clock.advance(3600)
    usage = BudgetUsage("acme", "day", "2026-11-23", 10_000, 8_000, 0, True)
    alerts = alerts_for(usage, 4_000, tracker, now_wall=1_795_435_200.0)
    assert [a.threshold for a in alerts] == [0.5, 0.8]
    first = alerts[0]
    assert (first.node, first.budget_key, first.period, first.spent) == (
        "acme",
        "day",
        "2026-11-23",
        8_000,
    )
    assert first.projected_exhaustion_at == pytest.approx(1_795_435_200.0 + 1800, abs=1e-3)
    data = json.loads(json.dumps(first.to_dict()))
    assert data["spent_usd"] == "0.000008000" and data["limit_nanos"] == 10_000
    assert data["percent"] == 50 and data["hard"] is True
    assert data["projected_exhaustion_iso"] == "2026-11-23T12:30:00Z"
    assert alerts_for(usage, 0, tracker, 0.0) == []


def test_alert_without_projection() -> None:
    alert = Alert("a", "month", "2026-11", 1.0, 5, 5, Decimal(0), None, False)
    d = alert.to_dict()
    assert d["projected_exhaustion_at"] is None and d["projected_exhaustion_iso"] is None
    assert d["burn_rate_usd_per_hour"] == "0E-9"
