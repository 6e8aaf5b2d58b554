"""Live operations state: what the gateway is doing right now, in memory, for the admin views.

``LiveState.observe(rec)`` is called on the event loop once per finished call with its
``AuditRecord``. It is O(1) and does no I/O: a handful of counter updates in fixed-size time
buckets, two bounded deques, and a non-blocking hand-off to each SSE subscriber.

Per tenant node (a path covers its subtree, as in the ledger: a call of ``acme/search`` also
counts for ``acme``): requests, tokens, rejections and errors per second over the last 60 s;
spend per minute over the last hour (burn rate, sparkline); spend today and this month (UTC),
seeded at ``start()`` from the ``audit_log`` with one grouped query per period.

Per deployment (``provider/model``): calls and errors per second over the last 60 s (from every
upstream attempt), and rings of the last ``LATENCY_RING`` latencies and times to first token of
successful calls (percentiles are computed on read).

Everything runs on the injected clock's ``wall()`` time, so tests move time by hand.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any

from llmgw.audit.record import AuditRecord
from llmgw.limits.ledger import CACHE_PROVIDER
from llmgw.limits.periods import period_end, period_start
from llmgw.ops.live_tail import SUBSCRIBER_QUEUE, Subscriber, call_summary
from llmgw.ops.live_windows import Buckets, percentile
from llmgw.ops.metrics import Metrics
from llmgw.routing.breaker import BreakerBoard
from llmgw.routing.clock import Clock, SystemClock
from llmgw.settings.schema import Settings
from llmgw.settings.tenancy import in_subtree, tenant_chain
from llmgw.types import Outcome

log = logging.getLogger("llmgw.gateway")

WINDOW_S = 60  # the "per minute" window: 60 one-second buckets
BURN_MINUTES = 60  # spend per minute kept for the burn rate (last hour)
SPARK_MINUTES = 30  # the sparkline: spend per minute over the last 30 minutes
LATENCY_RING = 1024  # latencies / TTFTs kept per deployment
TAIL_RING = 1000  # recent calls kept for the tail
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
        self.errors: deque[AuditRecord] = deque(maxlen=TENANT_ERRORS)


class DeploymentLive:
    """Live counters of one deployment."""

    __slots__ = ("latency_ms", "seconds", "ttft_ms")

    def __init__(self) -> None:
        self.seconds = Buckets(WINDOW_S, 1.0, 2)
        self.latency_ms: deque[float] = deque(maxlen=LATENCY_RING)
        self.ttft_ms: deque[float] = deque(maxlen=LATENCY_RING)


class LiveState:
    """In-memory live state of one gateway process.

    Build once with the settings, the state DB path (for seeding spend; None to skip) and the
    gateway's clock; pass ``breakers`` to export breaker states as metrics. ``start()`` seeds
    spend from the ledger in a thread; ``stop()`` ends every SSE stream.
    """

    def __init__(
        self,
        settings: Settings,
        state_path: Path | None = None,
        clock: Clock | None = None,
        breakers: BreakerBoard | None = None,
    ) -> None:
        self.settings = settings
        self.state_path = state_path
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.metrics = Metrics(settings, breakers)
        self.tenants: dict[str, TenantLive] = {}
        self.deployments: dict[str, DeploymentLive] = {}
        self.tail: deque[AuditRecord] = deque(maxlen=TAIL_RING)  # summarised when read
        self.subscribers: set[Subscriber] = set()
        self.cache = CacheStats()
        self._chains: dict[str, list[str]] = {}
        self._day_end = 0.0
        self._month_end = 0.0
        self._roll(self.clock.wall())

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Seed spend today / this month / per minute of the last hour from the ledger."""
        if self.state_path is None:
            return
        now = self.clock.wall()
        try:
            seeded = await asyncio.to_thread(seed_spend, self.state_path, now)
        except (sqlite3.Error, OSError) as exc:  # live views start at zero; calls still flow
            log.warning("live state: could not read spend from the ledger: %s", exc)
            return
        self.apply_seed(*seeded)

    async def stop(self) -> None:
        for sub in list(self.subscribers):
            sub.close()
        self.subscribers.clear()

    def apply_seed(
        self,
        today: dict[str, int],
        month: dict[str, int],
        minutes: dict[tuple[str, int], int],
    ) -> None:
        """Add ledger spend (by exact tenant path) to every node on each tenant's chain."""
        for tenant, nanos in today.items():
            for node in self._chain(tenant):
                self._tenant(node).today += nanos
        for tenant, nanos in month.items():
            for node in self._chain(tenant):
                self._tenant(node).month += nanos
        for (tenant, minute), nanos in minutes.items():
            for node in self._chain(tenant):
                self._tenant(node).minutes.row(minute * 60.0)[0] += nanos

    # -- the per-call hook -------------------------------------------------------------------

    def observe(self, rec: AuditRecord) -> None:
        """Count one finished call (on the event loop; O(1), no I/O)."""
        now = self.clock.wall()
        if now >= self._day_end:
            self._roll(now)
        self.tail.append(rec)  # records are immutable: summarised only when someone reads
        failed = rec.outcome in FAILED
        cost = 0 if rec.provider == CACHE_PROVIDER and rec.outcome == "ok" else rec.cost_nanos
        if rec.tenant:
            tokens = rec.input_tokens + rec.output_tokens
            rejected = rec.outcome == "rejected"
            errored = rec.outcome == "error"
            for node in self._chain(rec.tenant):
                t = self.tenants.get(node) or self._tenant(node)
                row = t.seconds.row(now)
                row[REQUESTS] += 1
                row[TOKENS] += tokens
                row[REJECTIONS] += rejected
                row[ERRORS] += errored
                if cost:
                    t.minutes.row(now)[0] += cost
                    t.today += cost
                    t.month += cost
                if failed:
                    t.errors.append(rec)
        for attempt in rec.attempt_log:
            dep = self._deployment(f"{attempt.get('provider')}/{attempt.get('model')}")
            row = dep.seconds.row(now)
            row[CALLS] += 1
            row[CALL_ERRORS] += attempt.get("error_class") is not None
        if rec.outcome == "ok" and rec.provider and rec.provider != CACHE_PROVIDER:
            dep = self._deployment(f"{rec.provider}/{rec.served_model}")
            dep.latency_ms.append(rec.latency_ms)
            if rec.ttft_ms is not None:
                dep.ttft_ms.append(rec.ttft_ms)
        self.metrics.observe(rec, cost)
        if self.subscribers:
            summary = call_summary(rec)
            for sub in self.subscribers:
                sub.offer(summary)

    # -- subscribers -------------------------------------------------------------------------

    def subscribe(self, tenant: str | None = None, size: int = SUBSCRIBER_QUEUE) -> Subscriber:
        """A new SSE subscriber for every call (or ``tenant``'s subtree only)."""
        sub = Subscriber(tenant, size)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    # -- the response cache's hooks ----------------------------------------------------------

    def cache_hit(self, tenant: str, kind: str, saved_nanos: int) -> None:
        """A call of ``tenant`` was answered from the cache (``kind``: exact or semantic)."""
        self.cache.enabled = True
        self.cache.hit(tenant, kind, saved_nanos)
        self.metrics.cache_hit(tenant, kind)

    def cache_miss(self, tenant: str) -> None:
        self.cache.enabled = True
        self.cache.miss(tenant)

    # -- reading -----------------------------------------------------------------------------

    def tenant_names(self) -> list[str]:
        """Nodes with traffic or spend, plus every tenant declared in the config."""
        return sorted(set(self.tenants) | set(self.settings.tenants))

    def tenant_view(self, node: str) -> dict[str, Any]:
        """The live figures of one tenant node (zeros when it has had no traffic)."""
        t = self.tenants.get(node) or TenantLive()
        now = self.clock.wall()
        requests, tokens, rejections, errors = t.seconds.totals(now)
        return {
            "tenant": node,
            "requests_per_min": requests,
            "tokens_per_min": tokens,
            "rejections_per_min": rejections,
            "errors_per_min": errors,
            "spend_today_nanos": t.today if now < self._day_end else 0,
            "spend_month_nanos": t.month if now < self._month_end else 0,
            "burn_per_hour_nanos": sum(t.minutes.totals(now)),
            "spark": t.minutes.series(now, SPARK_MINUTES),
        }

    def burn_per_hour(self, node: str) -> int:
        """Nanos spent by ``node``'s subtree over the last hour."""
        t = self.tenants.get(node)
        return sum(t.minutes.totals(self.clock.wall())) if t else 0

    def tenant_errors(self, node: str) -> list[dict[str, Any]]:
        """The node's last failed calls, newest first."""
        t = self.tenants.get(node)
        return [call_summary(r) for r in reversed(t.errors)] if t else []

    def deployment_view(self, dep_id: str) -> dict[str, Any]:
        d = self.deployments.get(dep_id) or DeploymentLive()
        calls, errors = d.seconds.totals(self.clock.wall())
        return {
            "error_rate": round(errors / calls, 4) if calls else 0.0,
            "calls_per_min": calls,
            "latency_p50_ms": percentile(d.latency_ms, 0.50),
            "latency_p99_ms": percentile(d.latency_ms, 0.99),
            "ttft_p50_ms": percentile(d.ttft_ms, 0.50),
            "ttft_p99_ms": percentile(d.ttft_ms, 0.99),
        }

    def recent_calls(
        self,
        limit: int = 100,
        tenant: str | None = None,
        model: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; ``status`` matches the HTTP status or the outcome."""
        out: list[dict[str, Any]] = []
        for rec in reversed(self.tail):
            if len(out) >= limit:
                break
            if tenant and not in_subtree(rec.tenant, tenant):
                continue
            if model and model not in (rec.requested_model, rec.served_model):
                continue
            if status and status not in (str(rec.status), rec.outcome):
                continue
            out.append(call_summary(rec))
        return out

    # -- internals ---------------------------------------------------------------------------

    def _chain(self, tenant: str) -> list[str]:
        chain = self._chains.get(tenant)
        if chain is None:
            if len(self._chains) > 100_000:
                self._chains.clear()
            chain = self._chains[tenant] = tenant_chain(tenant)
        return chain

    def _tenant(self, node: str) -> TenantLive:
        t = self.tenants.get(node)
        if t is None:
            t = self.tenants[node] = TenantLive()
        return t

    def _deployment(self, dep_id: str) -> DeploymentLive:
        d = self.deployments.get(dep_id)
        if d is None:
            d = self.deployments[dep_id] = DeploymentLive()
        return d

    def _roll(self, now: float) -> None:
        """A new UTC day (and maybe month) began: today's (this month's) spend starts at 0."""
        new_month = now >= self._month_end
        for t in self.tenants.values():
            t.today = 0
            if new_month:
                t.month = 0
        self._day_end = period_end("day", now)
        self._month_end = period_end("month", now)


class CacheStats:
    """Cache hits and savings, filled by the response cache through ``LiveState.cache``."""

    def __init__(self) -> None:
        self.enabled = False
        self.hits: dict[tuple[str, str], int] = {}  # (tenant, kind) -> hits
        self.misses: dict[str, int] = {}
        self.savings: dict[str, int] = {}  # tenant -> nanos

    def hit(self, tenant: str, kind: str, saved_nanos: int) -> None:
        self.hits[tenant, kind] = self.hits.get((tenant, kind), 0) + 1
        self.savings[tenant] = self.savings.get(tenant, 0) + saved_nanos

    def miss(self, tenant: str) -> None:
        self.misses[tenant] = self.misses.get(tenant, 0) + 1


_SPEND = "CASE WHEN provider = 'cache' AND outcome = 'ok' THEN 0 ELSE cost_nanos END"


def seed_spend(
    state_path: Path, now: float
) -> tuple[dict[str, int], dict[str, int], dict[tuple[str, int], int]]:
    """Spend by exact tenant path today, this month and per minute over the last hour (UTC),
    from the ledger: one grouped query each (runs in a thread)."""
    if not Path(state_path).exists():
        return {}, {}, {}
    from llmgw.store.db import open_db

    conn = open_db(state_path, readonly=True)
    try:
        by_period = []
        for period in ("day", "month"):
            rows = conn.execute(
                f"SELECT tenant, sum({_SPEND}) FROM audit_log WHERE ts >= ? AND ts < ? "
                "AND tenant != '' GROUP BY tenant",
                (period_start(period, now), period_end(period, now)),
            ).fetchall()
            by_period.append({str(r[0]): int(r[1] or 0) for r in rows})
        since = (int(now // 60) - BURN_MINUTES + 1) * 60
        rows = conn.execute(
            f"SELECT tenant, CAST(ts / 60 AS INTEGER) AS minute, sum({_SPEND}) FROM audit_log "
            "WHERE ts >= ? AND ts <= ? AND tenant != '' GROUP BY tenant, minute",
            (since, now),
        ).fetchall()
        minutes = {(str(r[0]), int(r[1])): int(r[2] or 0) for r in rows if r[2]}
    finally:
        conn.close()
    return by_period[0], by_period[1], minutes
