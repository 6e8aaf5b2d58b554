"""Scoring building blocks (pure): one call as the client saw it, a set of calls scored, a verdict.

``CallResult`` is what the load generator records per call; ``phase_score`` scores any set of
calls (a phase, a whole run, one tenant's calls) into a ``PhaseScore``: sent, succeeded,
truncated, errors by class, deployments that served, latency and time-to-first-token
percentiles (nearest rank). ``Verdict`` is the result of one SLO check. The whole-run scorecard
(``llmgw.chaos.score``) and the per-tenant rows (``llmgw.chaos.score_tenants``) build on these.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from llmgw.chaos.drill import Phase


@dataclass(slots=True, frozen=True)
class CallResult:
    """What one call saw, from the client's side. Times are seconds since the run started."""

    start_s: float
    tenant: str
    stream: bool
    status: int  # 0: no HTTP answer at all
    latency_ms: float
    ttft_ms: float | None = None
    deployment: str | None = None  # "provider/model" from the x-llmgw-* headers
    error_class: str | None = None
    ended_ok: bool = False  # a stream ended with finish_reason + [DONE]; a plain answer parsed
    request_id: str | None = None
    output_tokens: int = 0  # as received (usage the client got)
    attempts: int | None = None
    phase: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.ended_ok and self.error_class is None

    @property
    def truncated(self) -> bool:
        return self.status == 200 and self.stream and not self.ended_ok and not self.error_class

    @property
    def end_s(self) -> float:
        return self.start_s + self.latency_ms / 1000.0


@dataclass(slots=True, frozen=True)
class PhaseScore:
    name: str
    from_s: float
    to_s: float
    sent: int
    ok: int
    success_rate: float | None
    truncated: int
    errors: dict[str, int]
    served: dict[str, int]
    p50_ms: float | None
    p99_ms: float | None
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None


@dataclass(slots=True, frozen=True)
class Verdict:
    name: str
    target: float
    actual: float | None
    passed: bool | None  # None: could not be judged (the note says why)
    note: str = ""


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile (``pct`` 0..100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def phase_of(phases: Sequence[Phase], t: float) -> str:
    """The first phase holding time ``t`` ([from, to)), else the last one that began before."""
    for phase in phases:
        if phase.from_s <= t < phase.to_s:
            return phase.name
    started = [p for p in phases if p.from_s <= t]
    return started[-1].name if started else (phases[0].name if phases else "")


def phase_score(name: str, from_s: float, to_s: float, calls: Sequence[CallResult]) -> PhaseScore:
    ok = [c for c in calls if c.ok]
    errors = Counter(c.error_class or "truncated" for c in calls if not c.ok)
    ttfts = [c.ttft_ms for c in ok if c.ttft_ms is not None]
    latencies = [c.latency_ms for c in ok]
    return PhaseScore(
        name=name,
        from_s=from_s,
        to_s=to_s,
        sent=len(calls),
        ok=len(ok),
        success_rate=len(ok) / len(calls) if calls else None,
        truncated=sum(1 for c in calls if c.truncated),
        errors=dict(errors.most_common()),
        served=dict(Counter(c.deployment for c in ok if c.deployment).most_common()),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        ttft_p50_ms=percentile(ttfts, 50),
        ttft_p99_ms=percentile(ttfts, 99),
    )
