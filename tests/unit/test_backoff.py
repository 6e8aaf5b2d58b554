"""Backoff, Retry-After, the retry budget and deadlines, on a fake clock."""

from __future__ import annotations

import importlib
import random

import pytest

from llmgw.routing import backoff
from llmgw.routing.backoff import Deadline, RetryBudget, backoff_delay, retry_delay
from llmgw.routing.clock import FakeClock
from llmgw.settings.schema import RetryConfig


@pytest.fixture(autouse=True)
def _backoff_on() -> object:
    saved = backoff.backoff_disabled()
    backoff.set_testing(False)
    yield
    backoff.set_testing(saved)


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 5, 10, 100, 10_000])
def test_backoff_within_full_jitter_bounds(attempt: int) -> None:
    rng = random.Random(attempt)
    ceiling = min(2.0, 0.05 * 2 ** min(attempt, 62))
    delays = [backoff_delay(attempt, 0.05, 2.0, rng) for _ in range(500)]
    assert all(0.0 <= d <= ceiling for d in delays)
    # full jitter spreads over the whole range, not just near the top
    assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


def test_backoff_grows_then_caps() -> None:
    rng = random.Random(1)
    mean = [sum(backoff_delay(a, 0.1, 1.0, rng) for _ in range(2000)) / 2000 for a in range(6)]
    assert mean[0] < mean[1] < mean[2] < mean[3]
    assert mean[4] == pytest.approx(0.5, abs=0.05) and mean[5] == pytest.approx(0.5, abs=0.05)


def test_backoff_degenerate_inputs() -> None:
    rng = random.Random(0)
    assert backoff_delay(-3, 0.1, 1.0, rng) <= 0.1
    assert backoff_delay(3, 0.0, 1.0, rng) == 0.0
    assert backoff_delay(3, 0.1, 0.0, rng) == 0.0


def test_retry_after_is_honoured_never_less() -> None:
    cfg = RetryConfig(backoff_base_s=0.05, backoff_cap_s=2.0)
    rng = random.Random(0)
    assert retry_delay(0, 7.5, cfg, rng) == 7.5
    assert retry_delay(5, 0.0, cfg, rng) == 0.0
    assert all(retry_delay(3, 1.25, cfg, rng) >= 1.25 for _ in range(100))


@pytest.mark.parametrize("bad", [None, -1.0, float("nan"), float("inf")])
def test_unusable_retry_after_falls_back_to_backoff(bad: float | None) -> None:
    cfg = RetryConfig(backoff_base_s=0.05, backoff_cap_s=2.0)
    delay = retry_delay(1, bad, cfg, random.Random(0))
    assert 0.0 <= delay <= 0.1


def test_testing_switch_turns_waits_off() -> None:
    cfg = RetryConfig()
    backoff.set_testing(True)
    assert backoff.backoff_disabled()
    assert retry_delay(3, 30.0, cfg, random.Random(0)) == 0.0
    backoff.set_testing(False)
    assert retry_delay(3, 30.0, cfg, random.Random(0)) == 30.0


def test_env_var_read_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGW_NO_BACKOFF", "1")
    try:
        assert importlib.reload(backoff).BACKOFF_DISABLED is True
        monkeypatch.setenv("LLMGW_NO_BACKOFF", "0")
        assert importlib.reload(backoff).BACKOFF_DISABLED is False
    finally:
        monkeypatch.delenv("LLMGW_NO_BACKOFF")
        importlib.reload(backoff)


def test_budget_caps_retries_in_a_brownout() -> None:
    cfg = RetryConfig(budget_ratio=0.2, budget_min_per_s=5.0, budget_window_s=10.0)
    clock = FakeClock()
    budget = RetryBudget(cfg, clock)
    retries = 0
    for i in range(1000):  # every call fails and wants a retry, over 5 s
        budget.record_call()
        if budget.try_acquire():
            retries += 1
        if i % 200 == 199:
            clock.advance(1.0)
    assert retries == 0.2 * 1000 + 5.0 * 10.0
    assert budget.stats()["retries"] == retries


def test_budget_floor_allows_retries_when_quiet() -> None:
    cfg = RetryConfig(budget_ratio=0.2, budget_min_per_s=0.5, budget_window_s=10.0)
    budget = RetryBudget(cfg, FakeClock())
    budget.record_call()
    assert sum(budget.try_acquire() for _ in range(10)) == 5  # 0.2 rounds down, floor 5


def test_budget_refills_as_the_window_slides() -> None:
    cfg = RetryConfig(budget_ratio=0.0, budget_min_per_s=1.0, budget_window_s=10.0)
    clock = FakeClock()
    budget = RetryBudget(cfg, clock)
    assert sum(budget.try_acquire() for _ in range(20)) == 10
    clock.advance(5.0)
    assert not budget.try_acquire()
    clock.advance(5.0)  # the first retries have left the window
    assert sum(budget.try_acquire() for _ in range(20)) == 10


def test_deadline() -> None:
    clock = FakeClock()
    deadline = Deadline(10.0, clock)
    assert deadline.remaining() == 10.0 and not deadline.expired
    clock.advance(7.0)
    assert deadline.remaining() == pytest.approx(3.0)
    assert deadline.can_wait(2.0)
    assert not deadline.can_wait(3.0)  # nothing left for the attempt itself
    clock.advance(4.0)
    assert deadline.remaining() == 0.0 and deadline.expired
    assert not deadline.can_wait(0.0)
