"""The spend ledger: read-only money and usage queries over the audit log.

The ``audit_log`` table is the source of truth for spend: one row per call with its tenant,
models, provider, outcome, tokens and ``cost_nanos`` (1e-9 USD). Everything here is a plain
SQL aggregate, summed by SQLite over integers, so money stays exact.

Conventions:

- A node covers its subtree: ``acme`` means ``acme`` and ``acme/…`` (never ``acme2``). Each
  query is written as two index range scans on ``(tenant, ts)`` (the node itself, and the
  ``acme/`` .. ``acme0`` range below it), so it stays fast on a large log.
- Rows served from the cache (``provider = 'cache'``, outcome ``ok``) are not spend: whatever
  ``cost_nanos`` such a row carries is what the hit saved, reported as ``cache_savings``.
- Period boundaries are UTC (see ``llmgw.limits.periods``); ``until`` bounds are exclusive.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

from llmgw.limits.model import BudgetSpec
from llmgw.limits.periods import period_end, period_start
from llmgw.settings.money import usd_text
from llmgw.store.keys import tenant_bounds
from llmgw.types import Outcome

UsageBy = Literal["tenant", "model", "day", "provider"]
USAGE_BY: tuple[str, ...] = ("tenant", "model", "day", "provider")
CACHE_PROVIDER = "cache"
HOUR_S = 3600

# a row is spend unless it is a cache hit; cache hits' cost is savings
_IS_CACHE_HIT = f"(provider = '{CACHE_PROVIDER}' AND outcome = 'ok')"
_ERROR_OUTCOMES: tuple[Outcome, ...] = ("error", "rejected")

_GROUP_EXPR: dict[str, str] = {
    "tenant": "tenant",
    "model": "coalesce(requested_model, '')",
    "provider": "coalesce(provider, '')",
    "day": "strftime('%Y-%m-%d', ts, 'unixepoch')",
}


def _subtree_scans(node: str) -> list[tuple[str, list[Any]]]:
    """WHERE conditions (each one index range on ``tenant``) that together cover ``node``'s
    subtree; the whole log for the root node ``""``."""
    node = node.strip().rstrip("/")
    if not node:
        return [("1", [])]
    lo, hi = tenant_bounds(node)
    return [("tenant = ?", [node]), ("tenant >= ? AND tenant < ?", [lo, hi])]


def _union(select: str, node: str | None, extra: str, params: list[Any]) -> tuple[str, list[Any]]:
    """``select`` over the rows of ``node``'s subtree matching ``extra``, as a UNION ALL of
    index range scans (a plain OR of the two ranges defeats the (tenant, ts) index)."""
    parts: list[str] = []
    values: list[Any] = []
    for cond, cond_params in _subtree_scans(node or ""):
        # without ANALYZE statistics the planner may prefer the ts or model index; a
        # subtree scan is always narrowest on (tenant, ts)
        hint = " INDEXED BY audit_log_tenant_ts" if cond_params else ""
        parts.append(f"SELECT {select} FROM audit_log{hint} WHERE {cond} AND {extra}")
        values += cond_params + params
    return " UNION ALL ".join(parts), values


def spend_by_period(
    conn: sqlite3.Connection,
    node: str,
    since_ts: float,
    until_ts: float,
    model: str | None = None,
    aliases: Sequence[str] = (),
) -> tuple[int, int, int]:
    """``(cost nanos, tokens in + out, requests)`` of ``node``'s subtree for calls that arrived
    in ``[since_ts, until_ts)``, optionally only those asking for public model ``model`` (by
    its name or any of ``aliases``: the log keeps the name the caller used).

    Every row counts as a request (rejections too); cache hits add no cost.
    """
    extra = "ts >= ? AND ts < ?"
    params: list[Any] = [since_ts, until_ts]
    if model is not None:
        names = [model, *aliases]
        extra += f" AND requested_model IN ({', '.join('?' * len(names))})"
        params += names
    select = (
        f"CASE WHEN {_IS_CACHE_HIT} THEN 0 ELSE cost_nanos END AS cost, "
        "input_tokens + output_tokens AS tokens"
    )
    inner, values = _union(select, node, extra, params)
    row = conn.execute(
        f"SELECT coalesce(sum(cost), 0), coalesce(sum(tokens), 0), count(*) FROM ({inner})",
        values,
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def period_bounds(budget: BudgetSpec, now: float) -> tuple[float, float]:
    """``[start, end)`` of the budget's period containing ``now`` (UTC)."""
    return (
        period_start(budget.period, now, budget.window_s),
        period_end(budget.period, now, budget.window_s),
    )


