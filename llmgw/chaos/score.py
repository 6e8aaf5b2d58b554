"""Scoring a drill (pure): call results + fault timeline + breaker log -> scorecard and verdicts.

A call *succeeds* when it answered 200 and ended properly (a stream: a finish_reason, then
``[DONE]``). A 200 stream that stopped without that and without an in-band error event is a
*truncated success*: the worst outcome, a short answer that looks whole.

Failover and recovery are measured per fault on a deployment that served calls before the fault
began (the primary): *failover* is fault start -> first success (by completion time) from a
call started after it and served by another deployment; *recover* is fault end -> first success
served by the faulted deployment again, from calls started before the next fault on it. Faults on
``*`` hit every deployment and have neither. The ``recover_s`` SLO judges the last fault on each
deployment (earlier ones may rightly be followed by the next fault before traffic returns).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from llmgw.chaos.drill import Phase, Slo
from llmgw.chaos.score_calls import (
    CallResult,
    PhaseScore,
    Verdict,
    percentile,
    phase_of,
    phase_score,
)
from llmgw.chaos.score_tenants import TenantScore, tenant_scores, tenant_verdicts

__all__ = [
    "AuditCheck",
    "CallResult",
    "FaultScore",
    "FaultSpan",
    "PhaseScore",
    "Scorecard",
    "Transition",
    "Verdict",
    "build_scorecard",
    "check_audit",
    "fault_scores",
    "percentile",
    "phase_of",
    "phase_score",
    "verdicts",
]


@dataclass(slots=True, frozen=True)
class Transition:
    """A breaker state change, seconds since the run started."""

    at_s: float
    deployment: str
    from_state: str
    to_state: str
    reason: str = ""


@dataclass(slots=True, frozen=True)
class FaultSpan:
    """A fault as applied: ``deployment`` is ``provider/model``, ``provider/*`` or ``*``."""

    label: str
    deployment: str
    at_s: float
    end_s: float

    def hits(self, deployment: str | None) -> bool:
        if deployment is None:
            return False
        pattern = self.deployment
        if pattern in ("*", deployment):
            return True
        return pattern.endswith("/*") and deployment.startswith(pattern[:-1])


@dataclass(slots=True, frozen=True)
class FaultScore:
    label: str
    deployment: str
    at_s: float
    end_s: float
    primary: bool  # the deployment served calls before the fault
    failover_s: float | None
    recover_s: float | None
    last_on_target: bool


@dataclass(slots=True, frozen=True)
class AuditCheck:
    """The gateway's own record against what the client saw."""

    matched: int = 0
    missing: tuple[str, ...] = ()  # request ids the client saw, absent from the audit log
    duplicated: tuple[str, ...] = ()  # ids recorded more than once
    failed_charged: tuple[str, ...] = ()  # failed calls with a cost
    token_mismatch: tuple[str, ...] = ()  # successes billed other output tokens than received
    billed_output_tokens: int = 0
    received_output_tokens: int = 0

    @property
    def double_charges(self) -> int:
        over = len(self.duplicated) + len(self.failed_charged)
        return over + len(self.token_mismatch)


@dataclass(slots=True, frozen=True)
class Scorecard:
    phases: tuple[PhaseScore, ...]
    overall: PhaseScore
    faults: tuple[FaultScore, ...]
    transitions: tuple[Transition, ...]
    verdicts: tuple[Verdict, ...]
    audit: AuditCheck | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    tenants: tuple[TenantScore, ...] = ()  # rows per [[load.tenants]] entry

    @property
    def passed(self) -> bool:
        return all(v.passed is not False for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["passed"] = self.passed
        if self.audit is not None:
            out["audit"]["double_charges"] = self.audit.double_charges
        return out


def fault_scores(spans: Sequence[FaultSpan], calls: Sequence[CallResult]) -> tuple[FaultScore, ...]:
    """Failover and recovery for each fault (see the module docstring)."""
    ok = [c for c in calls if c.ok]
    out: list[FaultScore] = []
    for span in spans:
        later = [s.at_s for s in spans if s.deployment == span.deployment and s.at_s > span.at_s]
        next_at = min(later, default=math.inf)
        primary = span.deployment != "*" and any(
            c.start_s < span.at_s and span.hits(c.deployment) for c in ok
        )
        failover = recover = None
        if primary:
            moved = [c.end_s for c in ok if c.start_s >= span.at_s and not span.hits(c.deployment)]
            back = [
                c.end_s for c in ok if span.end_s <= c.start_s < next_at and span.hits(c.deployment)
            ]
            failover = min(moved) - span.at_s if moved else None
            recover = min(back) - span.end_s if back else None
        out.append(
            FaultScore(
                span.label,
                span.deployment,
                span.at_s,
                span.end_s,
                primary,
                failover,
                recover,
                last_on_target=not later,
            )
        )
    return tuple(out)


def check_audit(calls: Sequence[CallResult], rows: Iterable[dict[str, Any]]) -> AuditCheck:
    """Each client-seen request id recorded once; failures free; successes billed as received.

    ``rows`` are audit-log rows with at least ``id``, ``cost_nanos`` and ``output_tokens``.
    """
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_id.setdefault(str(row["id"]), []).append(row)
    missing: list[str] = []
    duplicated: list[str] = []
    failed_charged: list[str] = []
    mismatch: list[str] = []
    matched = billed = received = 0
    for call in calls:
        rid = call.request_id
        if rid is None:
            continue
        found = by_id.get(rid)
        if not found:
            missing.append(rid)
            continue
        matched += 1
        if len(found) > 1:
            duplicated.append(rid)
        cost = sum(int(r.get("cost_nanos") or 0) for r in found)
        tokens = sum(int(r.get("output_tokens") or 0) for r in found)
        if call.ok:
            billed += tokens
            received += call.output_tokens
            if tokens != call.output_tokens:
                mismatch.append(rid)
        elif cost > 0:
            failed_charged.append(rid)
    return AuditCheck(
        matched=matched,
        missing=tuple(missing),
        duplicated=tuple(duplicated),
        failed_charged=tuple(failed_charged),
        token_mismatch=tuple(mismatch),
        billed_output_tokens=billed,
        received_output_tokens=received,
    )


def verdicts(
    slo: Slo, overall: PhaseScore, faults: Sequence[FaultScore], audit: AuditCheck | None
) -> tuple[Verdict, ...]:
    """One verdict per SLO set in the drill (truncated and double charges always judged)."""
    out: list[Verdict] = []
    if slo.success_rate is not None:
        rate = overall.success_rate
        out.append(
            Verdict(
                "success_rate",
                slo.success_rate,
                rate,
                None if rate is None else rate >= slo.success_rate,
                "" if rate is not None else "no calls were sent",
            )
        )
    if slo.p99_ms is not None:
        p99 = overall.p99_ms
        passed = None if p99 is None else p99 <= slo.p99_ms
        out.append(Verdict("p99_ms", slo.p99_ms, p99, passed, "" if p99 else "no successes"))
    if slo.failover_s is not None:
        out.append(_time_verdict("failover_s", slo.failover_s, [f for f in faults if f.primary]))
    if slo.recover_s is not None:
        judged = [f for f in faults if f.primary and f.last_on_target]
        out.append(_time_verdict("recover_s", slo.recover_s, judged))
    out.append(
        Verdict(
            "truncated_successes",
            slo.truncated_successes,
            overall.truncated,
            overall.truncated <= slo.truncated_successes,
        )
    )
    if audit is None:
        out.append(
            Verdict("double_charges", slo.double_charges, None, None, "no audit log to read")
        )
    else:
        count = audit.double_charges
        out.append(
            Verdict("double_charges", slo.double_charges, count, count <= slo.double_charges)
        )
    return tuple(out)


def _time_verdict(name: str, target: float, faults: Sequence[FaultScore]) -> Verdict:
    if not faults:
        return Verdict(name, target, None, None, "no fault hit a deployment that was serving")
    values = [getattr(f, name) for f in faults]
    if any(v is None for v in values):
        return Verdict(name, target, None, False, "never happened for at least one fault")
    worst = max(values)
    return Verdict(name, target, worst, worst <= target)


def build_scorecard(
    phases: Sequence[Phase],
    calls: Sequence[CallResult],
    spans: Sequence[FaultSpan],
    transitions: Sequence[Transition],
    slo: Slo,
    audit: AuditCheck | None = None,
    notes: Sequence[str] = (),
    tenants: Sequence[str] = (),
) -> Scorecard:
    """The whole scorecard: per phase, overall, per fault, per tenant (``tenants`` names the
    rows: call labels), SLO verdicts."""
    per_phase = tuple(
        phase_score(p.name, p.from_s, p.to_s, [c for c in calls if c.phase == p.name])
        for p in phases
    )
    end = max((p.to_s for p in phases), default=0.0)
    overall = phase_score("overall", 0.0, end, calls)
    faults = fault_scores(spans, calls)
    rows = tenant_scores(tenants, phases, calls)
    return Scorecard(
        phases=per_phase,
        overall=overall,
        faults=faults,
        transitions=tuple(sorted(transitions, key=lambda t: t.at_s)),
        verdicts=verdicts(slo, overall, faults, audit) + tenant_verdicts(slo, phases, rows),
        audit=audit,
        notes=tuple(notes),
        tenants=rows,
    )
