"""Matching by meaning: embeddings, one vector index per partition, two-stage verification.

A partition is ``(scope, model, context)``: the tenant scope, the public model, and the hash of
everything in the call but its last message (``llmgw.cache.keys.context_key``). Keying the
index by context *is* the first verification stage: a candidate can only come from a call
with the same parameters, system prompt and earlier conversation. The second stage is
``llmgw.cache.verify``: similarity at or above the threshold and the same key entities
(numbers, dates, names, places, negation).

Nothing is loaded at start: a partition is read from SQLite the first time a call needs it —
at once when it is small, on a background thread (from its saved index plus newer rows) when
it is large, answering misses meanwhile. Big partitions' indexes are saved back to SQLite by
the cache writer, so a restart does not rebuild them. Everything here runs on worker threads,
never on the event loop.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from llmgw.cache.embedder import Embedder, EmbedderUnavailable, load_embedder
from llmgw.cache.store import CacheReads, Found
from llmgw.cache.vectors import VectorIndex
from llmgw.cache.verify import DEFAULT_THRESHOLD, verify

log = logging.getLogger("llmgw.cache")

Partition = tuple[str, str, str]  # scope, public model, context hash
LOAD_INLINE_BELOW = 4096  # partitions smaller than this load on the call that needs them
SAVE_FROM = 2048  # partitions at least this big have their index saved to SQLite
CANDIDATES = 4
EMBEDDER_WAIT_S = 30.0


@dataclass(slots=True)
class _Part:
    index: VectorIndex | None = None  # None while loading
    pending: list[tuple[int, np.ndarray]] = field(default_factory=list)  # adds during a load
    upto: int = 0  # highest entry id in the index
    dirty: bool = False  # changed since it was last saved
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(slots=True, frozen=True)
class SemanticResult:
    """A semantic lookup: the hit if there was one, and the query's vector for storing."""

    found: Found | None
    similarity: float | None
    vector: bytes | None
    reason: str | None = None  # why the best candidate was refused, or "warming"


