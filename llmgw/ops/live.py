"""Live operations state: what the gateway is doing right now, in memory, for the admin views.

``LiveState.observe(rec)`` is called on the event loop once per finished call with its
``AuditRecord``. It is O(1) and does no I/O: a handful of counter updates in fixed-size time
buckets, two bounded deques, and a non-blocking hand-off to each SSE subscriber. The record is
not kept: the deques (the tail of the last ``TAIL_RING`` calls, each tenant node's last failed
calls) hold ``CallLine`` summaries, never a body, so what they cost does not depend on what the
calls carried, and a ``redacted`` tenant's unredacted bodies live only as long as its call and
its audit row's trip through the writer.

Per tenant node (a path covers its subtree, as in the ledger: a call of ``acme/search`` also
counts for ``acme``): requests, tokens, rejections and errors per second over the last 60 s;
spend per minute over the last hour (burn rate, sparkline); spend today and this month (UTC),
seeded at ``start()`` from the ledger (``llmgw.limits.ledger``). The counters and the figures
read from them are ``llmgw.ops.figures``, shared with the state-file reader.

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
from llmgw.limits.ledger import spend_by_minute, spend_by_tenant
from llmgw.limits.periods import period_end, period_start
from llmgw.ops.figures import (
    BURN_MINUTES,
    ERRORS,
    FAILED,
    LATENCY_RING,
    REJECTIONS,
    REQUESTS,
    TOKENS,
    DeploymentFigures,
    DeploymentLive,
    TenantFigures,
    TenantLive,
    deployment_figures,
    feed_deployments,
    spend_of,
    tenant_figures,
)
from llmgw.ops.live_tail import SUBSCRIBER_QUEUE, CallLine, Subscriber
from llmgw.ops.live_windows import Buckets, percentile
from llmgw.ops.metrics import Metrics
from llmgw.routing.breaker import BreakerBoard
from llmgw.routing.clock import Clock, SystemClock
from llmgw.settings.schema import Settings
from llmgw.settings.tenancy import in_subtree, tenant_chain

log = logging.getLogger("llmgw.gateway")

TAIL_RING = 1000  # recent calls kept for the tail

# LATENCY_RING, Buckets and percentile are the counters' parameters and parts, named here too
__all__ = ["LATENCY_RING", "TAIL_RING", "Buckets", "CacheStats", "LiveState", "percentile"]


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
        self.tail: deque[CallLine] = deque(maxlen=TAIL_RING)  # never a body
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
        line = CallLine.of(rec)  # the record itself (and its bodies) is not kept
        self.tail.append(line)
        failed = rec.outcome in FAILED
        cost = spend_of(rec)
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
                    t.errors.append(line)
        feed_deployments(rec, now, self._deployment)
        self.metrics.observe(rec, cost)
        if self.subscribers:
            summary = line.summary()
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

    def tenant_figures(self, node: str) -> TenantFigures:
        """The live figures of one tenant node (zeros when it has had no traffic)."""
        now = self.clock.wall()
        return tenant_figures(
            node,
            self.tenants.get(node) or TenantLive(),
            now,
            today_valid=now < self._day_end,
            month_valid=now < self._month_end,
        )

    def tenant_view(self, node: str) -> dict[str, Any]:
        """``tenant_figures`` as a dict."""
        return self.tenant_figures(node).as_dict()

    def burn_per_hour(self, node: str) -> int:
        """Nanos spent by ``node``'s subtree over the last hour."""
        t = self.tenants.get(node)
        return sum(t.minutes.totals(self.clock.wall())) if t else 0

    def tenant_errors(self, node: str) -> list[dict[str, Any]]:
        """The node's last failed calls, newest first."""
        t = self.tenants.get(node)
        return [line.summary() for line in reversed(t.errors)] if t else []

    def deployment_figures(self, dep_id: str) -> DeploymentFigures:
        """The live figures of one deployment (zeros when it has had no traffic)."""
        d = self.deployments.get(dep_id) or DeploymentLive()
        return deployment_figures(d, self.clock.wall())

    def deployment_view(self, dep_id: str) -> dict[str, Any]:
        """``deployment_figures`` as a dict."""
        return self.deployment_figures(dep_id).as_dict()

    def recent_calls(
        self,
        limit: int = 100,
        tenant: str | None = None,
        model: str | None = None,
        status: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first; ``status`` matches the HTTP status or the outcome."""
        out: list[dict[str, Any]] = []
        for line in reversed(self.tail):
            if len(out) >= limit:
                break
            if tenant and not in_subtree(line.tenant, tenant):
                continue
            if model and model not in (line.model, line.served_model):
                continue
            if status and status not in (str(line.status), line.outcome):
                continue
            out.append(line.summary())
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


def seed_spend(
    state_path: Path, now: float
) -> tuple[dict[str, int], dict[str, int], dict[tuple[str, int], int]]:
    """Spend by exact tenant path today, this month and per minute over the last hour (UTC),
    from the ledger (runs in a thread)."""
    if not Path(state_path).exists():
        return {}, {}, {}
    from llmgw.store.db import open_db

    conn = open_db(state_path, readonly=True)
    try:
        today, month = spend_by_tenant(
            conn,
            [(period_start(p, now), period_end(p, now)) for p in ("day", "month")],
        )
        since = (int(now // 60) - BURN_MINUTES + 1) * 60
        minutes = spend_by_minute(conn, since, now)
    finally:
        conn.close()
    return today, month, minutes