def current_spend(
    conn: sqlite3.Connection,
    node: str,
    budget: BudgetSpec,
    now: float | None = None,
    aliases: Sequence[str] = (),
) -> int:
    """Nanos spent by ``node``'s subtree in the budget's current period (its model only, by
    name or ``aliases``, for a per-model budget). What a limit store restores after a restart."""
    now = time.time() if now is None else now
    start, end = period_bounds(budget, now)
    return spend_by_period(conn, node, start, end, budget.model, aliases)[0]


def burn(
    conn: sqlite3.Connection, node: str, window_s: int = HOUR_S, now: float | None = None
) -> int:
    """Spend rate of ``node``'s subtree in nanos per hour, over the last ``window_s`` seconds."""
    if window_s <= 0:
        raise ValueError("window_s must be positive")
    now = time.time() if now is None else now
    nanos = spend_by_period(conn, node, now - window_s, now)[0]
    return nanos * HOUR_S // window_s


def usage(
    conn: sqlite3.Connection,
    by: UsageBy,
    since: float | None = None,
    until: float | None = None,
    tenant: str | None = None,
) -> list[dict[str, Any]]:
    """Usage grouped by tenant (exact path), public model, provider or UTC day.

    Each dict: the group key under ``by``'s name, ``spend_nanos``, ``spend_usd`` (exact decimal
    string), ``requests``, ``input_tokens``, ``output_tokens``, ``cached_tokens``, ``errors``
    (outcome error or rejected), ``cache_hits``, ``cache_savings_nanos`` and
    ``cache_savings_usd``. Days come in date order, other groups by spend, highest first.
    ``tenant`` limits it to that subtree; ``since``/``until`` are unix seconds.
    """
    if by not in _GROUP_EXPR:
        raise ValueError(f"unknown grouping {by!r} (expected one of: {', '.join(USAGE_BY)})")
    if since is not None and until is not None and since > until:
        raise ValueError("--since is later than --until")
    extra = "ts >= ? AND ts < ?"
    params: list[Any] = [
        float("-inf") if since is None else since,
        float("inf") if until is None else until,
    ]
    errors = ", ".join(f"'{o}'" for o in _ERROR_OUTCOMES)
    select = (
        f"{_GROUP_EXPR[by]} AS grp, "
        f"CASE WHEN {_IS_CACHE_HIT} THEN 0 ELSE cost_nanos END AS spend, "
        f"CASE WHEN {_IS_CACHE_HIT} THEN cost_nanos ELSE 0 END AS saved, "
        f"CASE WHEN {_IS_CACHE_HIT} THEN 1 ELSE 0 END AS hit, "
        f"CASE WHEN outcome IN ({errors}) THEN 1 ELSE 0 END AS err, "
        "input_tokens, output_tokens, cached_tokens"
    )
    inner, values = _union(select, tenant, extra, params)
    order = "grp" if by == "day" else "sum(spend) DESC, grp"
    rows = conn.execute(
        "SELECT grp, sum(spend), count(*), sum(input_tokens), sum(output_tokens), "
        f"sum(cached_tokens), sum(err), sum(hit), sum(saved) FROM ({inner}) "
        f"GROUP BY grp ORDER BY {order}",
        values,
    ).fetchall()
    out: list[dict[str, Any]] = []
    for grp, spend, requests, tin, tout, cached, err, hits, saved in rows:
        out.append(
            {
                by: grp,
                "spend_nanos": int(spend),
                "spend_usd": usd_text(int(spend)),
                "requests": int(requests),
                "input_tokens": int(tin),
                "output_tokens": int(tout),
                "cached_tokens": int(cached),
                "errors": int(err),
                "cache_hits": int(hits),
                "cache_savings_nanos": int(saved),
                "cache_savings_usd": usd_text(int(saved)),
            }
        )
    return out


ARRIVAL_SLACK_S = 3600.0  # how far out of arrival order audit rows are usually written


