"""Opening the SQLite state file: one place that sets the pragmas and applies migrations.

Connections are in autocommit mode (``isolation_level=None``): a single statement commits on
its own, and anything that must be atomic goes in ``with transaction(conn): ...``.

``open_db`` is the raw opener the gateway uses on a path it owns. ``open_state`` is the checked
opener for operator tools (the CLI, ``tui --state``): it refuses a missing file (unless asked to
create one) and a file that is not a llmgw state file, with a one-line ``StateFileError``, and
never migrates someone else's database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llmgw.store.schema import apply_migrations

BUSY_TIMEOUT_MS = 5000

# what callers outside the store name instead of importing sqlite3 themselves
Connection = sqlite3.Connection
DatabaseError = sqlite3.Error


class StateFileError(Exception):
    """The state file is missing, unreadable or not a llmgw state file (a one-line message)."""


def open_db(path: Path, *, readonly: bool = False, shared: bool = False) -> sqlite3.Connection:
    """Open (and, unless ``readonly``, create and migrate) the state database at ``path``.

    Read-write: creates parent directories, WAL journal, ``synchronous=NORMAL``, a 5 s busy
    timeout, foreign keys on, then applies pending migrations. Read-only: opens an existing
    file without writing anything (a missing file raises ``sqlite3.OperationalError``).
    ``shared`` lets other threads use the connection (the caller serialises them).
    Rows come back as ``sqlite3.Row``.
    """
    path = Path(path)
    same_thread = not shared
    if readonly:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=same_thread,
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=same_thread)
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


def check_state(path: Path, *, create: bool = False) -> None:
    """Raise ``StateFileError`` unless ``path`` is a llmgw state file.

    A llmgw state file is a SQLite database with the ``schema_version`` table the migrations
    keep. With ``create``, a missing file or an empty database is fine too (``open_db`` will
    set it up).
    """
    path = Path(path)
    if not path.exists():
        if create:
            return
        raise StateFileError(f"no state at {path} (run llmgw serve or pass --state)")
    if path.is_dir():
        raise StateFileError(f"cannot open state at {path}: it is a directory")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {
                str(r[0])
                for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        raise StateFileError(f"cannot open state at {path}: {exc}") from None
    if "schema_version" in names or (create and not names):
        return
    raise StateFileError(f"cannot open state at {path}: not a llmgw state file")


def open_state(
    path: Path, *, write: bool = False, create: bool = False, shared: bool = False
) -> sqlite3.Connection:
    """Open the state file at ``path`` for an operator tool, after ``check_state``.

    Read-only unless ``write``; ``create`` (with ``write``) makes and migrates a new file.
    Every failure is a ``StateFileError`` with a message fit for one line.
    """
    path = Path(path)
    check_state(path, create=create and write)
    try:
        return open_db(path, readonly=not write, shared=shared)
    except (sqlite3.Error, OSError) as exc:
        raise StateFileError(f"cannot open state at {path}: {exc}") from None


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
