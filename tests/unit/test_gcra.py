"""GCRA arithmetic and the budget periods."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgw.limits.gcra import EPSILON, Gcra
from llmgw.limits.periods import period_end, period_id, period_start


def test_fresh_bucket_admits_a_full_burst() -> None:
    g = Gcra(6)
    tat, now = 0.0, 100.0
    for i in range(6):
        res = g.check(tat, now)
        assert res.allowed and res.remaining == 5 - i
        tat = res.tat
    res = g.check(tat, now)
    assert not res.allowed
    assert res.retry_after_s == pytest.approx(10.0)
    assert res.tat == tat  # a rejection leaves the state as it was
    assert res.reset_s == pytest.approx(60.0)


def test_weighted_cost_and_impossible_demand() -> None:
    g = Gcra(1000)
    res = g.check(0.0, 50.0, 250)
    assert res.allowed and res.remaining == 750
    assert res.reset_s == pytest.approx(15.0)
    too_big = g.check(res.tat, 50.0, 1001)
    assert not too_big.allowed and too_big.retry_after_s is None


def test_refund_never_below_now_and_charge() -> None:
    g = Gcra(60)
    assert g.refund(130.0, 100.0, 10) == pytest.approx(120.0)
    assert g.refund(105.0, 100.0, 10) == 100.0
    assert g.refund(105.0, 100.0, 0) == 105.0
    assert g.charge(90.0, 100.0, 5) == pytest.approx(105.0)


def test_custom_burst_and_validation() -> None:
    g = Gcra(60, burst=2)
    tat = g.check(0.0, 0.0).tat
    tat = g.check(tat, 0.0).tat
    assert not g.check(tat, 0.0).allowed
    with pytest.raises(ValueError):
        Gcra(0)
    with pytest.raises(ValueError):
        Gcra(10, burst=0)
    with pytest.raises(ValueError):
        g.check(0.0, 0.0, -1)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 500),
    steps=st.lists(
        st.tuples(st.floats(0, 5, allow_nan=False), st.integers(1, 20)), min_size=1, max_size=80
    ),
)
def test_never_admits_more_than_burst_plus_rate(limit: int, steps: list[tuple[float, int]]) -> None:
    """Over any interval [a, b] of a run, admitted units <= limit + (b - a) * limit / 60."""
    g = Gcra(limit)
    tat, now = 0.0, 1000.0
    admitted: list[tuple[float, int]] = []
    for gap, cost in steps:
        now += gap
        res = g.check(tat, now, cost)
        if res.allowed:
            tat = res.tat
            admitted.append((now, cost))
    rate = limit / 60.0
    for i, (start, _) in enumerate(admitted):
        total = 0
        for at, cost in admitted[i:]:
            total += cost
            assert total <= limit + (at - start + EPSILON) * rate + 1e-9


@settings(max_examples=100, deadline=None)
@given(limit=st.integers(1, 300), idle=st.floats(0, 120, allow_nan=False))
def test_retry_after_is_exact(limit: int, idle: float) -> None:
    """Waiting exactly ``retry_after_s`` lets the rejected request through."""
    g = Gcra(limit)
    tat, now = 0.0, 500.0
    while (res := g.check(tat, now)).allowed:
        tat = res.tat
    now += idle
    res = g.check(tat, now)
    if not res.allowed:
        assert res.retry_after_s is not None
        assert g.check(tat, now + res.retry_after_s).allowed
        assert not g.check(tat, now + res.retry_after_s - 10 * EPSILON).allowed


def _ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def test_period_ids_and_ends() -> None:
    now = _ts("2026-11-23T23:59:59")
    assert period_id("day", now) == "2026-11-23"
    assert period_id("month", now) == "2026-11"
    assert period_end("day", now) == _ts("2026-11-24T00:00:00")
    assert period_start("day", now) == _ts("2026-11-23T00:00:00")
    assert period_id("day", now + 1) == "2026-11-24"
    dec = _ts("2026-12-31T12:00:00")
    assert period_end("month", dec) == _ts("2027-01-01T00:00:00")
    assert period_start("month", dec) == _ts("2026-12-01T00:00:00")
    assert period_id("month", period_end("month", dec)) == "2027-01"
    assert period_id("window", 7199.0, 3600) == "w1"
    assert period_id("window", 7200.0, 3600) == "w2"
    assert period_end("window", 7199.0, 3600) == 7200.0
    assert period_start("window", 7199.0, 3600) == 3600.0


def test_period_errors() -> None:
    with pytest.raises(ValueError):
        period_id("window", 10.0, None)
    with pytest.raises(ValueError):
        period_end("week", 10.0)
    with pytest.raises(ValueError):
        period_id("year", 10.0)
