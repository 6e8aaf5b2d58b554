"""The counters behind the live figures of a tenant node or a deployment, and the figures read
from them: one definition for the gateway's live state and for the state-file reader.

A ``TenantLive`` counts requests, tokens, rejections and errors per second over the last
``WINDOW_S`` seconds, spend per minute over the last ``BURN_MINUTES`` minutes, and spend today
and this month (UTC). A ``DeploymentLive`` counts upstream attempts and failed ones per second,
and keeps rings of the last ``LATENCY_RING`` latencies and times to first token of successful
calls. ``tenant_figures`` and ``deployment_figures`` turn them into what the operator views show.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmgw.audit.record import AuditRecord
from llmgw.limits.ledger import CACHE_PROVIDER
from llmgw.ops.live_tail import CallLine
from llmgw.ops.live_windows import Buckets, percentile
from llmgw.types import Outcome

WINDOW_S = 60  # the "per minute" window: 60 one-second buckets
BURN_MINUTES = 60  # spend per minute kept for the burn rate (last hour)
SPARK_MINUTES = 30  # the sparkline: spend per minute over the last 30 minutes
LATENCY_RING = 1024  # latencies / TTFTs kept per deployment
TENANT_ERRORS = 20  # recent failed calls kept per tenant node
FAILED: frozenset[Outcome] = frozenset({"error", "rejected", "degraded"})
# fields of a tenant's per-second bucket
REQUESTS, TOKENS, REJECTIONS, ERRORS = 0, 1, 2, 3
# fields of a deployment's per-second bucket
CALLS, CALL_ERRORS = 0, 1


class TenantLive:
    """Live counters of one tenant node."""

    __slots__ = ("errors", "minutes", "month", "seconds", "today")

    def __init__(self) -> None:
        self.seconds = Buckets(WINDOW_S, 1.0, 4)
        self.minutes = Buckets(BURN_MINUTES, 60.0, 1)
        self.today = 0  # nanos
        self.month = 0  # nanos
        self.errors: deque[CallLine] = deque(maxlen=TENANT_ERRORS)  # never a body


class DeploymentLive:
    """Live counters of one deployment."""

    __slots__ = ("latency_ms", "seconds", "ttft_ms")

    def __init__(self) -> None:
        self.seconds = Buckets(WINDOW_S, 1.0, 2)
        self.latency_ms: deque[float] = deque(maxlen=LATENCY_RING)
        self.ttft_ms: deque[float] = deque(maxlen=LATENCY_RING)


def spend_of(rec: AuditRecord) -> int:
    """What a call spent: its cost, except for a cache hit (whose cost is what it saved)."""
    return 0 if rec.provider == CACHE_PROVIDER and rec.outcome == "ok" else rec.cost_nanos


def timed_deployment(rec: AuditRecord) -> str | None:
    """The deployment whose latency rings take this call's times (a successful upstream
    call's), or None."""
    if rec.outcome == "ok" and rec.provider and rec.provider != CACHE_PROVIDER:
        return f"{rec.provider}/{rec.served_model}"
    return None


def feed_deployments(
    rec: AuditRecord, at: float, deployment: Callable[[str], DeploymentLive]
) -> None:
    """Count ``rec``'s attempts on their deployments at time ``at``, and keep a successful
    upstream call's latency and time to first token (the live state and the state-file views
    count calls the same way through this)."""
    for attempt in rec.attempt_log:
        dep = deployment(f"{attempt.get('provider')}/{attempt.get('model')}")
        dep.seconds.add(at, (1, int(attempt.get("error_class") is not None)))
    timed = timed_deployment(rec)
    if timed is not None:
        dep = deployment(timed)
        dep.latency_ms.append(rec.latency_ms)
        if rec.ttft_ms is not None:
            dep.ttft_ms.append(rec.ttft_ms)


@dataclass(frozen=True, slots=True)
class TenantFigures:
    """What the operator views show of one tenant node (its whole subtree). Money in nanos."""

    tenant: str
    requests_per_min: int
    tokens_per_min: int
    rejections_per_min: int
    errors_per_min: int
    spend_today_nanos: int
    spend_month_nanos: int
    burn_per_hour_nanos: int  # spent over the last hour
    spark: list[int]  # spend per minute over the last SPARK_MINUTES minutes, oldest first

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "requests_per_min": self.requests_per_min,
            "tokens_per_min": self.tokens_per_min,
            "rejections_per_min": self.rejections_per_min,
            "errors_per_min": self.errors_per_min,
            "spend_today_nanos": self.spend_today_nanos,
            "spend_month_nanos": self.spend_month_nanos,
            "burn_per_hour_nanos": self.burn_per_hour_nanos,
            "spark": list(self.spark),
        }


@dataclass(frozen=True, slots=True)
class DeploymentFigures:
    """What the operator views show of one deployment's recent calls."""

    error_rate: float  # failed upstream attempts / attempts, last minute
    calls_per_min: int  # upstream attempts, last minute
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "calls_per_min": self.calls_per_min,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "ttft_p50_ms": self.ttft_p50_ms,
            "ttft_p99_ms": self.ttft_p99_ms,
        }


def tenant_figures(
    node: str, t: TenantLive, now: float, *, today_valid: bool = True, month_valid: bool = True
) -> TenantFigures:
    """The figures of ``node`` at ``now``; ``today_valid`` / ``month_valid`` False when the day
    (month) its spend was counted in is over (the spend is then 0)."""
    requests, tokens, rejections, errors = t.seconds.totals(now)
    return TenantFigures(
        tenant=node,
        requests_per_min=requests,
        tokens_per_min=tokens,
        rejections_per_min=rejections,
        errors_per_min=errors,
        spend_today_nanos=t.today if today_valid else 0,
        spend_month_nanos=t.month if month_valid else 0,
        burn_per_hour_nanos=sum(t.minutes.totals(now)),
        spark=t.minutes.series(now, SPARK_MINUTES),
    )


def deployment_figures(d: DeploymentLive, now: float) -> DeploymentFigures:
    """The figures of one deployment at ``now``."""
    calls, errors = d.seconds.totals(now)
    return DeploymentFigures(
        error_rate=round(errors / calls, 4) if calls else 0.0,
        calls_per_min=calls,
        latency_p50_ms=percentile(d.latency_ms, 0.50),
        latency_p99_ms=percentile(d.latency_ms, 0.99),
        ttft_p50_ms=percentile(d.ttft_ms, 0.50),
        ttft_p99_ms=percentile(d.ttft_ms, 0.99),
    )