def spend_by_tenant(
    conn: sqlite3.Connection,
    periods: Sequence[tuple[float, float]],
    *,
    upto_seq: int | None = None,
) -> list[dict[str, int]]:
    """Spend by exact tenant path in each ``[start, end)`` of ``periods`` (one dict each, in
    that order; tenants without spend left out), counting rows written up to ``upto_seq``.

    Rows are written in about arrival order, so most of them sit in the ``seq`` range that
    begins an hour before the earliest start: that range is read in one sequential pass (much
    faster than a walk along the ``ts`` index), and the ``ts`` index finds the few rows written
    before it. The sums are exact either way.
    """
    if not periods:
        return []
    first_ts = min(start for start, _ in periods)
    last_ts = max(end for _, end in periods)
    top = int(conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0] or 0)
    top = min(top, upto_seq) if upto_seq is not None else top
    found = conn.execute(
        "SELECT seq FROM audit_log WHERE ts >= ? ORDER BY ts LIMIT 1",
        (first_ts - ARRIVAL_SLACK_S,),
    ).fetchone()
    first = int(found[0]) if found else top + 1
    spend = f"CASE WHEN {_IS_CACHE_HIT} THEN 0 ELSE cost_nanos END"
    sums = ", ".join(f"sum(CASE WHEN ts >= ? AND ts < ? THEN {spend} END)" for _ in periods)
    bounds = [bound for period in periods for bound in period]
    out: list[dict[str, int]] = [{} for _ in periods]
    for scan, params in (
        ("audit_log NOT INDEXED WHERE seq >= ? AND seq <= ?", [first, top]),
        ("audit_log INDEXED BY audit_log_ts WHERE seq < ? AND seq <= ?", [first, top]),
    ):
        rows = conn.execute(
            f"SELECT tenant, {sums} FROM {scan} AND ts >= ? AND ts < ? AND tenant != ''"
            " GROUP BY tenant",
            [*bounds, *params, first_ts, last_ts],
        ).fetchall()
        for row in rows:
            for i, by_tenant in enumerate(out):
                if row[i + 1]:
                    tenant = str(row[0])
                    by_tenant[tenant] = by_tenant.get(tenant, 0) + int(row[i + 1])
    return out


def spend_by_minute(
    conn: sqlite3.Connection, since: float, until: float, *, upto_seq: int | None = None
) -> dict[tuple[str, int], int]:
    """Spend by (exact tenant path, minute since the epoch) of calls that arrived in
    ``[since, until]``, counting rows written up to ``upto_seq``; minutes without spend are
    left out."""
    extra, params = "", [since, until]
    if upto_seq is not None:
        extra, params = " AND seq <= ?", [*params, upto_seq]
    rows = conn.execute(
        "SELECT tenant, CAST(ts / 60 AS INTEGER) AS minute,"
        f" sum(CASE WHEN {_IS_CACHE_HIT} THEN 0 ELSE cost_nanos END) FROM audit_log"
        f" WHERE ts >= ? AND ts <= ? AND tenant != ''{extra} GROUP BY tenant, minute",
        params,
    ).fetchall()
    return {(str(r[0]), int(r[1])): int(r[2]) for r in rows if r[2]}


def ledger_tenants(conn: sqlite3.Connection) -> list[str]:
    """Every non-empty tenant path that appears in the ledger (via the tenant index)."""
    rows = conn.execute("SELECT DISTINCT tenant FROM audit_log WHERE tenant != ''").fetchall()
    return sorted(str(r[0]) for r in rows)


def budget_status(
    conn: sqlite3.Connection, node: str, budget: BudgetSpec, now: float | None = None
) -> dict[str, Any]:
    """A budget's current period as the operator views show it: ``key``, ``period``,
    ``window_s``, ``model``, ``hard``, ``period_start``/``period_end`` (unix seconds),
    ``limit_nanos``, ``spent_nanos``, dollar strings for both, and ``used_pct`` (a decimal
    string with one place; None for a zero limit)."""
    now = time.time() if now is None else now
    start, end = period_bounds(budget, now)
    spent = spend_by_period(conn, node, start, end, budget.model)[0]
    pct: str | None = None
    if budget.limit_nanos > 0:
        pct = str((Decimal(spent * 100) / budget.limit_nanos).quantize(Decimal("0.1")))
    return {
        "key": budget.key,
        "period": budget.period,
        "window_s": budget.window_s,
        "model": budget.model,
        "hard": budget.hard,
        "period_start": start,
        "period_end": end,
        "limit_nanos": budget.limit_nanos,
        "limit_usd": usd_text(budget.limit_nanos),
        "spent_nanos": spent,
        "spent_usd": usd_text(spent),
        "used_pct": pct,
    }


def active_key_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Active (unrevoked) virtual keys per exact tenant path."""
    rows = conn.execute(
        "SELECT tenant, count(*) FROM api_keys WHERE revoked_at IS NULL GROUP BY tenant"
    ).fetchall()
    return {str(t): int(n) for t, n in rows}


def tenant_tree(*sources: Iterable[str]) -> list[str]:
    """Every path named in ``sources`` plus all their ancestors, parents before children
    (``acme``, ``acme/search``, ``acme/search/prod``, ``acme2``). Empty paths are dropped."""
    nodes: set[str] = set()
    for source in sources:
        for path in source:
            parts = [p for p in path.strip().split("/") if p]
            nodes.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(nodes, key=lambda p: p.split("/"))
