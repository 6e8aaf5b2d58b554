"""Reading the audit log back: filtered listings and single rows.

Rows come back as dicts with every ``audit_log`` column; ``attempt_log`` is decoded to a list
and ``stream`` / ``usage_estimated`` to bools. Filter text is parsed here (not in the CLI) so
that the admin API and the TUI share the same rules; bad filter text raises ``ValueError``
with a message fit to show a user.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
from datetime import datetime
from typing import Any

import orjson
import sqlite_utils

from llmgw.audit.record import COLUMNS, OUTCOMES
from llmgw.store.keys import tenant_bounds

_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_STATUS_CLASS = re.compile(r"([1-5])xx")


def parse_time(text: str, *, now: float | None = None) -> float:
    """Unix seconds for ``text``: relative (``15m``, ``2h``, ``7d``, ``1w``: that long ago),
    an ISO 8601 date or timestamp (naive ones are local time), or plain unix seconds."""
    value = text.strip()
    match = _RELATIVE.fullmatch(value.lower())
    if match:
        now = time.time() if now is None else now
        return now - int(match.group(1)) * _UNIT_S[match.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"bad time {text!r}: use an ISO timestamp (2025-01-31T12:00:00Z) or a relative "
            "time like 15m, 2h, 7d"
        ) from None
    return parsed.timestamp()


def status_filter(value: int | str) -> tuple[str, list[Any]]:
    """SQL condition for a status filter: an HTTP status, ``4xx``, or an outcome word."""
    if isinstance(value, int) and not isinstance(value, bool):
        return "status = ?", [value]
    text = str(value).strip().lower()
    if text.isdigit() and 100 <= int(text) <= 599:
        return "status = ?", [int(text)]
    match = _STATUS_CLASS.fullmatch(text)
    if match:
        base = int(match.group(1)) * 100
        return "status >= ? AND status < ?", [base, base + 100]
    if text in OUTCOMES:
        return "outcome = ?", [text]
    raise ValueError(
        f"bad status {value!r}: use an HTTP status (429), a class (5xx) or one of "
        + ", ".join(OUTCOMES)
    )


def build_where(
    *,
    tenant: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: int | str | None = None,
    since: str | float | None = None,
    until: str | float | None = None,
    now: float | None = None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword; ``1`` if no filter) and its parameters."""
    clauses: list[str] = []
    params: list[Any] = []
    if tenant:
        tenant = tenant.strip().rstrip("/")
        lo, hi = tenant_bounds(tenant)
        clauses.append("(tenant = ? OR (tenant >= ? AND tenant < ?))")
        params += [tenant, lo, hi]
    if model:
        clauses.append("(requested_model = ? OR served_model = ?)")
        params += [model, model]
    if provider:
        clauses.append("provider = ?")
        params.append(provider)
    if status is not None and status != "":
        sql, values = status_filter(status)
        clauses.append(sql)
        params += values
    bounds: dict[str, float] = {}
    for name, value in (("since", since), ("until", until)):
        if value is None or value == "":
            continue
        ts = float(value) if isinstance(value, int | float) else parse_time(value, now=now)
        bounds[name] = ts
        clauses.append("ts >= ?" if name == "since" else "ts < ?")
        params.append(ts)
    if "since" in bounds and "until" in bounds and bounds["since"] > bounds["until"]:
        raise ValueError("--since is later than --until")
    return (" AND ".join(clauses) or "1"), params


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as a plain dict: attempt log decoded, flags as bools."""
    out = dict(row)
    log = out.get("attempt_log")
    if isinstance(log, str):
        with contextlib.suppress(orjson.JSONDecodeError):
            out["attempt_log"] = orjson.loads(log)
    for flag in ("stream", "usage_estimated"):
        if flag in out:
            out[flag] = bool(out[flag])
    return out


def query(
    conn: sqlite3.Connection,
    *,
    tenant: str | None = None,
    model: str | None = None,
    provider: str | None = None,
    status: int | str | None = None,
    since: str | float | None = None,
    until: str | float | None = None,
    limit: int = 50,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Audit rows matching every given filter, newest first, at most ``limit``.

    ``tenant`` matches that tenant and every tenant below it (``acme`` matches ``acme`` and
    ``acme/search`` but not ``acme2``); ``model`` matches the requested or the served model;
    ``status`` is an HTTP status, a class like ``5xx``, or ok|error|rejected|aborted;
    ``since`` (inclusive) and ``until`` (exclusive) take what ``parse_time`` takes.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"bad limit {limit!r}: use a whole number of at least 1")
    where, params = build_where(
        tenant=tenant,
        model=model,
        provider=provider,
        status=status,
        since=since,
        until=until,
        now=now,
    )
    table = sqlite_utils.Database(conn).table("audit_log")
    rows = table.rows_where(where, params, order_by="ts DESC, seq DESC", limit=limit)
    return [decode_row(r) for r in rows]


def get(conn: sqlite3.Connection, id: str) -> dict[str, Any] | None:
    """The row of request ``id``, or None."""
    table = sqlite_utils.Database(conn).table("audit_log")
    for row in table.rows_where("id = ?", [id], limit=1):
        return decode_row(row)
    return None


# -- body-free call rows, for the operator views over a state file -----------------------------

SUMMARY_COLUMNS: tuple[str, ...] = tuple(
    c for c in COLUMNS if c not in ("request_body", "response_body")
)
_SUMMARY_SELECT = "seq, " + ", ".join(SUMMARY_COLUMNS)


def last_seq(conn: sqlite3.Connection) -> int:
    """The ``seq`` of the newest row (0 for an empty log)."""
    return int(conn.execute("SELECT max(seq) FROM audit_log").fetchone()[0] or 0)


def calls_after(conn: sqlite3.Connection, seq: int, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` rows written after ``seq``, oldest first, without the bodies."""
    rows = conn.execute(
        f"SELECT {_SUMMARY_SELECT} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
        (seq, limit),
    )
    return [dict(r) for r in rows]


