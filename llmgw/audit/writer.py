"""The audit writer: a bounded in-memory queue drained by one thread that commits in batches.

The event loop calls ``submit`` (a lock, a length check and a deque append: no I/O) at the end
of every call. A daemon thread owns its own SQLite connection; every ``flush_interval_s``, or
as soon as ``batch_size`` rows are waiting, it takes up to ``batch_size`` rows at a time and
inserts them in one transaction.

Each row is hash-chained to the one before it (``llmgw.audit.chain``): the canonical encoding
is built before the transaction, and the link is made inside it, right after reading the last
stored hash under ``BEGIN IMMEDIATE``, so the chain stays linear across restarts and when
several processes write the same file. Bodies and error messages of ``retention = "redacted"``
rows are redacted (``llmgw.audit.redact``) and the bodies of ``"metadata"`` rows dropped, here,
before anything is hashed or stored. All of this runs in the writer thread, never on the event loop.

Nothing is dropped on purpose: a full queue makes ``submit`` return False and the caller uses
``submit_async``, which waits for room. A batch that fails for a passing reason (disk full, the
file locked for longer than the busy timeout, an I/O error) is logged and retried with backoff
on a fresh connection until it goes in. Only a row that can never be stored (e.g. a duplicate
request id) is logged by id and counted in ``failed``; bodies never reach the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from llmgw.audit.chain import CHAINED_INSERT_HEAD, STORED_COLUMNS, canonical, chain_rows, link
from llmgw.audit.chain import last_hash as chain_head
from llmgw.audit.record import AuditRecord
from llmgw.audit.redact import DEFAULT_REDACTOR, Redactor
from llmgw.store.db import open_db

log = logging.getLogger("llmgw.audit")

RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
# errors that say the row itself is bad, so retrying the same row cannot help
_PERMANENT = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


class WriterClosed(RuntimeError):
    """``submit`` after ``close``: the row would never be written."""


class AuditWriter:
    """Batched, off-loop writer of ``AuditRecord`` rows into ``audit_log``.

    Stats (read from any thread): ``written`` rows committed, ``pending`` rows submitted but
    not yet committed, ``batches`` transactions committed, ``failed`` rows that could not be
    stored at all. ``redactor`` redacts the bodies of ``retention = "redacted"`` rows (built-in
    patterns only by default; pass ``Redactor(settings' redact_patterns)`` for custom ones).
    """

    def __init__(
        self,
        path: Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.05,
        queue_size: int = 10_000,
        redactor: Redactor | None = None,
    ) -> None:
        if batch_size < 1 or queue_size < 1 or flush_interval_s <= 0:
            raise ValueError("batch_size and queue_size must be >= 1, flush_interval_s > 0")
        self.path = Path(path)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.queue_size = queue_size
        self.redactor = redactor if redactor is not None else DEFAULT_REDACTOR
        self._queue: deque[AuditRecord] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._submitted = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.written = 0
        self.batches = 0
        self.failed = 0

    # -- event-loop side -------------------------------------------------------------------

    def submit(self, rec: AuditRecord) -> bool:
        """Queue ``rec`` (no I/O). False if the queue is full: use ``submit_async`` then."""
        with self._lock:
            if self._closing:
                raise WriterClosed("the audit writer is closed")
            if len(self._queue) >= self.queue_size:
                return False
            self._queue.append(rec)
            self._submitted += 1
            waiting = len(self._queue)
        if waiting >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    async def submit_async(self, rec: AuditRecord) -> None:
        """Queue ``rec``, waiting (without blocking the loop) until the queue has room."""
        delay = 0.001
        while not self.submit(rec):
            self._wake.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.flush_interval_s)

    @property
    def pending(self) -> int:
        return self._submitted - self.written - self.failed

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="llmgw-audit", daemon=True)
        self._thread.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every row submitted so far is committed; False if ``timeout`` ran out."""
        self.start()
        target = self._submitted
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._progress:
            while self.written + self.failed < target:
                self._wake.set()
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._progress.wait(0.05 if left is None else min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Write everything queued, stop the thread; False if it did not finish in time."""
        with self._lock:
            self._closing = True
        self.start()
        self._wake.set()
        assert self._thread is not None
        self._thread.join(timeout)
        done = not self._thread.is_alive()
        if not done:
            log.error(
                "audit writer did not finish in %.1fs; %d rows pending", timeout, self.pending
            )
        return done

    # -- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.flush_interval_s)
                self._wake.clear()
                while self._queue:
                    self._write_batch(self._take(self.batch_size))
                if self._closing and not self._queue:
                    break
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _take(self, n: int) -> list[AuditRecord]:
        queue = self._queue
        batch: list[AuditRecord] = []
        while queue and len(batch) < n:
            batch.append(queue.popleft())
        return batch

    def _write_batch(self, batch: list[AuditRecord]) -> None:
        """Commit ``batch``; retry passing failures until it goes in."""
        rows, unencodable = _rows(batch, self.redactor)
        rejected = 0
        singly = False
        delay = RETRY_FIRST_S
        while rows:
            try:
                rejected = self._insert_singly(rows) if singly else self._insert(rows)
                break
            except _PERMANENT as exc:
                log.error(
                    "audit batch of %d rows rejected (%s); writing row by row", len(rows), exc
                )
                singly = True
            except Exception as exc:  # disk full, locked, I/O: wait and try again
                log.error(
                    "audit batch of %d rows failed (%s: %s); retrying in %.2fs",
                    len(rows),
                    type(exc).__name__,
                    exc,
                    delay,
                )
                self._reset_connection()
                time.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        with self._progress:
            self.written += len(rows) - rejected
            self.failed += unencodable + rejected
            self._progress.notify_all()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_db(self.path)
        return self._conn

    def _reset_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _insert(self, rows: list[Pending]) -> int:
        """All rows in one transaction, chained to the stored head; returns 0 or raises."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            chained, _ = chain_rows([r[0] for r in rows], [r[1] for r in rows], chain_head(conn))
            insert_many(conn, chained)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.batches += 1
        return 0

    def _insert_singly(self, rows: list[Pending]) -> int:
        """One transaction, one savepoint per row; returns how many rows could not go in.

        The chain advances only past rows that went in, so a rejected row leaves no gap.
        """
        conn = self._connection()
        rejected = 0
        conn.execute("BEGIN IMMEDIATE")
        try:
            prev = chain_head(conn)
            for row, payload in rows:
                conn.execute("SAVEPOINT one")
                digest = link(payload, prev)
                try:
                    conn.execute(_SINGLE_SQL, (*row, prev, digest))
                    prev = digest
                except _PERMANENT as exc:
                    conn.execute("ROLLBACK TO one")
                    log.error("audit row %s cannot be stored: %s", row[0], exc)
                    rejected += 1
                conn.execute("RELEASE one")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self.batches += 1
        return rejected


Pending = tuple[tuple[Any, ...], bytes]
"""A row's ``COLUMNS`` values and their canonical encoding, ready to be chained."""


def _rows(batch: list[AuditRecord], redactor: Redactor) -> tuple[list[Pending], int]:
    """Rows for ``batch`` (bodies redacted or dropped by retention) with their canonical
    encodings; records that cannot be encoded are logged by id and skipped."""
    rows: list[Pending] = []
    bad = 0
    for rec in batch:
        try:
            row = rec.to_row()
            if rec.retention != "full":
                row = _retained(row, rec, redactor)
            payload = canonical(row)
        except Exception as exc:
            log.error("audit row %s cannot be encoded: %s", getattr(rec, "id", "?"), exc)
            bad += 1
            continue
        rows.append((row, payload))
    return rows, bad


def _retained(row: tuple[Any, ...], rec: AuditRecord, redactor: Redactor) -> tuple[Any, ...]:
    """``row`` with the bodies its retention allows: redacted, or none for "metadata".

    A "redacted" row's error message is redacted as its bodies are (it may quote the request
    back); a "metadata" row's message already holds no upstream text (``error_text``).
    """
    values = list(row)
    if rec.retention == "redacted":
        values[_BODY_AT] = redactor.body(rec.request_body)
        values[_BODY_AT + 1] = redactor.body(rec.response_body)
        if rec.error_message:
            values[_ERROR_AT] = redactor.text(rec.error_message)
    else:
        values[_BODY_AT] = values[_BODY_AT + 1] = None
    return tuple(values)


_BODY_AT = STORED_COLUMNS.index("request_body")
assert STORED_COLUMNS[_BODY_AT + 1] == "response_body"
_ERROR_AT = STORED_COLUMNS.index("error_message")
_PLACEHOLDERS = "(" + ", ".join("?" * len(STORED_COLUMNS)) + ")"
_SINGLE_SQL = f"{CHAINED_INSERT_HEAD} VALUES {_PLACEHOLDERS}"
# Rows per multi-row INSERT: 27 columns x 256 rows stays far below SQLite's 32,766 variables.
ROWS_PER_STATEMENT = 256
_MULTI_SQL: dict[int, str] = {}


def insert_many(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Insert chained ``rows`` (``STORED_COLUMNS`` order) with one multi-row ``INSERT`` per chunk.

    ``executemany`` steps the statement once per row and releases and retakes the GIL each
    time; on a busy gateway every retake forces the event-loop thread to hand the GIL over.
    One statement per chunk of rows keeps the writer thread out of the event loop's way
    (measured: 20% more gateway throughput than ``executemany``).
    """
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        sql = _MULTI_SQL.get(len(chunk))
        if sql is None:
            values = ", ".join([_PLACEHOLDERS] * len(chunk))
            sql = _MULTI_SQL[len(chunk)] = f"{CHAINED_INSERT_HEAD} VALUES {values}"
        conn.execute(sql, [value for row in chunk for value in row])