class SemanticIndex:
    """Every loaded partition, and the embedder (loaded once, on first need or at warm-up)."""

    def __init__(self, reads: CacheReads, embedder_name: str) -> None:
        self.reads = reads
        self.embedder_name = embedder_name
        self._embedder: Embedder | None = None
        self._embedder_error: str | None = None
        self._embedder_ready = threading.Event()
        self._embedder_lock = threading.Lock()
        self._parts: dict[Partition, _Part] = {}
        self._parts_lock = threading.Lock()

    # -- the embedder ------------------------------------------------------------------------

    def warm(self) -> None:
        """Load the embedding model on a background thread (start-up stays fast)."""
        threading.Thread(target=self.embedder, name="llmgw-embedder", daemon=True).start()

    def embedder(self) -> Embedder | None:
        """The embedder, loading it on first use; None (logged once) when it cannot load."""
        if self._embedder_ready.is_set():
            return self._embedder
        with self._embedder_lock:
            if not self._embedder_ready.is_set():
                try:
                    started = time.perf_counter()
                    self._embedder = load_embedder(self.embedder_name)
                    log.info(
                        "semantic cache: embedder %s loaded in %.2fs",
                        self.embedder_name,
                        time.perf_counter() - started,
                    )
                except EmbedderUnavailable as exc:
                    self._embedder_error = str(exc)
                    log.error("semantic cache disabled: %s", exc)
                finally:
                    self._embedder_ready.set()
        return self._embedder

    @property
    def embedder_error(self) -> str | None:
        return self._embedder_error

    def embed(self, text: str) -> np.ndarray | None:
        embedder = self.embedder()
        if embedder is None:
            return None
        vec: np.ndarray = embedder.embed([text])[0]
        return vec

    # -- lookups (worker threads) ------------------------------------------------------------

    def lookup(
        self,
        part: Partition,
        question: str,
        threshold: float | None,
        now: float,
    ) -> SemanticResult:
        """The best verified paraphrase of ``question`` in ``part``, if any."""
        vec = self.embed(question)
        if vec is None:
            return SemanticResult(None, None, None, "unavailable")
        raw = vec.astype(np.float32).tobytes()
        index = self._partition(part, now)
        if index is None:
            return SemanticResult(None, None, raw, "warming")
        limit = DEFAULT_THRESHOLD if threshold is None else threshold
        near = [(i, s) for i, s in index.search(vec, CANDIDATES) if s >= limit]
        if not near:
            return SemanticResult(None, None, raw)
        scope, model, _ = part
        rows = self.reads.candidates(scope, model, [i for i, _ in near], now)
        gone = [i for i, _ in near if i not in rows]
        if gone:  # expired, evicted, purged or flagged since they were indexed
            index.remove(gone)
        reason = None
        for entry_id, similarity in near:
            found = rows.get(entry_id)
            if found is None or found.prompt is None:
                continue
            verdict = verify(question, found.prompt, similarity, limit)
            if verdict.accepted:
                return SemanticResult(found, similarity, raw)
            reason = reason or verdict.reason
        return SemanticResult(None, None, raw, reason)

    def _partition(self, part: Partition, now: float) -> VectorIndex | None:
        with self._parts_lock:
            state = self._parts.get(part)
            if state is None:
                state = self._parts[part] = _Part()
                fresh = True
            else:
                fresh = False
        if not fresh:
            return state.index
        scope, model, context = part
        if self.reads.partition_size(scope, model, context) < LOAD_INLINE_BELOW:
            self._load(part, state, now)
            return state.index
        threading.Thread(
            target=self._load, args=(part, state, now), name="llmgw-cache-load", daemon=True
        ).start()
        return None

    def _load(self, part: Partition, state: _Part, now: float) -> None:
        """Fill a partition: its saved index if any, then every newer live entry."""
        scope, model, context = part
        embedder = self.embedder()
        dim = embedder.dim if embedder is not None else 384
        index: VectorIndex | None = None
        upto = 0
        saved: tuple[int, bytes] | None = None
        rows: list[tuple[int, bytes]] = []
        try:
            saved = self.reads.saved_index(scope, model, context, self.embedder_name)
            if saved is not None:
                upto, blob = saved
                index = VectorIndex.from_bytes(blob)
            if index is None:
                index = VectorIndex(dim)
            rows = self.reads.partition(scope, model, context, self.embedder_name, upto, now)
            if rows:
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                index.add(ids, vecs.reshape(len(rows), dim))
                upto = max(upto, int(ids[-1]))
        except Exception:  # a broken saved index or row: start this partition empty
            log.exception("loading semantic partition failed; starting it empty")
            index, upto = VectorIndex(dim), 0
        with state.lock:
            for entry_id, vec in state.pending:
                index.add([entry_id], vec.reshape(1, -1))
                upto = max(upto, entry_id)
            state.pending.clear()
            state.index, state.upto = index, upto
            state.dirty = saved is None or bool(rows)
        self.reads.close()  # loader threads do not live on

    # -- changes (the cache writer's thread) -------------------------------------------------

    def add(self, part: Partition, entry_id: int, vector: bytes) -> None:
        """Index a new entry if its partition is loaded (else it is read when it is)."""
        with self._parts_lock:
            state = self._parts.get(part)
        if state is None:
            return
        vec = np.frombuffer(vector, dtype=np.float32)
        with state.lock:
            if state.index is None:
                state.pending.append((entry_id, vec))
                return
            state.index.add([entry_id], vec.reshape(1, -1))
            state.upto = max(state.upto, entry_id)
            state.dirty = True

    def forget(self, parts: set[Partition] | None = None) -> None:
        """Drop loaded partitions (all of them with None): they reload from SQLite on use."""
        with self._parts_lock:
            if parts is None:
                self._parts.clear()
            else:
                for part in parts:
                    self._parts.pop(part, None)

    def save_large(self, conn: sqlite3.Connection) -> int:
        """Save the index of every large partition that changed; returns how many."""
        with self._parts_lock:
            items = list(self._parts.items())
        saved = 0
        for (scope, model, context), state in items:
            with state.lock:
                index = state.index
                if index is None or not state.dirty or len(index) < SAVE_FROM:
                    continue
                blob, upto = index.to_bytes(), state.upto
                state.dirty = False
            conn.execute(
                "INSERT OR REPLACE INTO cache_vectors (scope, model, context, embedder, upto, "
                "data, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (scope, model, context, self.embedder_name, upto, blob, time.time()),
            )
            saved += 1
        return saved

    def sizes(self) -> dict[Partition, int]:
        with self._parts_lock:
            return {p: len(s.index) for p, s in self._parts.items() if s.index is not None}
