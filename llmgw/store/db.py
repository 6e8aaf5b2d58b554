"""Opening the SQLite state file: one place that sets the pragmas and applies migrations.

Connections are in autocommit mode (``isolation_level=None``): a single statement commits on
its own, and anything that must be atomic goes in ``with transaction(conn): ...``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llmgw.store.schema import apply_migrations

BUSY_TIMEOUT_MS = 5000


def open_db(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (and, unless ``readonly``, create and migrate) the state database at ``path``.

    Read-write: creates parent directories, WAL journal, ``synchronous=NORMAL``, a 5 s busy
    timeout, foreign keys on, then applies pending migrations. Read-only: opens an existing
    file without writing anything (a missing file raises ``sqlite3.OperationalError``).
    Rows come back as ``sqlite3.Row``.
    """
    path = Path(path)
    if readonly:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            apply_migrations(conn)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[None]:
    """Run the block in one transaction: commit on success, roll back on any exception."""
    conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
