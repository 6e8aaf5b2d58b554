"""Storage of replay and shadow runs: ``replay_runs`` and ``replay_results`` (schema v5).

A run is a named batch of re-sent calls: a replay started from the CLI, or the shadow run
``shadow:<model>`` that live traffic is mirrored into. Each result is linked to the original
call's audit id, so a run can be compared with the recorded answers or with another run.
Money is integer nano-dollars. Functions take an open connection (``llmgw.store.db.open_db``)
and do one statement each, so callers decide about threads and transactions.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import orjson

RUN_STATUSES: tuple[str, ...] = ("running", "done", "stopped", "shadow")
SHADOW_PREFIX = "shadow:"


@dataclass(slots=True, frozen=True)
class RunResult:
    """One re-sent call: its outcome, timings, usage and (encoded) answer."""

    original_id: str
    status: str  # "ok" | "error"
    latency_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0
    response_body: str | None = None
    error_class: str | None = None
    finished_at: float = 0.0


def shadow_run_name(model: str) -> str:
    """The run that shadow traffic for ``model`` is stored in."""
    return f"{SHADOW_PREFIX}{model}"


def get_run(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    """The ``replay_runs`` row of ``name`` (``source_filter`` decoded), or None."""
    row = conn.execute("SELECT * FROM replay_runs WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    out = dict(row)
    out["source_filter"] = orjson.loads(out.get("source_filter") or "{}")
    return out


def create_run(
    conn: sqlite3.Connection,
    name: str,
    target: str,
    source_filter: dict[str, Any],
    *,
    kind: str = "replay",
    max_cost_nanos: int | None = None,
    status: str = "running",
) -> bool:
    """Create run ``name`` unless it exists; True when this call created it."""
    now = time.time()
    cur = conn.execute(
        "INSERT OR IGNORE INTO replay_runs (name, created_at, target, source_filter, status, "
        "kind, max_cost_nanos, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            name,
            now,
            target,
            orjson.dumps(source_filter).decode(),
            status,
            kind,
            max_cost_nanos,
            now,
        ),
    )
    return cur.rowcount == 1


def set_status(conn: sqlite3.Connection, name: str, status: str) -> None:
    """Record a run's new status (``running``, ``done``, ``stopped``)."""
    if status not in RUN_STATUSES:
        raise ValueError(f"bad run status {status!r}")
    conn.execute(
        "UPDATE replay_runs SET status = ?, updated_at = ? WHERE name = ?",
        (status, time.time(), name),
    )


def save_result(conn: sqlite3.Connection, run: str, result: RunResult) -> None:
    """Store one result (a later result for the same original replaces the earlier one)."""
    conn.execute(
        "INSERT OR REPLACE INTO replay_results (run, original_id, status, latency_ms, ttft_ms, "
        "input_tokens, output_tokens, cost_nanos, response_body, error_class, finished_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run,
            result.original_id,
            result.status,
            result.latency_ms,
            result.ttft_ms,
            result.input_tokens,
            result.output_tokens,
            int(result.cost_nanos),
            result.response_body,
            result.error_class,
            result.finished_at or time.time(),
        ),
    )


def done_ids(conn: sqlite3.Connection, run: str) -> set[str]:
    """Original ids that already have a result in ``run`` (what ``--resume`` skips)."""
    rows = conn.execute("SELECT original_id FROM replay_results WHERE run = ?", (run,))
    return {r[0] for r in rows}


def run_spend(conn: sqlite3.Connection, run: str) -> int:
    """Nano-dollars spent by ``run`` so far."""
    row = conn.execute(
        "SELECT COALESCE(SUM(cost_nanos), 0) FROM replay_results WHERE run = ?", (run,)
    ).fetchone()
    return int(row[0])


def results(conn: sqlite3.Connection, run: str) -> dict[str, dict[str, Any]]:
    """Every result of ``run`` by original id."""
    rows = conn.execute("SELECT * FROM replay_results WHERE run = ?", (run,))
    return {r["original_id"]: dict(r) for r in rows}


def list_runs(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every run, newest first, with its result counts (ok / error) and spend in nanos."""
    rows = conn.execute(
        "SELECT r.name, r.created_at, r.target, r.kind, r.status, r.source_filter, "
        "r.max_cost_nanos, COUNT(x.original_id) AS results, "
        "COALESCE(SUM(x.status = 'ok'), 0) AS ok, COALESCE(SUM(x.status != 'ok'), 0) AS errors, "
        "COALESCE(SUM(x.cost_nanos), 0) AS cost_nanos "
        "FROM replay_runs r LEFT JOIN replay_results x ON x.run = r.name "
        "GROUP BY r.name ORDER BY r.created_at DESC, r.name"
    )
    out = []
    for r in rows:
        item = dict(r)
        item["source_filter"] = orjson.loads(item.get("source_filter") or "{}")
        out.append(item)
    return out
