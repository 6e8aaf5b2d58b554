"""Circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgw.errors import ERROR_CLASSES
from llmgw.routing.breaker import (
    NON_TRIPPING,
    TRIPPING,
    BreakerBoard,
    CircuitBreaker,
    Transition,
)
from llmgw.routing.clock import FakeClock
from llmgw.settings.schema import BreakerConfig

DEP = "openai/gpt-4o"


def make(
    clock: FakeClock | None = None, **overrides: object
) -> tuple[CircuitBreaker, FakeClock, list[Transition]]:
    clock = clock or FakeClock()
    events: list[Transition] = []
    cfg = BreakerConfig(**overrides)  # type: ignore[arg-type]
    return CircuitBreaker(DEP, cfg, clock, events.append), clock, events


def fail(b: CircuitBreaker, n: int = 1, cls: str = "server_error") -> None:
    for _ in range(n):
        assert b.allow()
        b.record_failure(cls, 0.1)


def succeed(b: CircuitBreaker, n: int = 1, latency: float = 0.1) -> None:
    for _ in range(n):
        assert b.allow()
        b.record_success(latency)


def trip(b: CircuitBreaker) -> None:
    fail(b, b.config.consecutive_failures)
    assert b.state == "open"


def test_starts_closed_and_allows() -> None:
    b, _, events = make()
    assert b.state == "closed"
    assert b.allow()
    assert b.retry_after() == 0.0
    assert events == []


def test_trips_on_failure_rate_once_min_calls_reached() -> None:
    b, _, events = make(min_calls=10, failure_rate=0.5, consecutive_failures=100)
    # alternate: never 2 failures in a row, share 50% once 10 calls are in
    for _ in range(4):
        succeed(b)
        fail(b)
    succeed(b)
    assert b.state == "closed"  # 9 calls, below min_calls
    fail(b)  # 10 calls, 5 failures
    assert b.state == "open"
    assert events[-1].from_state == "closed" and events[-1].to_state == "open"
    assert events[-1].reason == "failure_rate 0.50 over 10 calls"
    assert not b.allow()


def test_no_trip_below_min_calls_even_if_all_fail() -> None:
    b, _, _ = make(min_calls=10, failure_rate=0.5, consecutive_failures=100)
    fail(b, 9)
    assert b.state == "closed"


def test_no_trip_when_rate_below_threshold() -> None:
    b, _, _ = make(min_calls=10, failure_rate=0.5, consecutive_failures=100)
    for _ in range(10):
        succeed(b, 2)
        fail(b)
    assert b.state == "closed"
    assert b.stats()["failure_rate"] == pytest.approx(1 / 3)


def test_old_calls_leave_the_window() -> None:
    b, clock, _ = make(min_calls=4, failure_rate=0.5, consecutive_failures=100, window_s=10)
    fail(b, 3)
    clock.advance(11)  # those failures are gone
    succeed(b, 2)
    fail(b)
    assert b.stats()["calls"] == 3
    assert b.state == "closed"


def test_trips_on_consecutive_failures() -> None:
    b, _, events = make(consecutive_failures=3, min_calls=100)
    fail(b, 2)
    succeed(b)  # resets the streak
    fail(b, 2)
    assert b.state == "closed"
    fail(b)
    assert b.state == "open"
    assert events[-1].reason == "3 consecutive failures"
    assert b.stats()["trips"] == 1


def test_slow_successes_count_as_failures() -> None:
    b, _, _ = make(slow_call_s=2.0, consecutive_failures=3, min_calls=100)
    succeed(b, 2, latency=2.5)
    succeed(b, 1, latency=1.0)  # fast: streak reset
    succeed(b, 2, latency=2.5)
    assert b.state == "closed"
    succeed(b, 1, latency=3.0)
    assert b.state == "open"


def test_slow_calls_ignored_when_unset() -> None:
    b, _, _ = make(consecutive_failures=2)
    succeed(b, 5, latency=1000.0)
    assert b.state == "closed"


@pytest.mark.parametrize("cls", sorted(NON_TRIPPING))
def test_non_tripping_classes_count_as_success(cls: str) -> None:
    b, _, _ = make(consecutive_failures=2, min_calls=2)
    fail(b, 10, cls=cls)
    assert b.state == "closed"
    assert b.stats()["failures"] == 0


def test_auth_trips_and_classes_are_partitioned() -> None:
    assert "auth" in TRIPPING
    assert set(ERROR_CLASSES) == TRIPPING | NON_TRIPPING
    b, _, _ = make(consecutive_failures=2)
    fail(b, 2, cls="auth")
    assert b.state == "open"


def test_unknown_class_counts_as_failure() -> None:
    b, _, _ = make(consecutive_failures=2)
    fail(b, 2, cls="something_new")
    assert b.state == "open"


def test_open_goes_half_open_after_cooldown() -> None:
    b, clock, events = make(open_s=5.0)
    trip(b)
    clock.advance(2.0)
    assert b.retry_after() == pytest.approx(3.0)
    assert not b.allow()
    clock.advance(3.0)
    assert b.retry_after() == 0.0
    assert b.state == "half_open"
    assert events[-1].reason == "cool-down over"


def test_half_open_admits_limited_probes() -> None:
    b, clock, _ = make(open_s=5.0, half_open_probes=2)
    trip(b)
    clock.advance(5.0)
    assert b.allow()
    assert b.allow()
    assert not b.allow()  # both slots taken
    b.release()  # one probe never went out
    assert b.allow()
    assert not b.allow()


def test_probes_succeeding_close_the_breaker() -> None:
    b, clock, events = make(open_s=5.0, half_open_probes=2)
    trip(b)
    clock.advance(5.0)
    assert b.allow() and b.allow()
    b.record_success(0.1)
    assert b.state == "half_open"
    assert not b.allow()  # one in flight, one done: no new slot
    b.record_success(0.1)
    assert b.state == "closed"
    assert events[-1].reason == "probes succeeded"
    assert b.stats()["calls"] == 0  # fresh window after closing
    assert b.allow()


def test_probe_failure_reopens_and_doubles_cooldown_up_to_max() -> None:
    b, clock, events = make(open_s=5.0, max_open_s=30.0, half_open_probes=1)
    trip(b)
    expected = [10.0, 20.0, 30.0, 30.0]
    for cooldown in expected:
        clock.advance(b.retry_after())
        assert b.allow()
        b.record_failure("timeout", 1.0)
        assert b.state == "open"
        assert events[-1].reason == "probe failed"
        assert b.retry_after() == pytest.approx(cooldown)
    assert b.stats()["trips"] == 1 + len(expected)


def test_slow_probe_reopens() -> None:
    b, clock, _ = make(open_s=5.0, half_open_probes=1, slow_call_s=1.0)
    trip(b)
    clock.advance(5.0)
    assert b.allow()
    b.record_success(5.0)
    assert b.state == "open"


def test_cooldown_resets_after_a_calm_window() -> None:
    b, clock, _ = make(open_s=5.0, max_open_s=60.0, half_open_probes=1, window_s=30.0)

    def recover() -> None:
        clock.advance(b.retry_after())
        assert b.allow()
        b.record_success(0.1)
        assert b.state == "closed"

    trip(b)
    clock.advance(5.0)
    assert b.allow()
    b.record_failure("timeout")  # cool-down now 10
    recover()
    clock.advance(10.0)  # closed, but not for a full window yet
    trip(b)
    assert b.retry_after() == pytest.approx(10.0)  # still elevated
    recover()
    clock.advance(30.0)  # a full calm window
    trip(b)
    assert b.retry_after() == pytest.approx(5.0)


def test_late_results_from_before_the_trip_change_nothing() -> None:
    b, clock, _ = make(open_s=5.0, half_open_probes=1)
    assert b.allow()  # admitted while closed, answers late
    trip(b)
    b.record_success(0.1)
    assert b.state == "open"
    clock.advance(5.0)
    assert b.state == "half_open"
    b.record_failure("timeout")  # no probe out: a stale result
    assert b.state == "half_open"
    assert b.allow()


def test_force_open_and_clear() -> None:
    b, clock, events = make(open_s=5.0)
    b.force("open")
    assert b.state == "open"
    assert b.forced == "open"
    assert not b.allow()
    clock.advance(10_000)
    assert b.state == "open"  # no cool-down while forced
    assert not b.allow()
    assert events[-1] == Transition(DEP, clock.wall() - 10_000, "closed", "open", "forced")
    b.force(None)
    assert b.state == "closed"
    assert b.forced is None
    assert b.allow()
    assert events[-1].reason == "forced"
    assert b.stats()["trips"] == 0


def test_force_closed_never_trips_but_keeps_stats() -> None:
    b, _, events = make(consecutive_failures=2)
    trip(b)
    b.force("closed")
    assert b.state == "closed"
    assert events[-1].from_state == "open" and events[-1].reason == "forced"
    for _ in range(50):
        assert b.allow()
        b.record_failure("server_error")
    assert b.state == "closed"
    stats = b.stats()
    assert stats["failures"] == 50 and stats["consecutive_failures"] == 50
    b.force(None)
    fail(b)  # the streak is real: the next failure trips
    assert b.state == "open"


def test_force_rejects_unknown_state() -> None:
    b, _, _ = make()
    with pytest.raises(ValueError):
        b.force("half_open")  # type: ignore[arg-type]


def test_stats_keeps_last_20_transitions() -> None:
    b, _, _ = make()
    for _ in range(15):
        b.force("open")
        b.force(None)
    transitions = b.stats()["transitions"]
    assert len(transitions) == 20
    json.dumps(b.stats())


def test_hook_errors_do_not_break_the_breaker() -> None:
    def boom(_: Transition) -> None:
        raise RuntimeError("hook")

    b = CircuitBreaker(DEP, BreakerConfig(consecutive_failures=1), FakeClock(), boom)
    fail(b)
    assert b.state == "open"


def test_snapshot_restore_across_restart_keeps_open_for_remaining_cooldown() -> None:
    b, clock, _ = make(open_s=5.0, half_open_probes=1)
    trip(b)
    clock.advance(5.0)
    assert b.allow()
    b.record_failure("timeout")  # cool-down 10, opened now
    clock.advance(4.0)
    snap = json.loads(json.dumps(b.snapshot()))
    assert snap["state"] == "open" and snap["cooldown_s"] == 10.0

    # new process: monotonic restarts elsewhere, wall time moved on 1 s
    later = FakeClock(start=3.0, wall_start=clock.wall() + 1.0)
    b2, _, _ = make(later, open_s=5.0, half_open_probes=1)
    b2.restore(snap)
    assert b2.state == "open"
    assert not b2.allow()
    assert b2.retry_after() == pytest.approx(5.0)
    later.advance(5.0)
    assert b2.state == "half_open"
    assert b2.allow()
    b2.record_failure("timeout")
    assert b2.retry_after() == pytest.approx(20.0)  # the escalation survived


def test_restore_after_cooldown_elapsed_is_half_open() -> None:
    b, clock, _ = make(open_s=5.0)
    trip(b)
    snap = b.snapshot()
    later = FakeClock(start=0.0, wall_start=clock.wall() + 60.0)
    b2, _, _ = make(later, open_s=5.0)
    b2.restore(snap)
    assert b2.state == "half_open"


def test_forced_state_survives_restart() -> None:
    b, clock, _ = make()
    b.force("open")
    later = FakeClock(start=0.0, wall_start=clock.wall() + 3600.0)
    b2, _, _ = make(later)
    b2.restore(b.snapshot())
    assert b2.forced == "open"
    assert not b2.allow()


@pytest.mark.parametrize(
    "snap",
    [{}, {"state": "weird"}, {"state": "open"}, {"state": "closed", "cooldown_s": "x"}],
)
def test_restore_rejects_malformed_snapshots(snap: dict[str, object]) -> None:
    b, _, _ = make()
    with pytest.raises(ValueError):
        b.restore(snap)
    assert b.state == "closed"


def test_board_creates_per_deployment_and_round_trips() -> None:
    clock = FakeClock()
    events: list[Transition] = []
    board = BreakerBoard(BreakerConfig(consecutive_failures=1), clock, events.append)
    a = board.get("a/m")
    assert board.get("a/m") is a
    assert "a/m" in board and "b/m" not in board
    fail(board.get("b/m"))
    assert set(board.all()) == {"a/m", "b/m"}
    assert [e.deployment_id for e in events] == ["b/m"]
    snaps = board.snapshot_all()

    board2 = BreakerBoard(BreakerConfig(consecutive_failures=1), FakeClock())
    skipped = board2.restore_all({**snaps, "bad/m": {"state": "nope"}})
    assert skipped == ["bad/m"]
    assert board2.get("b/m").state == "open"
    assert board2.get("a/m").state == "closed"


OPS = st.one_of(
    st.tuples(st.just("allow")),
    st.tuples(st.just("ok"), st.floats(0, 10)),
    st.tuples(st.just("fail"), st.sampled_from([*ERROR_CLASSES, "other"]), st.floats(0, 10)),
    st.tuples(st.just("release")),
    st.tuples(st.just("advance"), st.floats(0, 40)),
    st.tuples(st.just("force"), st.sampled_from(["open", "closed", None])),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(OPS, max_size=80), probes=st.integers(1, 3))
def test_property_never_admits_while_open(ops: list[tuple[object, ...]], probes: int) -> None:
    b, clock, _ = make(
        consecutive_failures=3,
        min_calls=4,
        window_s=20.0,
        open_s=5.0,
        max_open_s=40.0,
        half_open_probes=probes,
        slow_call_s=5.0,
    )
    for op in ops:
        kind = op[0]
        if kind == "allow":
            state = b.state
            allowed = b.allow()
            if state == "open" and b.forced != "closed":
                assert not allowed
        elif kind == "ok":
            b.record_success(op[1])  # type: ignore[arg-type]
        elif kind == "fail":
            b.record_failure(op[1], op[2])  # type: ignore[arg-type]
        elif kind == "release":
            b.release()
        elif kind == "advance":
            clock.advance(op[1])  # type: ignore[arg-type]
        else:
            b.force(op[1])  # type: ignore[arg-type]
        state = b.state
        if state == "open" and b.forced != "closed":
            assert not b.allow()
            assert b.retry_after() > 0
        assert b.stats()["half_open_probes_out"] <= probes


def test_a_probe_that_never_comes_back_frees_its_slot_after_probe_timeout() -> None:
    from llmgw.routing.circuit_breaker import CircuitBreaker

    clock = FakeClock()
    cfg = BreakerConfig(consecutive_failures=1, open_s=1.0, half_open_probes=1, probe_timeout_s=5)
    breaker = CircuitBreaker("d", cfg, clock)
    assert breaker.allow()
    breaker.record_failure("server_error")
    assert breaker.state == "open"
    clock.advance(1.5)
    assert breaker.allow()  # the one probe goes out ... and never returns
    assert not breaker.allow()
    clock.advance(4.0)
    assert not breaker.allow()  # still within the probe timeout
    clock.advance(1.5)
    assert breaker.allow()  # the stuck probe expired: another call may probe
    assert breaker.stats()["half_open_probes_out"] == 1
    breaker.record_success(0.1)
    assert breaker.state == "closed"
