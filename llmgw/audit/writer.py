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

Durability. ``submit`` is fire and forget: a row is committed within about
``flush_interval_s`` (sooner when ``batch_size`` rows wait), so a crash of the process (SIGKILL,
OOM kill) loses the rows of the last ~50 ms of calls, more if the writer has fallen behind
(at most what is queued). ``submit_durable`` is strict: it returns a future that the writer
thread resolves (``llmgw.audit.commits``) once the row's transaction has committed. The thread
is woken at once and commits everything queued so far in one transaction, then wakes every
waiter of that batch: while one commit runs the next rows gather, so under load one commit
serves many calls (group commit). Durable rows are not refused for a full queue: each has a
caller waiting for it, so their number is bounded by the calls in flight.

The state file is in WAL mode with ``synchronous=NORMAL`` (``llmgw.store.db``), in both modes.
A commit then appends the transaction to the WAL with ``write()`` and does not ``fsync``: once
``COMMIT`` returns, the row is in the operating system's page cache and survives the death of
the process, SIGKILL included; only a power loss or a kernel crash before the next checkpoint
can take the last transactions with it. ``synchronous=FULL`` would close that window too, at
the price of an fsync on every commit; strict mode is about the process dying, so it keeps
NORMAL.

Memory is bounded in rows (``queue_size``) and in bytes (``queue_max_bytes``: the bodies of the
rows not yet committed; durable rows count, but are never refused). A batch is at most
``BATCH_MAX_BYTES`` of bodies. A record's bodies go when its batch is committed, SQLite's
copies of them when the connection is reopened (``REOPEN_AFTER_BYTES``), and the freed heap
pages after the burst (``llmgw.audit.heap``): nothing else keeps a body past its call.

Nothing is dropped on purpose: a full queue (either bound) makes ``submit`` return False and the
caller uses ``submit_async``, which waits for room; while anyone waits, ``congested`` is true
and the gateway holds new calls at the door (``wait_for_room``) before reading their bodies.
A batch that fails for a passing reason (disk full, the file locked for longer than the busy
timeout, an I/O error) is logged and retried with backoff on a fresh connection until it goes
in. Only a row that can never be stored (e.g. a duplicate request id) is logged by id and
counted in ``failed`` (its waiter, if any, gets ``NotCommitted``); bodies never reach the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from llmgw.audit.commits import NotCommitted, Outcome, Waiter, new_waiter, wake
from llmgw.audit.heap import IdleTrim
from llmgw.audit.record import AuditRecord
from llmgw.audit.redact import DEFAULT_REDACTOR, Redactor
from llmgw.audit.rows import (
    PERMANENT,
    Pending,
    encode_rows,
    insert_chained,
    insert_singly,
    row_bytes,
)
from llmgw.store.db import open_db

log = logging.getLogger("llmgw.audit")

RETRY_FIRST_S = 0.05
RETRY_MAX_S = 2.0
DEFAULT_QUEUE_MAX_BYTES = 256 * 1024 * 1024
BATCH_MAX_BYTES = 32 * 1024 * 1024  # bodies per transaction: bounds the thread's working set
# A cached statement keeps copies of its last bound values (up to 256 multi-row INSERTs, one
# batch of bodies each) until finalized: the connection is reopened after this many body bytes.
REOPEN_AFTER_BYTES = 16 * 1024 * 1024


class WriterClosed(RuntimeError):
    """``submit`` after ``close``: the row would never be written."""


Entry = tuple[AuditRecord, Waiter | None]
"""A queued row and, for a durable one, who waits for its commit."""


