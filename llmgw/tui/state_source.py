"""``StateSource``: the TUI's shapes derived from a state file, opened read-only.

Nothing here writes: the file is opened with a ``mode=ro`` URI, and the source has no actions.
Every query is bounded by an index range and a LIMIT, so a file with millions of audit rows opens
fast. Spend totals are computed once (per tenant, over the current UTC month, by the ``ts``
index) and then kept up to date from rows whose ``seq`` is above the last one seen.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from llmgw.tui.source import CALLS_LIMIT, POLL_S, Row, Snapshot, SourceError

SPARK_MINUTES = 30
RECENT_DEPLOYMENT_ROWS = 5000
TENANT_SCAN_ROWS = 10_000
NEW_ROWS_BATCH = 50_000
ARRIVAL_SLACK_S = 3600.0  # how far out of ts order an audit row may be written

CALL_COLUMNS = (
    "seq, id, ts, tenant, api, requested_model, provider, served_model, status, outcome,"
    " error_class, latency_ms, ttft_ms, input_tokens + output_tokens, cost_nanos, stream"
)


def call_row(r: tuple[Any, ...]) -> Row:
    """An ``audit_log`` row (``CALL_COLUMNS``) in the ``/admin/calls`` shape."""
    return {
        "id": r[1],
        "ts": r[2],
        "tenant": r[3],
        "api": r[4],
        "model": r[5],
        "provider": r[6],
        "served_model": r[7],
        "status": r[8],
        "outcome": r[9],
        "error_class": r[10],
        "latency_ms": r[11],
        "ttft_ms": r[12],
        "tokens": r[13],
        "cost_nanos": r[14],
        "stream": bool(r[15]),
    }


def period_starts(now: float) -> tuple[float, float]:
    """Unix seconds of the start of the current UTC day and month."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp(), day.replace(day=1).timestamp()


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of ``values`` (``q`` in 0..1); ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _TenantTotals:
    """Running spend and per-minute activity of every tenant, fed row by row."""

    def __init__(self, now: float) -> None:
        self.day_start, self.month_start = period_starts(now)
        self.today: dict[str, int] = defaultdict(int)
        self.month: dict[str, int] = defaultdict(int)
        # tenant -> minute -> [requests, tokens, rejections, errors, cost_nanos]
        self.minutes: dict[str, dict[int, list[int]]] = defaultdict(dict)

    def add_recent(self, ts: float, tenant: str, tokens: int, outcome: str, cost: int) -> None:
        bucket = self.minutes[tenant].setdefault(int(ts // 60), [0, 0, 0, 0, 0])
        bucket[0] += 1
        bucket[1] += tokens or 0
        bucket[2] += outcome == "rejected"
        bucket[3] += outcome == "error"
        bucket[4] += cost or 0

    def add(self, ts: float, tenant: str, tokens: int, outcome: str, cost: int) -> None:
        if ts >= self.month_start:
            self.month[tenant] += cost or 0
        if ts >= self.day_start:
            self.today[tenant] += cost or 0
        self.add_recent(ts, tenant, tokens, outcome, cost)

    def view(self, tenant: str, now: float, budgets: list[Row]) -> Row:
        minute = int(now // 60)
        buckets = self.minutes.get(tenant, {})
        for old in [m for m in buckets if m <= minute - SPARK_MINUTES]:
            del buckets[old]
        last = buckets.get(minute - 1, [0, 0, 0, 0, 0])
        spark = [buckets.get(m, [0] * 5)[4] for m in range(minute - SPARK_MINUTES + 1, minute + 1)]
        return {
            "tenant": tenant,
            "requests_per_min": last[0],
            "tokens_per_min": last[1],
            "rejections_per_min": last[2],
            "errors_per_min": last[3],
            "spend_today_nanos": self.today.get(tenant, 0),
            "spend_month_nanos": self.month.get(tenant, 0),
            "burn_per_hour_nanos": sum(spark) * 60 // SPARK_MINUTES,
            "budgets": budgets,
            "spark": spark,
        }


class StateSource:
    """A state file, read-only: the same shapes as the admin API, and no actions."""

    read_only = True

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.path = Path(path)
        self.label = f"{self.path} (read-only)"
        self.clock = clock
        if not self.path.exists():
            raise SourceError(f"no state file at {self.path}")
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._conn.execute("SELECT 1 FROM audit_log LIMIT 1").fetchall()
        except sqlite3.Error as exc:
            raise SourceError(f"cannot read the state file {self.path}: {exc}") from None
        self._lock = threading.Lock()
        self._totals: _TenantTotals | None = None
        self._last_seq = 0

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise SourceError(f"reading {self.path}: {exc}") from None

    async def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- tenants ---------------------------------------------------------------------------

    def _catch_up(self, now: float) -> _TenantTotals:
        totals = self._totals
        if totals is None or period_starts(now)[0] != totals.day_start:
            totals = _TenantTotals(now)
            top = self._query("SELECT max(seq) FROM audit_log")[0][0] or 0
            # rows are appended in about arrival order: a sequential scan of the seq range
            # from an hour before the month began beats a random walk along the ts index
            first = self._query(
                "SELECT seq FROM audit_log WHERE ts >= ? ORDER BY ts LIMIT 1",
                (totals.month_start - ARRIVAL_SLACK_S,),
            )
            for tenant, cost, today in self._query(
                "SELECT tenant, sum(cost_nanos), sum(CASE WHEN ts >= ? THEN cost_nanos END)"
                " FROM audit_log NOT INDEXED WHERE seq >= ? AND seq <= ? AND ts >= ?"
                " GROUP BY tenant",
                (totals.day_start, first[0][0] if first else top + 1, top, totals.month_start),
            ):
                totals.month[tenant] = int(cost or 0)
                totals.today[tenant] = int(today or 0)
            for ts, tenant, tokens, outcome, cost in self._query(
                "SELECT ts, tenant, input_tokens + output_tokens, outcome, cost_nanos"
                " FROM audit_log WHERE ts >= ? AND seq <= ?",
                (now - SPARK_MINUTES * 60, top),
            ):
                totals.add_recent(ts, tenant, tokens, outcome, cost)
            self._totals, self._last_seq = totals, top
        while True:
            rows = self._query(
                "SELECT seq, ts, tenant, input_tokens + output_tokens, outcome, cost_nanos"
                " FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                (self._last_seq, NEW_ROWS_BATCH),
            )
            for _seq, ts, tenant, tokens, outcome, cost in rows:
                totals.add(ts, tenant, tokens, outcome, cost)
            if rows:
                self._last_seq = rows[-1][0]
            if len(rows) < NEW_ROWS_BATCH:
                return totals

    def _budgets(self, since: float) -> dict[str, list[Row]]:
        out: dict[str, list[Row]] = defaultdict(list)
        for node, budget, period, spent, limit, hard, payload, _at in self._query(
            "SELECT node, budget, period, spent_nanos, limit_nanos, hard, payload, max(at)"
            " FROM budget_alerts WHERE at >= ? GROUP BY node, budget ORDER BY node, budget",
            (since,),
        ):
            try:
                extra = orjson.loads(payload)
            except orjson.JSONDecodeError:
                extra = {}
            out[node].append(
                {
                    "key": budget,
                    "period": period,
                    "limit_nanos": limit,
                    "spent_nanos": spent,
                    "hard": bool(hard),
                    "used_pct": round(100 * spent / limit, 1) if limit else 0.0,
                    "projected_exhaustion_at": extra.get("projected_exhaustion_at"),
                }
            )
        return out

    def _tenants(self) -> list[Row]:
        now = self.clock()
        totals = self._catch_up(now)
        budgets = self._budgets(totals.month_start)
        names = {r[0] for r in self._query("SELECT DISTINCT tenant FROM api_keys")}
        names |= set(totals.month) | set(totals.minutes) | set(budgets)
        names.discard("")
        return [totals.view(t, now, budgets.get(t, [])) for t in sorted(names)]

    # -- deployments -----------------------------------------------------------------------

    def _deployments(self) -> list[Row]:
        now = self.clock()
        samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for provider, model, latency, ttft, outcome in self._query(
            "SELECT provider, served_model, latency_ms, ttft_ms, outcome FROM audit_log"
            " WHERE ts >= ? ORDER BY ts DESC LIMIT ?",
            (now - 300, RECENT_DEPLOYMENT_ROWS),
        ):
            if not provider:
                continue
            s = samples[f"{provider}/{model}"]
            s["latency"].append(latency or 0.0)
            if ttft is not None:
                s["ttft"].append(ttft)
            s["errors"].append(1.0 if outcome == "error" else 0.0)
        saved = {
            d: orjson.loads(s) for d, s in self._query("SELECT deployment, snapshot FROM breakers")
        }
        out = []
        for dep in sorted(set(saved) | set(samples)):
            snap = saved.get(dep, {})
            s = samples.get(dep, {})
            state = str(snap.get("state", "closed"))
            until = (snap.get("opened_at") or 0.0) + (snap.get("cooldown_s") or 0.0)
            errors = s.get("errors", [])
            out.append(
                {
                    "deployment": dep,
                    "state": state,
                    "forced": snap.get("forced"),
                    "retry_after_s": max(0.0, until - now) if state == "open" else 0.0,
                    "error_rate": sum(errors) / len(errors) if errors else 0.0,
                    "calls_per_min": round(len(errors) / 5),
                    "in_flight": 0,
                    "latency_p50_ms": percentile(s.get("latency", []), 0.5),
                    "latency_p99_ms": percentile(s.get("latency", []), 0.99),
                    "ttft_p50_ms": percentile(s.get("ttft", []), 0.5),
                    "ttft_p99_ms": percentile(s.get("ttft", []), 0.99),
                    "transitions": [
                        {"at": at, "from": f, "to": t, "reason": why}
                        for at, f, t, why in reversed(
                            self._query(
                                "SELECT at, from_state, to_state, reason FROM breaker_events"
                                " WHERE deployment = ? ORDER BY at DESC LIMIT 5",
                                (dep,),
                            )
                        )
                    ],
                }
            )
        return out

    async def snapshot(self) -> Snapshot:
        def build() -> Snapshot:
            return Snapshot(self._tenants(), self._deployments(), None, ["cache"])

        return await asyncio.to_thread(build)

    # -- drill-down and calls --------------------------------------------------------------

    def _tenant(self, path: str) -> Row:
        now = self.clock()
        totals = self._catch_up(now)
        row = totals.view(path, now, self._budgets(totals.month_start).get(path, []))
        row["keys"] = [
            {"id": i, "name": n, "prefix": p, "created_at": c}
            for i, n, p, c in self._query(
                "SELECT id, name, prefix, created_at FROM api_keys"
                " WHERE tenant = ? AND revoked_at IS NULL ORDER BY created_at",
                (path,),
            )
        ]
        recent = "SELECT * FROM audit_log WHERE tenant = ? ORDER BY ts DESC LIMIT ?"
        row["models"] = [
            {"model": m, "requests": n, "tokens": tok, "cost_nanos": cost}
            for m, n, tok, cost in self._query(
                "SELECT requested_model, count(*), sum(input_tokens + output_tokens),"
                f" sum(cost_nanos) FROM ({recent}) GROUP BY requested_model ORDER BY 2 DESC",
                (path, TENANT_SCAN_ROWS),
            )
        ]
        row["calls"] = [
            call_row(r)
            for r in self._query(
                f"SELECT {CALL_COLUMNS} FROM audit_log WHERE tenant = ? ORDER BY ts DESC LIMIT 50",
                (path,),
            )
        ]
        row["errors"] = [
            call_row(r)
            for r in self._query(
                f"SELECT {CALL_COLUMNS} FROM ({recent}) WHERE outcome != 'ok' LIMIT 20",
                (path, TENANT_SCAN_ROWS),
            )
        ]
        return row

    async def tenant(self, path: str) -> Row:
        return await asyncio.to_thread(self._tenant, path)

    async def recent_calls(self, limit: int = CALLS_LIMIT) -> list[Row]:
        rows = await asyncio.to_thread(
            self._query, f"SELECT {CALL_COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT ?", (limit,)
        )
        return [call_row(r) for r in rows]

    async def call_stream(self) -> AsyncIterator[Row]:
        """New audit rows as the gateway writes them (polled by ``seq``)."""
        top = (await asyncio.to_thread(self._query, "SELECT max(seq) FROM audit_log"))[0][0] or 0
        while True:
            rows = await asyncio.to_thread(
                self._query,
                f"SELECT {CALL_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT 500",
                (top,),
            )
            for r in rows:
                top = r[0]
                yield call_row(r)
            await asyncio.sleep(POLL_S)

    async def force_breaker(self, deployment: str, force: str | None) -> Row:
        raise SourceError("read-only: a state file has no actions (use --gateway)")

    async def inject_outage(self, deployment: str, for_s: float = 60.0) -> Row:
        raise SourceError("read-only: a state file has no actions (use --gateway)")
