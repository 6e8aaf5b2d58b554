"""``StateData``: the operator views' data read from a state file, for ``llmgw tui --state``.

It answers ``llmgw.ops.views.OpsData`` as the gateway's live state would, from what the file
holds. The file is opened read-only (``llmgw.store.db.open_state``) and every query belongs to
the wing that owns the table (ledger, audit query, keys, breakers, alerts, cache counters).

* Figures use the live counters (``llmgw.ops.figures``), fed from the ledger. When the file is
  first read (and at each new UTC day) grouped queries give each tenant's spend today, this
  month and per minute of the last hour, and its calls per second of the last minute; the
  newest ``RECENT_ROWS`` calls give the deployments' attempts and latencies. After that
  ``refresh()`` feeds every row written since the last one seen (by ``seq``), as the live
  state counts a finished call. A node covers its subtree.
* Budgets are those the file knows of: a node's run-time override, or else the budgets it has
  alerted on this month; what they spent comes from the ledger for the current period.
* Deployments are those with a saved breaker or recent calls; calls in flight are unknown (0).
* Cache counts are the gateway's counters since the file was made.

Every blocking read runs on a worker thread under one lock; a failure is a ``StateFileError``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from llmgw.audit import query as audit_query
from llmgw.audit.record import AuditRecord
from llmgw.cache.stats import hit_counts
from llmgw.errors import BadRequest
from llmgw.limits import overrides
from llmgw.limits.ledger import (
    active_key_counts,
    current_spend,
    spend_by_minute,
    spend_by_tenant,
    tenant_tree,
)
from llmgw.limits.model import BudgetSpec
from llmgw.limits.periods import period_end, period_start
from llmgw.ops.alerting import alerted_budgets
from llmgw.ops.figures import (
    BURN_MINUTES,
    FAILED,
    LATENCY_RING,
    TENANT_ERRORS,
    WINDOW_S,
    DeploymentLive,
    TenantFigures,
    TenantLive,
    deployment_figures,
    feed_deployments,
    spend_of,
    tenant_figures,
)
from llmgw.ops.live_tail import call_summary
from llmgw.ops.views import BudgetSpend, CacheCounts, DeploymentState, Row
from llmgw.routing.breaker import Transition
from llmgw.routing.breaker_store import load_snapshots, recent_transitions, saved_retry_after
from llmgw.settings.schema import TenantLimits
from llmgw.settings.tenancy import tenant_chain
from llmgw.store.db import StateFileError, open_state
from llmgw.store.keys import KeyRecord, KeyStore

RECENT_ROWS = LATENCY_RING  # newest calls read at first for the deployments' figures
NEW_ROWS_BATCH = 50_000  # rows fed per query when catching up
TENANT_SCAN_ROWS = 10_000  # newest calls of a tenant looked at for its models and errors
TRANSITIONS = 5  # breaker transitions shown per deployment
CACHE_KINDS = {"hit-exact": "exact", "hit-semantic": "semantic"}
_BUDGET_KEY = re.compile(r"(day|month|window(\d+))(?::(.+))?")

T = TypeVar("T")


class StateData:
    """``OpsData`` over the state file at ``path`` (read-only); ``refresh()`` reads what is
    new, the other methods answer from what was read or with one bounded query."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.clock = clock
        self._conn = open_state(self.path, shared=True)
        self._lock = threading.Lock()
        self._tenants: dict[str, TenantLive] = {}
        self._deployments: dict[str, DeploymentLive] = {}
        self._day = self._month = (0.0, 0.0)
        self._last_seq = -1  # -1: nothing read yet
        self._names: list[str] = []
        self._budgets: dict[str, list[BudgetSpend]] = {}
        self._deps: list[DeploymentState] = []
        self._cache = CacheCounts(False)

    # -- reading the file ------------------------------------------------------------------

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return fn(self._conn)
            except sqlite3.Error as exc:
                raise StateFileError(f"reading {self.path}: {exc}") from None

    async def _in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._read, fn)

    async def refresh(self) -> None:
        """Read what the gateway wrote since the last refresh (everything, the first time)."""
        await self._in_thread(self._refresh)

    async def close(self) -> None:
        await asyncio.to_thread(self._read, lambda conn: conn.close())

    def _refresh(self, conn: sqlite3.Connection) -> None:
        now = self.clock()
        if self._last_seq < 0 or now >= self._day[1]:
            self._seed(conn, now)
        while True:
            rows = audit_query.calls_after(conn, self._last_seq, NEW_ROWS_BATCH)
            for row in rows:
                self._feed(AuditRecord.from_row(row))
            if rows:
                self._last_seq = int(rows[-1]["seq"])
            if len(rows) < NEW_ROWS_BATCH:
                break
        self._deps = self._read_deployments(conn, now)
        keys = active_key_counts(conn)
        found: dict[str, TenantLimits] = _optional(lambda: overrides.load_overrides(conn), {})
        specs = self._budget_specs(conn, found)
        self._budgets = {
            node: [BudgetSpend(s, current_spend(conn, node, s, now)) for s in node_specs]
            for node, node_specs in specs.items()
        }
        self._names = sorted((set(self._tenants) | set(tenant_tree(keys, found, specs))) - {""})
        self._cache = _optional(lambda: _cache_counts(hit_counts(conn)), CacheCounts(False))

    def _seed(self, conn: sqlite3.Connection, now: float) -> None:
        """Start over from the ledger: spend by period and minute, then the newest calls."""
        self._tenants.clear()
        self._deployments.clear()
        self._day = (period_start("day", now), period_end("day", now))
        self._month = (period_start("month", now), period_end("month", now))
        top = audit_query.last_seq(conn)
        today, month = spend_by_tenant(conn, [self._day, self._month], upto_seq=top)
        for tenant, nanos in today.items():
            for t in self._chain(tenant):
                t.today += nanos
        for tenant, nanos in month.items():
            for t in self._chain(tenant):
                t.month += nanos
        since = (int(now // 60) - BURN_MINUTES + 1) * 60
        for (tenant, minute), nanos in spend_by_minute(conn, since, now, upto_seq=top).items():
            for t in self._chain(tenant):
                t.minutes.add(minute * 60.0, (nanos,))
        activity = audit_query.activity_by_second(conn, now - WINDOW_S, now, upto_seq=top)
        for (tenant, second), counts in activity.items():
            for t in self._chain(tenant):
                t.seconds.add(float(second), counts)
        recent = audit_query.newest_calls(conn, RECENT_ROWS, upto_seq=top)
        for row in reversed(recent):  # counted for the tenants above: deployments only
            self._feed(AuditRecord.from_row(row), tenants=False)
        self._last_seq = top

    def _feed(self, rec: AuditRecord, *, tenants: bool = True) -> None:
        """Count one call at its arrival time, as the live state counts a finished call (for
        its deployments only, unless ``tenants``)."""
        at = rec.ts
        cost = spend_of(rec)
        if tenants and rec.tenant:
            counts = (
                1,
                rec.input_tokens + rec.output_tokens,
                int(rec.outcome == "rejected"),
                int(rec.outcome == "error"),
            )
            for t in self._chain(rec.tenant):
                t.seconds.add(at, counts)
                if cost:
                    t.minutes.add(at, (cost,))
                    t.today += cost if self._day[0] <= at < self._day[1] else 0
                    t.month += cost if self._month[0] <= at < self._month[1] else 0
        feed_deployments(rec, at, self._deployment)

    def _chain(self, tenant: str) -> Iterable[TenantLive]:
        for node in tenant_chain(tenant):
            t = self._tenants.get(node)
            if t is None:
                t = self._tenants[node] = TenantLive()
            yield t

    def _deployment(self, dep_id: str) -> DeploymentLive:
        d = self._deployments.get(dep_id)
        if d is None:
            d = self._deployments[dep_id] = DeploymentLive()
        return d

    def _budget_specs(
        self, conn: sqlite3.Connection, found: dict[str, TenantLimits]
    ) -> dict[str, list[BudgetSpec]]:
        """Each node's budgets: its override's, else those it alerted on this month."""
        specs: dict[str, dict[str, BudgetSpec]] = {}
        alerted: list[tuple[str, str, int, bool]] = _optional(
            lambda: alerted_budgets(conn, self._month[0]), []
        )
        for node, key, limit, hard in alerted:
            spec = budget_from_key(key, limit, hard)
            if spec is not None and node not in found:
                specs.setdefault(node, {})[key] = spec
        for node, limits in found.items():
            specs[node] = {s.key: s for s in map(overrides.budget_spec, limits.budgets)}
        return {node: list(by_key.values()) for node, by_key in sorted(specs.items())}

    def _read_deployments(self, conn: sqlite3.Connection, now: float) -> list[DeploymentState]:
        saved: dict[str, dict[str, Any]] = _optional(lambda: load_snapshots(conn), {})
        out = []
        for dep in sorted(set(saved) | set(self._deployments)):
            snap = saved.get(dep, {})
            recent: list[Transition] = _optional(
                functools.partial(recent_transitions, conn, dep, TRANSITIONS), []
            )
            out.append(
                DeploymentState(
                    deployment=dep,
                    state=str(snap.get("state", "closed")),
                    forced=snap.get("forced"),
                    retry_after_s=saved_retry_after(snap, now),
                    in_flight=0,
                    figures=deployment_figures(self._deployments.get(dep) or DeploymentLive(), now),
                    transitions=tuple(
                        {"at": t.at, "from": t.from_state, "to": t.to_state, "reason": t.reason}
                        for t in reversed(recent)
                    ),
                )
            )
        return out

    # -- OpsData ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    async def tenant_names(self) -> list[str]:
        return list(self._names)

    async def knows_tenant(self, node: str) -> bool:
        return node in self._names

    async def tenant_figures(self, node: str) -> TenantFigures:
        now = self.clock()
        with self._lock:
            return tenant_figures(
                node,
                self._tenants.get(node) or TenantLive(),
                now,
                today_valid=now < self._day[1],
                month_valid=now < self._month[1],
            )

    async def budgets(self, node: str) -> list[BudgetSpend]:
        return list(self._budgets.get(node, ()))

    async def keys(self, node: str) -> list[KeyRecord]:
        return await self._in_thread(lambda conn: KeyStore(conn).list(node))

    async def models(self, node: str) -> list[str]:
        return await self._in_thread(
            lambda conn: audit_query.recent_models(conn, node, TENANT_SCAN_ROWS)
        )

    async def recent_calls(
        self,
        limit: int,
        tenant: str | None = None,
        model: str | None = None,
        status: str | None = None,
    ) -> list[Row]:
        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return audit_query.newest_calls(conn, limit, tenant=tenant, model=model, status=status)

        try:
            rows = await self._in_thread(read)
        except ValueError as exc:  # a status filter that is neither a status nor an outcome
            raise BadRequest(str(exc), param="status") from None
        return [call_summary(AuditRecord.from_row(r)) for r in rows]

    async def tenant_errors(self, node: str) -> list[Row]:
        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            return audit_query.newest_calls(
                conn,
                TENANT_ERRORS,
                tenant=node,
                outcomes=tuple(sorted(FAILED)),
                scan=TENANT_SCAN_ROWS,
            )

        return [call_summary(AuditRecord.from_row(r)) for r in await self._in_thread(read)]

    async def deployments(self) -> list[DeploymentState]:
        return list(self._deps)

    async def cache(self) -> CacheCounts:
        return self._cache

    # -- the call tail ---------------------------------------------------------------------

    async def newest_seq(self) -> int:
        """The ``seq`` of the newest call in the file."""
        return await self._in_thread(audit_query.last_seq)

    async def calls_after(self, seq: int, limit: int = 500) -> tuple[list[Row], int]:
        """Calls written after ``seq`` (oldest first, at most ``limit``) and the last seq."""
        rows = await self._in_thread(lambda conn: audit_query.calls_after(conn, seq, limit))
        last = int(rows[-1]["seq"]) if rows else seq
        return [call_summary(AuditRecord.from_row(r)) for r in rows], last


def budget_from_key(key: str, limit_nanos: int, hard: bool) -> BudgetSpec | None:
    """The budget a key names (``day``, ``month``, ``window3600``, ``day:gpt-4o``: see
    ``llmgw.settings.limits.budget_key``) with its limit; None for a key of another shape."""
    match = _BUDGET_KEY.fullmatch(key)
    if match is None:
        return None
    window = match.group(2)
    period = cast(Literal["day", "month", "window"], "window" if window else match.group(1))
    return BudgetSpec(
        key=key,
        period=period,
        limit_nanos=limit_nanos,
        hard=hard,
        window_s=int(window) if window else None,
        model=match.group(3),
    )


def _cache_counts(rows: list[tuple[str, str, int, int]]) -> CacheCounts:
    hits: dict[tuple[str, str], int] = {}
    misses: dict[str, int] = {}
    savings: dict[str, int] = {}
    for tenant, kind, calls, saved in rows:
        if kind in CACHE_KINDS:
            key = (tenant, CACHE_KINDS[kind])
            hits[key] = hits.get(key, 0) + calls
        elif kind == "miss":
            misses[tenant] = misses.get(tenant, 0) + calls
        if saved:
            savings[tenant] = savings.get(tenant, 0) + saved
    return CacheCounts(bool(rows), hits, misses, savings)


def _optional(read: Callable[[], T], default: T) -> T:
    """``read()``, or ``default`` when the file predates the table it reads."""
    try:
        return read()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return default
        raise
