"""The cache's SQLite side: lookups on the caller's thread, writes on one background thread.

Entries live in the state file (``cache_entries``, migration 7) next to the audit log. Reads
are point lookups on a unique index, done where they are needed (the event loop for exact
hits, a worker thread for semantic candidates), each thread with its own read connection.
Everything that writes goes through ``CacheWriter``, a thread that commits in batches: new
entries, hit times (for least-recently-used eviction), per-tenant counters, deletions, and
every ``maintain_s`` seconds the expiry sweep and the size caps. A store that is lost (queue
full — ``QUEUE_MAX`` entries or ``QUEUE_MAX_BYTES`` of their texts — or a crash) costs one
future hit and nothing else; counters are summed in memory and never dropped.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmgw.cache.entry import CachedAnswer
from llmgw.store.db import open_db, transaction
from llmgw.store.keys import tenant_bounds

log = logging.getLogger("llmgw.cache")

QUEUE_MAX = 10_000
QUEUE_MAX_BYTES = 64 * 1024 * 1024  # answer and question text waiting to be stored, at most
BATCH_S = 0.05
EVICT_SLACK = 0.05  # evict down to 95% of a cap, so a full cache does not evict per insert


@dataclass(slots=True, frozen=True)
class Found:
    """A live entry read back for a hit."""

    id: int
    answer: CachedAnswer
    created_at: float
    prompt: str | None = None


@dataclass(slots=True)
class NewEntry:
    """An answer to store, with what its lookup already computed."""

    scope: str
    tenant: str
    model: str
    key: str
    answer: CachedAnswer
    ttl_s: int
    context: str | None = None
    prompt: str | None = None
    vector: bytes | None = None  # float32, when the entry can be matched by meaning
    embedder: str | None = None
    on_stored: Callable[[int], None] | None = None  # called with the new id after commit


def entry_bytes(entry: NewEntry) -> int:
    """About what ``entry`` holds in memory (a character counts as a byte; 512 for the rest)."""
    return 512 + len(entry.answer.content) + len(entry.prompt or "") + len(entry.vector or b"")


class CacheReads:
    """Read-only queries, one SQLite connection per calling thread."""

    def __init__(self, state_path: Path) -> None:
        self.state_path = Path(state_path)
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = open_db(self.state_path, readonly=True)
        return conn

    def exact(self, scope: str, key: str, now: float) -> Found | None:
        row = (
            self.conn()
            .execute(
                "SELECT id, answer, created_at FROM cache_entries "
                "WHERE scope = ? AND key = ? AND expires_at > ?",
                (scope, key, now),
            )
            .fetchone()
        )
        if row is None:
            return None
        return Found(row[0], CachedAnswer.from_json(row[1]), row[2])

    def candidates(
        self, scope: str, model: str, ids: Sequence[int], now: float
    ) -> dict[int, Found]:
        """Live entries among ``ids`` that belong to ``scope`` and ``model`` (a second check:
        a vector index never hands out another scope's entry)."""
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = (
            self.conn()
            .execute(
                f"SELECT id, answer, created_at, prompt FROM cache_entries WHERE id IN ({marks}) "
                "AND scope = ? AND model = ? AND expires_at > ?",
                (*ids, scope, model, now),
            )
            .fetchall()
        )
        return {r[0]: Found(r[0], CachedAnswer.from_json(r[1]), r[2], r[3]) for r in rows}

    def partition(
        self, scope: str, model: str, context: str, embedder: str, after_id: int, now: float
    ) -> list[tuple[int, bytes]]:
        """``(id, vector)`` of a semantic partition's live entries newer than ``after_id``."""
        return [
            (int(r[0]), bytes(r[1]))
            for r in self.conn().execute(
                "SELECT id, embedding FROM cache_entries WHERE scope = ? AND model = ? "
                "AND context = ? AND embedder = ? AND id > ? AND expires_at > ? "
                "AND embedding IS NOT NULL ORDER BY id",
                (scope, model, context, embedder, after_id, now),
            )
        ]

    def partition_size(self, scope: str, model: str, context: str) -> int:
        row = (
            self.conn()
            .execute(
                "SELECT count(*) FROM cache_entries WHERE scope = ? AND model = ? AND context = ?",
                (scope, model, context),
            )
            .fetchone()
        )
        return int(row[0])

    def saved_index(
        self, scope: str, model: str, context: str, embedder: str
    ) -> tuple[int, bytes] | None:
        row = (
            self.conn()
            .execute(
                "SELECT upto, data FROM cache_vectors WHERE scope = ? AND model = ? "
                "AND context = ? AND embedder = ?",
                (scope, model, context, embedder),
            )
            .fetchone()
        )
        return None if row is None else (int(row[0]), bytes(row[1]))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class CacheWriter:
    """The one thread that writes the cache tables."""

    def __init__(
        self,
        state_path: Path,
        *,
        max_entries: int,
        max_bytes: int,
        maintain_s: float = 10.0,
        on_maintain: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.state_path = Path(state_path)
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.maintain_s = maintain_s
        self.on_maintain = on_maintain  # e.g. saving large vector indexes
        self._puts: deque[NewEntry] = deque()
        self._put_bytes = 0  # entry_bytes of what waits in _puts
        self._touches: dict[int, float] = {}
        self._deletes: list[int] = []
        self._counters: dict[tuple[str, str, str], list[int]] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmgw-cache", daemon=True)
        self.dropped = 0

    # -- called from the event loop (no I/O) -------------------------------------------------

    def put(self, entry: NewEntry) -> None:
        size = entry_bytes(entry)
        with self._lock:
            if len(self._puts) >= QUEUE_MAX or self._put_bytes + size > QUEUE_MAX_BYTES:
                self.dropped += 1
                return
            self._puts.append(entry)
            self._put_bytes += size
        self._wake.set()

    def touch(self, entry_id: int, now: float) -> None:
        with self._lock:
            self._touches[entry_id] = now

    def delete(self, ids: Iterable[int]) -> None:
        with self._lock:
            self._deletes.extend(ids)
        self._wake.set()

    def count(self, tenant: str, model: str, kind: str, tokens: int = 0, nanos: int = 0) -> None:
        with self._lock:
            c = self._counters.get((tenant, model, kind))
            if c is None:
                c = self._counters[tenant, model, kind] = [0, 0, 0]
            c[0] += 1
            c[1] += tokens
            c[2] += nanos

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def flush(self) -> None:
        """Write everything queued now (tests, shutdown); on the caller's thread."""
        conn = open_db(self.state_path)
        try:
            self._write(conn)
        finally:
            conn.close()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        conn = open_db(self.state_path)
        next_maintain = time.monotonic() + self.maintain_s
        try:
            while True:
                stopping = self._stop.is_set()
                self._wake.wait(BATCH_S)
                self._wake.clear()
                try:
                    self._write(conn)
                    if stopping or time.monotonic() >= next_maintain:
                        self.maintain(conn)
                        next_maintain = time.monotonic() + self.maintain_s
                except sqlite3.Error:  # a busy or full disk: the next round retries
                    log.exception("cache write failed")
                if stopping:
                    return
        finally:
            conn.close()

    def _take(self) -> tuple[list[NewEntry], dict[int, float], list[int], dict[Any, list[int]]]:
        with self._lock:
            puts, self._puts, self._put_bytes = list(self._puts), deque(), 0
            touches, self._touches = self._touches, {}
            deletes, self._deletes = self._deletes, []
            counters, self._counters = self._counters, {}
        return puts, touches, deletes, counters

    def _write(self, conn: sqlite3.Connection) -> None:
        puts, touches, deletes, counters = self._take()
        if not (puts or touches or deletes or counters):
            return
        stored: list[tuple[NewEntry, int]] = []
        with transaction(conn):
            for e in puts:
                stored.append((e, insert_entry(conn, e)))
            if touches:
                conn.executemany(
                    "UPDATE cache_entries SET last_used_at = max(last_used_at, ?), "
                    "hits = hits + 1 WHERE id = ?",
                    [(at, i) for i, at in touches.items()],
                )
            if deletes:
                conn.executemany("DELETE FROM cache_entries WHERE id = ?", [(i,) for i in deletes])
            if counters:
                conn.executemany(
                    "INSERT INTO cache_counters (tenant, model, kind, calls, saved_tokens, "
                    "saved_nanos) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, model, kind) "
                    "DO UPDATE SET calls = calls + excluded.calls, "
                    "saved_tokens = saved_tokens + excluded.saved_tokens, "
                    "saved_nanos = saved_nanos + excluded.saved_nanos",
                    [(t, m, k, c[0], c[1], c[2]) for (t, m, k), c in counters.items()],
                )
        for entry, new_id in stored:
            if entry.on_stored is not None:
                try:
                    entry.on_stored(new_id)
                except Exception:
                    log.exception("indexing cache entry %s failed", new_id)

    def maintain(self, conn: sqlite3.Connection) -> None:
        """Drop expired entries, then the least recently used beyond the size caps."""
        now = time.time()
        with transaction(conn):
            conn.execute("DELETE FROM cache_entries WHERE expires_at <= ?", (now,))
        evict_over_caps(conn, self.max_entries, self.max_bytes)
        if self.on_maintain is not None:
            self.on_maintain(conn)


def insert_entry(conn: sqlite3.Connection, e: NewEntry) -> int:
    """Insert (or replace the entry with the same scope and key); returns the new id."""
    now = time.time()
    answer = e.answer.to_json().decode()
    size = len(answer) + len(e.prompt or "") + len(e.vector or b"") + 200
    cur = conn.execute(
        "INSERT OR REPLACE INTO cache_entries (scope, tenant, model, key, context, prompt, "
        "embedding, embedder, answer, cost_nanos, tokens, size, source_request, created_at, "
        "expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.scope,
            e.tenant,
            e.model,
            e.key,
            e.context if e.vector is not None else None,
            e.prompt if e.vector is not None else None,
            e.vector,
            e.embedder if e.vector is not None else None,
            answer,
            e.answer.cost_nanos,
            e.answer.input_tokens + e.answer.output_tokens,
            size,
            e.answer.source_request,
            now,
            now + e.ttl_s,
            now,
        ),
    )
    return int(cur.lastrowid or 0)


def evict_over_caps(conn: sqlite3.Connection, max_entries: int, max_bytes: int) -> int:
    """Delete least-recently-used entries until both caps hold with some slack; returns how
    many went."""
    count, size = conn.execute(
        "SELECT count(*), coalesce(sum(size), 0) FROM cache_entries"
    ).fetchone()
    if count <= max_entries and size <= max_bytes:
        return 0
    keep_entries = int(max_entries * (1 - EVICT_SLACK))
    keep_bytes = int(max_bytes * (1 - EVICT_SLACK))
    excess = max(0, count - keep_entries)
    removed = 0
    with transaction(conn):
        if excess:
            removed += conn.execute(
                "DELETE FROM cache_entries WHERE id IN (SELECT id FROM cache_entries "
                "ORDER BY last_used_at LIMIT ?)",
                (excess,),
            ).rowcount
        size = conn.execute("SELECT coalesce(sum(size), 0) FROM cache_entries").fetchone()[0]
        if size > keep_bytes:
            doomed: list[tuple[int]] = []
            for entry_id, entry_size in conn.execute(
                "SELECT id, size FROM cache_entries ORDER BY last_used_at"
            ):
                if size <= keep_bytes:
                    break
                doomed.append((entry_id,))
                size -= entry_size
            conn.executemany("DELETE FROM cache_entries WHERE id = ?", doomed)
            removed += len(doomed)
    return removed


def purge(
    conn: sqlite3.Connection, tenant: str, model: str | None = None
) -> tuple[int, set[tuple[str, str, str]]]:
    """Delete a tenant subtree's entries (``acme`` covers ``acme/…``), optionally one model's.

    Returns how many went and the semantic partitions they were in; those partitions' saved
    vector indexes are dropped too (they are rebuilt from the remaining entries on next use).
    """
    where = "(tenant = ? OR (tenant >= ? AND tenant < ?))"
    params: list[Any] = [tenant, *tenant_bounds(tenant)]
    if model is not None:
        where += " AND model = ?"
        params.append(model)
    with transaction(conn):
        parts = {
            (str(r[0]), str(r[1]), str(r[2]))
            for r in conn.execute(
                f"SELECT DISTINCT scope, model, context FROM cache_entries WHERE {where} "
                "AND context IS NOT NULL",
                params,
            )
        }
        removed = conn.execute(f"DELETE FROM cache_entries WHERE {where}", params).rowcount
        conn.executemany(
            "DELETE FROM cache_vectors WHERE scope = ? AND model = ? AND context = ?", list(parts)
        )
    return int(removed), parts
