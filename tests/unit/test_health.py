"""Deployment health: EWMA math, in-flight counting, the sliding error window, the board."""

from __future__ import annotations

import math

import pytest

from llmgw.routing.clock import FakeClock
from llmgw.routing.health import DEFAULT_ALPHA, DeploymentHealth, HealthBoard, ewma


def test_ewma_first_sample_taken_as_is() -> None:
    assert ewma(None, 0.8, 0.2) == 0.8


def test_ewma_math() -> None:
    h = DeploymentHealth("p/m", FakeClock(), alpha=0.5)
    h.record_success(1.0, ttft_s=0.2)
    h.record_success(3.0, ttft_s=0.4)
    assert h.latency_s == pytest.approx(2.0)
    assert h.ttft_s == pytest.approx(0.3)
    h.record_success(2.0)  # no ttft: the ttft average is untouched
    assert h.latency_s == pytest.approx(2.0)
    assert h.ttft_s == pytest.approx(0.3)


def test_default_alpha_half_life_is_about_three_samples() -> None:
    h = DeploymentHealth("p/m", FakeClock())
    h.record_success(1.0)
    for _ in range(3):
        h.record_success(0.0)
    # the first sample's weight after 3 newer ones is (1 - alpha) ** 3 ≈ 0.51
    assert h.latency_s == pytest.approx((1 - DEFAULT_ALPHA) ** 3)
    assert math.log(0.5) / math.log(1 - DEFAULT_ALPHA) == pytest.approx(3.1, abs=0.05)


def test_failures_do_not_feed_latency() -> None:
    h = DeploymentHealth("p/m", FakeClock())
    h.record_failure()
    assert h.latency_s is None
    assert h.has_data


def test_in_flight_never_negative() -> None:
    h = DeploymentHealth("p/m", FakeClock())
    h.begin()
    h.begin()
    assert h.in_flight == 2
    h.end()
    h.end()
    h.end()
    assert h.in_flight == 0


def test_error_rate_slides_with_the_clock() -> None:
    clock = FakeClock()
    h = DeploymentHealth("p/m", clock, error_window_s=10.0)
    assert h.error_rate() == 0.0
    h.record_failure()
    h.record_success(0.1)
    assert h.error_rate() == pytest.approx(0.5)
    clock.advance(5)
    h.record_success(0.1)
    h.record_success(0.1)
    assert h.error_rate() == pytest.approx(0.25)
    clock.advance(6)  # the first two calls left the window
    assert h.window_calls() == 2
    assert h.error_rate() == 0.0
    clock.advance(60)
    assert h.window_calls() == 0
    assert h.successes == 3 and h.failures == 1  # lifetime counts stay


def test_snapshot_shape() -> None:
    h = DeploymentHealth("p/m", FakeClock())
    h.begin()
    h.record_success(0.25, ttft_s=0.05)
    snap = h.snapshot()
    assert snap == {
        "deployment": "p/m",
        "latency_ms": 250.0,
        "ttft_ms": 50.0,
        "in_flight": 1,
        "successes": 1,
        "failures": 0,
        "window_calls": 1,
        "error_rate": 0.0,
    }


def test_bad_alpha() -> None:
    with pytest.raises(ValueError):
        DeploymentHealth("p/m", FakeClock(), alpha=0.0)


def test_board_creates_once_and_lists() -> None:
    board = HealthBoard(FakeClock())
    assert board.peek("a/x") is None
    a = board.get("a/x")
    assert board.get("a/x") is a
    board.get("b/y").begin()
    assert set(board.all()) == {"a/x", "b/y"}
    assert [s["deployment"] for s in board.snapshot()] == ["a/x", "b/y"]
    with pytest.raises(TypeError):
        board.all()["c/z"] = a  # type: ignore[index]
