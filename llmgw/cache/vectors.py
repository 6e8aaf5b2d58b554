"""One semantic-cache partition's nearest-neighbour index: exact while small, HNSW once large.

The cache keeps one ``VectorIndex`` per (tenant scope, model, context). Vectors are unit
length, so cosine similarity is a dot product.

- Small partitions (fewer than ``hnsw_from`` entries) are searched exactly: one float32 matrix
  (capacity doubles as it fills, halves when it empties to a quarter), one matrix-vector
  product per query, swap-remove. Exact search over n vectors costs about n * dim * 4 bytes of
  memory traffic: fine for thousands, ~11 ms per query at 100,000 x 384 on a small server.
- From ``hnsw_from`` entries on, the partition moves (once; it does not move back) to a
  ``usearch`` HNSW index with float16 vectors and the cosine metric, which searches 100,000
  vectors in well under a millisecond. ``usearch`` reports distances (1 - cosine, rounded to
  float16 precision, about 1e-3); ``search`` turns them back into similarities. The move
  itself builds the graph under the lock: about 0.15 s for 2,048 x 384 on two cores, during
  which searches of that partition wait.

Ids are non-negative integers below 2**63 (the cache's row ids). Adding an id that is already
present replaces its vector. One lock guards everything; a search holds it for one matrix
product or one HNSW query.

``to_bytes``/``from_bytes`` serialise the index (the cache stores large partitions' indexes as
SQLite BLOBs so a restart does not rebuild them): a fixed header, the ids, then either the
float32 matrix or ``usearch``'s own serialisation.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

MAGIC = b"LLMGWVX1"
_HEADER = struct.Struct("<8sBIIQ")  # magic, mode, dim, hnsw_from, count
_EXACT, _HNSW = 0, 1
_MIN_CAPACITY = 16
_MAX_ID = 2**63 - 1


def _hnsw(dim: int) -> Any:
    from usearch.index import Index

    return Index(ndim=dim, metric="cos", dtype="f16")


def _normalised(vectors: np.ndarray, dim: int, count: int) -> np.ndarray:
    """``vectors`` as a fresh C-contiguous float32 ``(count, dim)`` array of unit rows."""
    arr = np.array(vectors, dtype=np.float32, copy=True)
    if arr.ndim == 1 and count == 1:
        arr = arr.reshape(1, -1)
    if arr.shape != (count, dim):
        raise ValueError(f"expected vectors of shape ({count}, {dim}), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("vectors must be finite")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    np.divide(arr, norms, out=arr, where=norms > 0)
    return np.ascontiguousarray(arr)


def _id_array(ids: Sequence[int] | np.ndarray | Iterable[int]) -> np.ndarray:
    arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError("ids must be a flat sequence of integers")
    if int(arr.min()) < 0 or int(arr.max()) > _MAX_ID:
        raise ValueError("ids must be between 0 and 2**63 - 1")
    return arr.astype(np.int64)


class VectorIndex:
    """Nearest neighbours by cosine similarity among unit vectors, keyed by integer ids."""

    def __init__(self, dim: int, *, hnsw_from: int = 2048) -> None:
        if dim < 1:
            raise ValueError("dim must be positive")
        if hnsw_from < 1:
            raise ValueError("hnsw_from must be positive")
        self.dim = dim
        self.hnsw_from = hnsw_from
        self._lock = threading.Lock()
        # exact mode
        self._matrix = np.zeros((_MIN_CAPACITY, dim), dtype=np.float32)
        self._ids = np.zeros(_MIN_CAPACITY, dtype=np.int64)
        self._rows: dict[int, int] = {}
        # HNSW mode (None while exact)
        self._hnsw: Any = None
        self._keys: set[int] = set()

    # -- queries ---------------------------------------------------------------------------

    @property
    def uses_hnsw(self) -> bool:
        """True once the index has moved to HNSW."""
        return self._hnsw is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys) if self._hnsw is not None else len(self._rows)

    def __contains__(self, id: object) -> bool:
        if not isinstance(id, int | np.integer):
            return False
        with self._lock:
            return int(id) in (self._keys if self._hnsw is not None else self._rows)

    def search(self, vector: np.ndarray, k: int = 4) -> list[tuple[int, float]]:
        """The ``k`` nearest ids and their cosine similarities, most similar first."""
        if k < 1:
            return []
        query = _normalised(np.asarray(vector).reshape(-1), self.dim, 1)[0]
        with self._lock:
            if self._hnsw is not None:
                if not self._keys:
                    return []
                found = self._hnsw.search(query, min(k, len(self._keys)))
                keys, distances = np.asarray(found.keys), np.asarray(found.distances)
                return [
                    (int(key), float(1.0 - dist))
                    for key, dist in zip(keys.tolist(), distances.tolist(), strict=True)
                ]
            n = len(self._rows)
            if n == 0:
                return []
            sims = self._matrix[:n] @ query
            ids = self._ids[:n].copy()
        if k < n:
            top = np.argpartition(-sims, k - 1)[:k]
            order = top[np.argsort(-sims[top], kind="stable")]
        else:
            order = np.argsort(-sims, kind="stable")
        return [(int(ids[i]), float(sims[i])) for i in order]

    # -- changes ---------------------------------------------------------------------------

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add (or replace) one vector per id; ``vectors`` is float32 ``(len(ids), dim)``."""
        keys = _id_array(ids)
        if keys.size == 0:
            return
        rows = _normalised(vectors, self.dim, keys.size)
        # within one call the last vector for an id wins
        _, last = np.unique(keys[::-1], return_index=True)
        keep = np.sort(keys.size - 1 - last)
        keys, rows = keys[keep], rows[keep]
        with self._lock:
            if self._hnsw is not None:
                self._add_hnsw(keys, rows)
            else:
                self._add_exact(keys, rows)
                if len(self._rows) >= self.hnsw_from:
                    self._to_hnsw()

    def remove(self, ids: Iterable[int]) -> None:
        """Remove these ids; ids not in the index are ignored."""
        wanted = [int(i) for i in ids]
        with self._lock:
            if self._hnsw is not None:
                gone = [i for i in wanted if i in self._keys]
                if gone:
                    self._hnsw.remove(np.asarray(gone, dtype=np.uint64))
                    self._keys.difference_update(gone)
                return
            for key in wanted:
                self._remove_exact(key)
            self._shrink()

    # -- exact mode --------------------------------------------------------------------------

    def _add_exact(self, keys: np.ndarray, rows: np.ndarray) -> None:
        fresh = [j for j, key in enumerate(keys.tolist()) if key not in self._rows]
        for j, key in enumerate(keys.tolist()):
            at = self._rows.get(key)
            if at is not None:
                self._matrix[at] = rows[j]
        if not fresh:
            return
        n = len(self._rows)
        self._reserve(n + len(fresh))
        self._matrix[n : n + len(fresh)] = rows[fresh]
        self._ids[n : n + len(fresh)] = keys[fresh]
        for offset, j in enumerate(fresh):
            self._rows[int(keys[j])] = n + offset

    def _reserve(self, needed: int) -> None:
        capacity = len(self._ids)
        if needed <= capacity:
            return
        while capacity < needed:
            capacity *= 2
        self._resize(capacity)

    def _shrink(self) -> None:
        capacity = len(self._ids)
        if capacity > _MIN_CAPACITY and len(self._rows) <= capacity // 4:
            self._resize(max(_MIN_CAPACITY, capacity // 2))

    def _resize(self, capacity: int) -> None:
        n = len(self._rows)
        matrix = np.zeros((capacity, self.dim), dtype=np.float32)
        ids = np.zeros(capacity, dtype=np.int64)
        matrix[:n] = self._matrix[:n]
        ids[:n] = self._ids[:n]
        self._matrix, self._ids = matrix, ids

    def _remove_exact(self, key: int) -> None:
        at = self._rows.pop(key, None)
        if at is None:
            return
        last = len(self._rows)  # the old last row, after the pop
        if at != last:
            moved = int(self._ids[last])
            self._matrix[at] = self._matrix[last]
            self._ids[at] = moved
            self._rows[moved] = at

    # -- HNSW mode ---------------------------------------------------------------------------

    def _to_hnsw(self) -> None:
        n = len(self._rows)
        index = _hnsw(self.dim)
        index.add(self._ids[:n].astype(np.uint64), self._matrix[:n])
        self._hnsw = index
        self._keys = {int(k) for k in self._ids[:n].tolist()}
        self._rows = {}
        self._matrix = np.zeros((0, self.dim), dtype=np.float32)
        self._ids = np.zeros(0, dtype=np.int64)

    def _add_hnsw(self, keys: np.ndarray, rows: np.ndarray) -> None:
        present = [k for k in keys.tolist() if k in self._keys]
        if present:  # usearch refuses duplicate keys: replace = remove, then add
            self._hnsw.remove(np.asarray(present, dtype=np.uint64))
        self._hnsw.add(keys.astype(np.uint64), rows)
        self._keys.update(keys.tolist())

    # -- persistence -------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """The whole index as bytes (see ``from_bytes``)."""
        with self._lock:
            if self._hnsw is not None:
                ids = np.fromiter(sorted(self._keys), dtype=np.int64, count=len(self._keys))
                header = _HEADER.pack(MAGIC, _HNSW, self.dim, self.hnsw_from, ids.size)
                return header + ids.astype("<i8").tobytes() + bytes(self._hnsw.save())
            n = len(self._rows)
            header = _HEADER.pack(MAGIC, _EXACT, self.dim, self.hnsw_from, n)
            return (
                header
                + self._ids[:n].astype("<i8").tobytes()
                + self._matrix[:n].astype("<f4").tobytes()
            )

    @classmethod
    def from_bytes(cls, data: bytes) -> VectorIndex:
        """An index from ``to_bytes`` output; ``ValueError`` if the data is not one."""
        view = memoryview(data)
        if len(view) < _HEADER.size:
            raise ValueError("vector index data is truncated")
        magic, mode, dim, hnsw_from, count = _HEADER.unpack_from(view)
        if magic != MAGIC or mode not in (_EXACT, _HNSW) or dim < 1 or hnsw_from < 1:
            raise ValueError("not vector index data")
        start = _HEADER.size
        end = start + 8 * count
        if len(view) < end:
            raise ValueError("vector index data is truncated")
        ids = np.frombuffer(view[start:end], dtype="<i8").astype(np.int64)
        index = cls(dim, hnsw_from=hnsw_from)
        if mode == _EXACT:
            body = view[end:]
            if len(body) != 4 * dim * count:
                raise ValueError("vector index data has the wrong size")
            matrix = np.frombuffer(body, dtype="<f4").reshape(count, dim)
            index._reserve(count)
            index._matrix[:count] = matrix
            index._ids[:count] = ids
            index._rows = {int(k): row for row, k in enumerate(ids.tolist())}
            if len(index._rows) != count:
                raise ValueError("vector index data repeats an id")
            return index
        from usearch.index import Index

        try:
            restored = Index.restore(bytes(view[end:]))
        except Exception as exc:  # usearch raises ValueError/RuntimeError on bad buffers
            raise ValueError(f"cannot restore the HNSW index: {exc}") from exc
        if restored is None or restored.ndim != dim or len(restored) != count:
            raise ValueError("HNSW index data does not match its header")
        index._hnsw = restored
        index._keys = {int(k) for k in ids.tolist()}
        index._rows = {}
        index._matrix = np.zeros((0, dim), dtype=np.float32)
        index._ids = np.zeros(0, dtype=np.int64)
        return index