def newest_calls(
    conn: sqlite3.Connection,
    limit: int,
    *,
    tenant: str | None = None,
    model: str | None = None,
    status: int | str | None = None,
    outcomes: tuple[str, ...] = (),
    upto_seq: int | None = None,
    scan: int | None = None,
) -> list[dict[str, Any]]:
    """The newest ``limit`` rows that match, newest first, without the bodies.

    Filters are those of ``query`` (``tenant`` covers the subtree); ``outcomes`` keeps rows
    with one of those outcomes; ``upto_seq`` ignores rows written after it. ``scan`` bounds
    the work: only the newest ``scan`` rows (of the tenant's subtree, or of the log, after
    the other filters) are looked at for ``outcomes``. Without a tenant the order is the
    order of writing; for a tenant it is arrival time, read from the ``(tenant, ts)`` index.
    """
    where, params = build_where(model=model, status=status)
    if upto_seq is not None:
        where += " AND seq <= ?"
        params.append(upto_seq)
    # -1: no LIMIT in SQLite
    inner_limit = (scan if scan is not None else -1) if outcomes else limit
    order = "ts DESC, seq DESC" if tenant else "seq DESC"
    parts: list[str] = []
    values: list[Any] = []
    for cond, cond_params in _scans(tenant):
        hint = " INDEXED BY audit_log_tenant_ts" if cond_params else ""
        parts.append(
            f"SELECT * FROM (SELECT {_SUMMARY_SELECT} FROM audit_log{hint}"
            f" WHERE {cond} AND {where} ORDER BY {order} LIMIT ?)"
        )
        values += [*cond_params, *params, inner_limit]
    outer = ""
    if outcomes:
        outer = f" WHERE outcome IN ({', '.join('?' * len(outcomes))})"
        values += list(outcomes)
    rows = conn.execute(
        f"SELECT * FROM ({' UNION ALL '.join(parts)}){outer} ORDER BY {order} LIMIT ?",
        [*values, limit],
    )
    return [dict(r) for r in rows]


def _scans(tenant: str | None) -> list[tuple[str, list[Any]]]:
    """Conditions, each one range of the ``(tenant, ts)`` index, that cover ``tenant``'s
    subtree (the whole log without a tenant). A plain OR of the two defeats the index."""
    if not tenant:
        return [("1", [])]
    tenant = tenant.strip().rstrip("/")
    lo, hi = tenant_bounds(tenant)
    return [("tenant = ?", [tenant]), ("tenant >= ? AND tenant < ?", [lo, hi])]


def recent_models(conn: sqlite3.Connection, tenant: str, scan: int) -> list[str]:
    """Models asked for in the newest ``scan`` calls of ``tenant``'s subtree (read from the
    ``(tenant, ts)`` index), most asked for first."""
    parts: list[str] = []
    values: list[Any] = []
    for cond, cond_params in _scans(tenant):
        hint = " INDEXED BY audit_log_tenant_ts" if cond_params else ""
        parts.append(
            f"SELECT * FROM (SELECT requested_model FROM audit_log{hint}"
            f" WHERE {cond} ORDER BY ts DESC LIMIT ?)"
        )
        values += [*cond_params, scan]
    rows = conn.execute(
        f"SELECT requested_model, count(*) AS n FROM ({' UNION ALL '.join(parts)})"
        " WHERE requested_model IS NOT NULL GROUP BY requested_model"
        " ORDER BY n DESC, requested_model",
        values,
    )
    return [str(r[0]) for r in rows]


def activity_by_second(
    conn: sqlite3.Connection, since: float, until: float, *, upto_seq: int | None = None
) -> dict[tuple[str, int], tuple[int, int, int, int]]:
    """Calls of each exact tenant path per second (since the epoch) that arrived in
    ``[since, until]``, written up to ``upto_seq``: ``(requests, tokens in + out, rejected,
    errors)``. Rows without a tenant are left out."""
    extra, params = "", [since, until]
    if upto_seq is not None:
        extra, params = " AND seq <= ?", [*params, upto_seq]
    rows = conn.execute(
        "SELECT tenant, CAST(ts AS INTEGER) AS second, count(*),"
        " sum(input_tokens + output_tokens), sum(outcome = 'rejected'), sum(outcome = 'error')"
        f" FROM audit_log WHERE ts >= ? AND ts <= ? AND tenant != ''{extra}"
        " GROUP BY tenant, second",
        params,
    ).fetchall()
    return {(str(r[0]), int(r[1])): (int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows}
