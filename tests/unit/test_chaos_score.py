"""Scoring (pure): percentiles, truncation, failover/recover times, audit checks, SLO verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from llmgw.chaos.drill import Phase, Slo
from llmgw.chaos.load import _StreamSeen, error_class, read_event
from llmgw.chaos.score import (
    CallResult,
    FaultSpan,
    build_scorecard,
    check_audit,
    fault_scores,
    percentile,
    phase_of,
)

P, S = "primary/chat", "secondary/chat"
PHASES = (Phase("before", 0, 5), Phase("during", 5, 10), Phase("after", 10, 20))


def call(start: float, dep: str | None = P, ok: bool = True, **kw: Any) -> CallResult:
    fields: dict[str, Any] = {
        "start_s": start,
        "tenant": "t1",
        "stream": False,
        "status": 200 if ok else 503,
        "latency_ms": 100.0,
        "deployment": dep if ok else None,
        "ended_ok": ok,
        "error_class": None if ok else "overloaded",
        "phase": phase_of(PHASES, start),
    }
    fields.update(kw)
    return CallResult(**fields)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 99) is None
    assert percentile([5.0], 50) == 5.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(list(reversed(values)), 100) == 100.0


def test_phase_of() -> None:
    assert phase_of(PHASES, 0.0) == "before"
    assert phase_of(PHASES, 5.0) == "during"
    assert phase_of(PHASES, 25.0) == "after"  # a straggler past the end


def test_truncated_is_a_200_stream_without_done_or_error() -> None:
    clean = call(1, stream=True, ended_ok=True)
    cut = call(1, stream=True, ended_ok=False)
    errored = call(1, stream=True, ended_ok=False, error_class="overloaded")
    assert clean.ok and not clean.truncated
    assert cut.truncated and not cut.ok
    assert not errored.truncated and not errored.ok
    score = build_scorecard(PHASES, [clean, cut, errored], [], [], Slo())
    assert score.overall.truncated == 1
    assert score.overall.errors == {"truncated": 1, "overloaded": 1}
    verdict = {v.name: v for v in score.verdicts}["truncated_successes"]
    assert verdict.passed is False and not score.passed


def test_failover_and_recover_times() -> None:
    calls = [
        call(1.0),
        call(4.0),
        call(5.1, ok=False),
        call(5.3, S),  # ends 5.4: failover 0.4 s
        call(7.0, S),
        call(10.2, S),
        call(11.0),  # ends 11.1: recover 1.1 s
    ]
    (fs,) = fault_scores([FaultSpan("primary=outage", P, 5.0, 10.0)], calls)
    assert fs.primary and fs.last_on_target
    assert fs.failover_s == pytest.approx(0.4)
    assert fs.recover_s == pytest.approx(1.1)


def test_no_failover_when_never_moved_and_non_primary_is_not_judged() -> None:
    calls = [call(1.0), call(6.0, ok=False), call(12.0)]
    span = FaultSpan("f", P, 5.0, 10.0)
    (fs,) = fault_scores([span], calls)
    assert fs.failover_s is None and fs.recover_s == pytest.approx(2.1)
    (other,) = fault_scores([FaultSpan("f", S, 5.0, 10.0)], calls)
    assert not other.primary and other.failover_s is None
    (everything,) = fault_scores([FaultSpan("f", "*", 5.0, 10.0)], calls)
    assert not everything.primary
    card = build_scorecard(PHASES, calls, [span], [], Slo(failover_s=1.0, recover_s=5.0))
    verdicts = {v.name: v for v in card.verdicts}
    assert verdicts["failover_s"].passed is False
    assert verdicts["recover_s"].passed is True


def test_recover_only_counts_until_the_next_fault_on_that_deployment() -> None:
    spans = [FaultSpan("a", P, 2.0, 4.0), FaultSpan("b", P, 6.0, 8.0)]
    calls = [call(1.0), call(3.0, S), call(5.0, S), call(7.0, S), call(9.0)]
    first, second = fault_scores(spans, calls)
    assert first.recover_s is None and not first.last_on_target
    assert second.recover_s == pytest.approx(1.1) and second.last_on_target
    card = build_scorecard(PHASES, calls, spans, [], Slo(recover_s=2.0))
    assert {v.name: v.passed for v in card.verdicts}["recover_s"] is True


def test_provider_wildcard_span_matches() -> None:
    span = FaultSpan("f", "primary/*", 0, 1)
    assert span.hits("primary/chat") and not span.hits("secondary/chat") and not span.hits(None)


def test_phase_scores_and_slo_verdicts() -> None:
    calls = [call(1.0, latency_ms=50.0), call(2.0, latency_ms=150.0), call(6.0, ok=False)]
    calls.append(call(6.5, S, stream=True, ttft_ms=20.0, latency_ms=300.0))
    card = build_scorecard(PHASES, calls, [], [], Slo(success_rate=0.7, p99_ms=200.0))
    before, during, after = card.phases
    assert (before.sent, before.ok, before.success_rate) == (2, 2, 1.0)
    assert before.served == {P: 2} and before.p50_ms == 50.0
    assert (during.sent, during.ok, during.errors) == (2, 1, {"overloaded": 1})
    assert during.ttft_p99_ms == 20.0 and during.served == {S: 1}
    assert after.sent == 0 and after.success_rate is None
    assert card.overall.success_rate == 0.75
    verdicts = {v.name: v for v in card.verdicts}
    assert verdicts["success_rate"].passed is True
    assert verdicts["p99_ms"].passed is False and verdicts["p99_ms"].actual == 300.0
    assert verdicts["double_charges"].passed is None  # no audit log
    assert not card.passed
    assert card.to_dict()["passed"] is False


def test_audit_check_finds_double_charges() -> None:
    calls = [
        call(1.0, request_id="r1", output_tokens=8),
        call(2.0, ok=False, request_id="r2"),
        call(3.0, request_id="r3", output_tokens=8),
        call(4.0, request_id="r4", output_tokens=8),
        call(5.0, request_id=None),
    ]
    rows = [
        {"id": "r1", "cost_nanos": 10, "output_tokens": 8},
        {"id": "r2", "cost_nanos": 5, "output_tokens": 0},  # failed but charged
        {"id": "r3", "cost_nanos": 10, "output_tokens": 12},  # billed more than received
        {"id": "zz", "cost_nanos": 1, "output_tokens": 1},
    ]
    audit = check_audit(calls, rows)
    assert audit.matched == 3 and audit.missing == ("r4",)
    assert audit.failed_charged == ("r2",) and audit.token_mismatch == ("r3",)
    assert (audit.billed_output_tokens, audit.received_output_tokens) == (20, 16)
    assert audit.double_charges == 2
    dup = check_audit(calls[:1], rows[:1] * 2)
    assert dup.duplicated == ("r1",) and dup.double_charges == 2
    card = build_scorecard(PHASES, calls, [], [], Slo(), audit)
    assert {v.name: v.passed for v in card.verdicts}["double_charges"] is False
    assert card.to_dict()["audit"]["double_charges"] == 2


def test_stream_events_and_error_classes() -> None:
    seen = _StreamSeen()
    read_event(b'{"choices":[{"delta":{"role":"assistant"}}]}', seen, 1.0)
    read_event(b'{"choices":[{"delta":{"content":"hi"}}]}', seen, 12.0)
    read_event(b'{"choices":[{"delta":{},"finish_reason":"stop"}]}', seen, 13.0)
    read_event(b'{"choices":[],"usage":{"completion_tokens":7}}', seen, 13.0)
    read_event(b"[DONE]", seen, 14.0)
    assert (seen.ttft_ms, seen.finish, seen.done, seen.usage_tokens) == (12.0, True, True, 7)
    broken = _StreamSeen()
    read_event(b'{"error":{"code":"overloaded","message":"x"}}', broken, 5.0)
    assert broken.error == "overloaded" and not broken.done
    assert error_class(b'{"error":{"code":"rate_limited","type":"x"}}', 429) == "rate_limited"
    assert error_class(b'{"error":{"type":"server_error"}}', 500) == "server_error"
    assert error_class(b"oops", 502) == "http_502"