class AuditWriter:
    """Batched, off-loop writer of ``AuditRecord`` rows into ``audit_log``.

    Stats (read from any thread): ``written`` rows committed, ``pending`` rows submitted but
    not yet committed, ``batches`` transactions committed, ``failed`` rows that could not be
    stored at all; ``held_bytes`` what the rows not yet committed hold (``rows.row_bytes``).
    ``redactor`` redacts the bodies of ``retention = "redacted"`` rows (built-in patterns only
    by default; pass ``Redactor(settings' redact_patterns)`` for custom ones).
    """

    def __init__(
        self,
        path: Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.05,
        queue_size: int = 10_000,
        queue_max_bytes: int = DEFAULT_QUEUE_MAX_BYTES,
        redactor: Redactor | None = None,
    ) -> None:
        if batch_size < 1 or queue_size < 1 or queue_max_bytes < 1 or flush_interval_s <= 0:
            raise ValueError(
                "batch_size, queue_size and queue_max_bytes must be >= 1, flush_interval_s > 0"
            )
        self.path = Path(path)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.queue_size = queue_size
        self.queue_max_bytes = queue_max_bytes
        self.redactor = redactor if redactor is not None else DEFAULT_REDACTOR
        self._queue: deque[Entry] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._submitted = 0
        self._closing = False
        self._stopped = False  # the thread has ended (closed, or died of a bug)
        self._waiting: set[Waiter] = set()  # durable rows not yet resolved
        self.held_bytes = 0  # row_bytes of every row submitted and not yet committed
        self._room_waiters = 0  # submit_async calls waiting for room
        self._bound = 0  # body bytes bound to statements of the current connection
        self.trim = IdleTrim()  # free heap pages go back to the OS after a burst of bodies
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.written = 0
        self.batches = 0
        self.failed = 0

    # -- event-loop side -------------------------------------------------------------------

    def submit(self, rec: AuditRecord) -> bool:
        """Queue ``rec`` (no I/O). False if the queue is full, in rows or in bytes, or rows
        submitted earlier are waiting for room: use ``submit_async`` then."""
        return self._offer(rec, row_bytes(rec), queue_jump=False)

    def _offer(self, rec: AuditRecord, size: int, *, queue_jump: bool) -> bool:
        with self._lock:
            if self._closing:
                raise WriterClosed("the audit writer is closed")
            if len(self._queue) >= self.queue_size or (self._room_waiters and not queue_jump):
                return False
            # one row alone always fits, whatever its size, so a huge row cannot wait forever
            if self.held_bytes and self.held_bytes + size > self.queue_max_bytes:
                return False
            self._queue.append((rec, None))
            self.held_bytes += size
            self._submitted += 1
            waiting = len(self._queue)
        if waiting >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        return True

    async def submit_async(self, rec: AuditRecord) -> None:
        """Queue ``rec``, waiting (without blocking the loop) until the queue has room.

        While it waits, plain ``submit`` refuses every row, so rows that came later cannot
        overtake it for ever, and ``congested`` is true."""
        size = row_bytes(rec)
        self._room_waiters += 1
        try:
            await self._until(lambda: self._offer(rec, size, queue_jump=True))
        finally:
            self._room_waiters -= 1

    @property
    def congested(self) -> bool:
        """Rows are waiting for room, or the queue is full in rows or in bytes."""
        return bool(
            self._room_waiters
            or len(self._queue) >= self.queue_size
            or self.held_bytes >= self.queue_max_bytes
        )

    async def wait_for_room(self) -> None:
        """Return once the writer is no longer ``congested`` (or is closing).

        The gateway awaits this before it reads a new call's body: the back-pressure that
        keeps rows waiting for room (each holding its bodies) from piling up without bound."""
        await self._until(lambda: not self.congested or self._closing)

    async def _until(self, done: Callable[[], bool]) -> None:
        delay = 0.001
        while not done():
            self._wake.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.flush_interval_s)

    def submit_durable(self, rec: AuditRecord) -> asyncio.Future[None]:
        """Queue ``rec`` and return a future resolved once its row is committed.

        Call from the event loop. The future gets ``NotCommitted`` if the row can never be
        stored or the writer stops without storing it; cancelling it does not withdraw the row.
        Raises ``WriterClosed`` after ``close`` (or if the writer thread has died).
        """
        waiter = new_waiter()
        with self._lock:
            if self._closing or self._stopped:
                raise WriterClosed("the audit writer is closed")
            self._queue.append((rec, waiter))
            self.held_bytes += row_bytes(rec)
            self._submitted += 1
            self._waiting.add(waiter)
        if not self._wake.is_set():
            self._wake.set()
        return waiter.future

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
        """Write everything queued, stop the thread; False if it did not finish in time.

        Every durable waiter is resolved when this returns: committed, or ``NotCommitted``
        for rows still unwritten when ``timeout`` ran out (they may still go in later).
        """
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
            self._fail_waiting("the audit writer was closed before this row was committed")
        return done

    def _fail_waiting(self, why: str) -> None:
        """Wake every unresolved durable waiter with ``NotCommitted``."""
        with self._lock:
            waiting, self._waiting = self._waiting, set()
        if waiting:
            wake([(waiter, NotCommitted(why)) for waiter in waiting])

    # -- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                self._wake.wait(self.flush_interval_s)
                self._wake.clear()
                if not self._queue and self.trim.due():
                    self._reset_connection()  # SQLite's copies of the last bodies go too
                    self.trim.run()
                while self._queue:
                    self._write_batch(*self._take(self.batch_size))
                if self._closing and not self._queue:
                    break
        finally:
            with self._lock:
                self._stopped = True
            self._fail_waiting("the audit writer stopped before this row was committed")
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _take(self, n: int) -> tuple[list[Entry], int]:
        """Up to ``n`` rows and ``BATCH_MAX_BYTES`` (one row at least), with their bytes."""
        queue = self._queue
        batch: list[Entry] = []
        size = 0
        while queue and len(batch) < n:  # only this thread takes: no lock needed
            rec_size = row_bytes(queue[0][0])
            if batch and size + rec_size > BATCH_MAX_BYTES:
                break
            batch.append(queue.popleft())
            size += rec_size
        return batch, size

    def _write_batch(self, batch: list[Entry], size: int = 0) -> None:
        """Commit ``batch`` (``size`` bytes), retrying passing failures; then wake its waiters."""
        rows, kept = encode_rows([entry[0] for entry in batch], self.redactor)
        rejected: set[int] = set()  # positions in ``rows``
        singly = False
        delay = RETRY_FIRST_S
        while rows:
            try:
                if singly:
                    rejected = self._insert_singly(rows)
                else:
                    self._insert(rows)
                break
            except PERMANENT as exc:
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
            self.written += len(rows) - len(rejected)
            self.failed += len(batch) - len(rows) + len(rejected)
            self._progress.notify_all()
        self._settle(batch, set(kept) - {kept[i] for i in rejected})
        self._bound += size
        if self._bound >= REOPEN_AFTER_BYTES:  # and the statements' copies of them
            self._reset_connection()
        self.trim.passed(size)
        with self._lock:
            self.held_bytes -= size

    def _settle(self, batch: list[Entry], stored: set[int]) -> None:
        """Wake the waiters of ``batch``; ``stored`` holds the positions that were committed."""
        outcomes: list[Outcome] = [
            (waiter, None if i in stored else NotCommitted(f"audit row {rec.id} cannot be stored"))
            for i, (rec, waiter) in enumerate(batch)
            if waiter is not None
        ]
        if outcomes:
            with self._lock:
                self._waiting.difference_update(waiter for waiter, _ in outcomes)
            wake(outcomes)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = open_db(self.path)
        return self._conn

    def _reset_connection(self) -> None:
        self._bound = 0
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _insert(self, rows: list[Pending]) -> None:
        """All rows in one transaction, chained to the stored head (or raises)."""
        insert_chained(self._connection(), rows)
        self.batches += 1

    def _insert_singly(self, rows: list[Pending]) -> set[int]:
        """Row by row; returns the positions that could not go in (``rows.insert_singly``)."""
        rejected = insert_singly(self._connection(), rows)
        self.batches += 1
        return rejected
