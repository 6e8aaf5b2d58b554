"""Per-tenant scoring (pure): one row per tenant and phase, and the ``[[slo.tenants]]`` verdicts.

A *rate-limited* answer is HTTP 429. A *timeout* is a call that never answered within the
client's timeout, or a gateway answer of 408/504 or an error class naming a timeout: the noisy
neighbour drill wants a flooding tenant told "429, slow down" quickly, never left to time out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmgw.chaos.drill import Phase, Slo, TenantSlo
from llmgw.chaos.score_calls import CallResult, PhaseScore, Verdict, phase_score

TIMEOUT_STATUSES = (408, 504)


@dataclass(slots=True, frozen=True)
class TenantScore:
    """One tenant: its phases, its whole run, and its 429 and timeout counts."""

    name: str
    phases: tuple[PhaseScore, ...]
    overall: PhaseScore
    rate_limited: int
    timeouts: int


def is_timeout(call: CallResult) -> bool:
    if call.status in TIMEOUT_STATUSES:
        return True
    return call.error_class is not None and "timeout" in call.error_class


def tenant_scores(
    names: Sequence[str], phases: Sequence[Phase], calls: Sequence[CallResult]
) -> tuple[TenantScore, ...]:
    out: list[TenantScore] = []
    end = max((p.to_s for p in phases), default=0.0)
    for name in names:
        mine = [c for c in calls if c.tenant == name]
        rows = tuple(
            phase_score(p.name, p.from_s, p.to_s, [c for c in mine if c.phase == p.name])
            for p in phases
        )
        out.append(
            TenantScore(
                name=name,
                phases=rows,
                overall=phase_score("overall", 0.0, end, mine),
                rate_limited=sum(1 for c in mine if c.status == 429),
                timeouts=sum(1 for c in mine if is_timeout(c)),
            )
        )
    return tuple(out)


def tenant_verdicts(
    slo: Slo, phases: Sequence[Phase], scores: Sequence[TenantScore]
) -> tuple[Verdict, ...]:
    """One verdict per key set in each ``[[slo.tenants]]`` entry, named ``<tenant>.<key>``."""
    by_name = {s.name: s for s in scores}
    baseline = slo.baseline_phase or (phases[0].name if phases else "")
    out: list[Verdict] = []
    for want in slo.tenants:
        score = by_name.get(want.name)
        if score is None:
            continue
        out.extend(_one(want, score, baseline))
    return tuple(out)


def _one(want: TenantSlo, score: TenantScore, baseline: str) -> list[Verdict]:
    name = want.name
    out: list[Verdict] = []
    if want.success_rate is not None:
        rate = score.overall.success_rate
        passed = None if rate is None else rate >= want.success_rate
        note = "" if rate is not None else "no calls were sent"
        out.append(Verdict(f"{name}.success_rate", want.success_rate, rate, passed, note))
    if want.p99_ms is not None:
        p99 = score.overall.p99_ms
        passed = None if p99 is None else p99 <= want.p99_ms
        out.append(
            Verdict(f"{name}.p99_ms", want.p99_ms, p99, passed, "" if p99 else "no successes")
        )
    if want.p99_ms_ratio_to_baseline is not None:
        out.append(_ratio_verdict(want, score, baseline))
    if want.rate_limited_min is not None:
        got = score.rate_limited
        ok = got >= want.rate_limited_min
        out.append(Verdict(f"{name}.rate_limited_min", want.rate_limited_min, got, ok))
    if want.timeouts is not None:
        got = score.timeouts
        out.append(Verdict(f"{name}.timeouts", want.timeouts, got, got <= want.timeouts))
    return out


def _ratio_verdict(want: TenantSlo, score: TenantScore, baseline: str) -> Verdict:
    key = f"{want.name}.p99_ms_ratio_to_baseline"
    target = want.p99_ms_ratio_to_baseline or 0.0
    rows = {p.name: p for p in score.phases}
    base = rows.get(baseline)
    if base is None or not base.p99_ms:
        return Verdict(key, target, None, None, f"no successes in the baseline phase {baseline!r}")
    later = [p for p in score.phases if p.name != baseline and p.p99_ms is not None]
    if not later:
        return Verdict(key, target, None, None, "no successes after the baseline phase")
    worst = max(later, key=lambda p: p.p99_ms or 0.0)
    ratio = (worst.p99_ms or 0.0) / base.p99_ms
    note = f"{worst.name} {worst.p99_ms:.0f} ms vs {baseline} {base.p99_ms:.0f} ms"
    return Verdict(key, target, ratio, ratio <= target, note)
