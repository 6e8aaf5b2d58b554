"""Cache statistics read from the state file: hit rates, savings and size, by tenant.

Counters (``cache_counters``) are kept by the gateway's cache writer per (tenant, model, kind);
entries (``cache_entries``) say what the cache holds now. ``tenant`` filters cover the subtree
(``acme`` means ``acme`` and ``acme/…``). Money is exact: integer nanos summed by SQLite.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from llmgw.settings.money import usd_text
from llmgw.store.keys import tenant_bounds

KINDS = ("hit-exact", "hit-semantic", "miss", "bypass", "flag")


def _subtree(tenant: str | None) -> tuple[str, list[Any]]:
    if tenant is None:
        return "1", []
    return "(tenant = ? OR (tenant >= ? AND tenant < ?))", [tenant, *tenant_bounds(tenant)]


def cache_stats(
    conn: sqlite3.Connection, tenant: str | None = None, model: str | None = None
) -> list[dict[str, Any]]:
    """One row per tenant: calls by outcome, hit rate, tokens and money saved, entries held.

    ``hit_rate`` is hits / (hits + misses): calls that bypassed the cache (by policy or
    header) are not counted against it.
    """
    where, params = _subtree(tenant)
    if model is not None:
        where += " AND model = ?"
        params = [*params, model]
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        found = rows.get(name)
        if found is None:
            found = rows[name] = {
                "tenant": name,
                **{k.replace("-", "_"): 0 for k in KINDS},
                "saved_tokens": 0,
                "saved_nanos": 0,
                "entries": 0,
                "bytes": 0,
            }
        return found

    for name, kind, calls, tokens, nanos in conn.execute(
        "SELECT tenant, kind, sum(calls), sum(saved_tokens), sum(saved_nanos) "
        f"FROM cache_counters WHERE {where} GROUP BY tenant, kind",
        params,
    ):
        r = row(str(name))
        if kind in KINDS:
            r[kind.replace("-", "_")] += int(calls)
        r["saved_tokens"] += int(tokens)
        r["saved_nanos"] += int(nanos)
    for name, count, size in conn.execute(
        f"SELECT tenant, count(*), sum(size) FROM cache_entries WHERE {where} GROUP BY tenant",
        params,
    ):
        r = row(str(name))
        r["entries"], r["bytes"] = int(count), int(size or 0)
    out = []
    for name in sorted(rows):
        r = rows[name]
        hits = r["hit_exact"] + r["hit_semantic"]
        looked = hits + r["miss"]
        r["hit_rate"] = round(hits / looked, 4) if looked else None
        r["saved_usd"] = usd_text(r["saved_nanos"])
        out.append(r)
    return out


def hit_counts(conn: sqlite3.Connection) -> list[tuple[str, str, int, int]]:
    """``(tenant, kind, calls, saved nanos)`` summed over models, for every counted kind."""
    rows = conn.execute(
        "SELECT tenant, kind, sum(calls), sum(saved_nanos) FROM cache_counters"
        " GROUP BY tenant, kind ORDER BY tenant, kind"
    ).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


def count_flag(conn: sqlite3.Connection, tenant: str) -> None:
    """Count one flagged hit of ``tenant`` (what the gateway's cache writer counts for a flag
    made through its API)."""
    conn.execute(
        "INSERT INTO cache_counters (tenant, model, kind, calls) VALUES (?, '', 'flag', 1) "
        "ON CONFLICT (tenant, model, kind) DO UPDATE SET calls = calls + 1",
        (tenant,),
    )
