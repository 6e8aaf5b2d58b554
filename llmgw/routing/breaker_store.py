"""Persisting breaker state and transitions in the SQLite state file.

Tables ``breakers`` (one snapshot per deployment) and ``breaker_events`` (an append-only log
of transitions) come from migration 2 in ``llmgw.store.schema``. Every method opens its own
connection and closes it, so the store can be used from any thread; this is blocking I/O and
belongs on a background thread (the gateway saves every second and on shutdown), never on the
event loop.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmgw.routing.breaker_state import Transition
from llmgw.store.db import open_db, transaction

log = logging.getLogger(__name__)

DEFAULT_RECENT = 50


class BreakerStore:
    """Breaker snapshots and transition events in the state database at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = open_db(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def load(self) -> dict[str, dict[str, Any]]:
        """Every saved snapshot: deployment id -> snapshot. Unreadable rows are skipped."""
        with self._connect() as conn:
            return load_snapshots(conn)

    def save(self, snapshots: Mapping[str, Mapping[str, Any]]) -> None:
        """Upsert the snapshots, all in one transaction."""
        if not snapshots:
            return
        now = time.time()
        rows = [
            (dep, json.dumps(dict(snap), sort_keys=True), now) for dep, snap in snapshots.items()
        ]
        with self._connect() as conn, transaction(conn):
            conn.executemany(
                "INSERT INTO breakers (deployment, snapshot, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (deployment) DO UPDATE SET "
                "snapshot = excluded.snapshot, updated_at = excluded.updated_at",
                rows,
            )

    def record_transitions(self, transitions: Iterable[Transition]) -> None:
        """Append transitions to the event log, in one transaction."""
        rows = [(t.deployment_id, t.at, t.from_state, t.to_state, t.reason) for t in transitions]
        if not rows:
            return
        with self._connect() as conn, transaction(conn):
            conn.executemany(
                "INSERT INTO breaker_events (deployment, at, from_state, to_state, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )

    def recent_transitions(
        self, deployment: str | None = None, limit: int = DEFAULT_RECENT
    ) -> list[Transition]:
        """The latest transitions, newest first; of one deployment, or of all when None."""
        with self._connect() as conn:
            return recent_transitions(conn, deployment, limit)


# -- readers over an open connection (also a read-only one, as the operator tools use) --------


def load_snapshots(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Every saved snapshot: deployment id -> snapshot. Unreadable rows are skipped."""
    rows = conn.execute("SELECT deployment, snapshot FROM breakers").fetchall()
    result: dict[str, dict[str, Any]] = {}
    for deployment, text in rows:
        try:
            snapshot = json.loads(text)
        except ValueError:
            log.warning("ignoring unreadable breaker snapshot for %s", deployment)
            continue
        if isinstance(snapshot, dict):
            result[str(deployment)] = snapshot
    return result


def recent_transitions(
    conn: sqlite3.Connection, deployment: str | None = None, limit: int = DEFAULT_RECENT
) -> list[Transition]:
    """The latest transitions, newest first; of one deployment, or of all when None."""
    sql = "SELECT deployment, at, from_state, to_state, reason FROM breaker_events"
    params: list[Any] = []
    if deployment is not None:
        sql += " WHERE deployment = ?"
        params.append(deployment)
    sql += " ORDER BY at DESC, id DESC LIMIT ?"
    params.append(max(0, int(limit)))
    return [Transition(*row) for row in conn.execute(sql, params).fetchall()]


def saved_retry_after(snapshot: Mapping[str, Any], now: float) -> float:
    """Seconds until a breaker saved open may let a probe through (0 unless it is open)."""
    if str(snapshot.get("state", "closed")) != "open":
        return 0.0
    until = (snapshot.get("opened_at") or 0.0) + (snapshot.get("cooldown_s") or 0.0)
    return max(0.0, until - now)
