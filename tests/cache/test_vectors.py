"""The per-partition vector index: exact search while small, HNSW once large."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from llmgw.cache.vectors import VectorIndex

DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def clustered(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """Unit vectors in loose clusters (closer to real sentence embeddings than pure noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 20), dim))
    picks = rng.integers(0, len(centres), n)
    return unit(centres[picks] + 0.6 * rng.standard_normal((n, dim)))


def brute_force(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray) -> tuple[int, float]:
    sims = vectors @ query
    best = int(np.argmax(sims))
    return int(ids[best]), float(sims[best])


def test_empty_index() -> None:
    index = VectorIndex(DIM)
    assert len(index) == 0
    assert index.search(unit(np.ones(DIM))) == []
    assert 1 not in index
    index.remove([1, 2])  # unknown ids are ignored
    assert len(index) == 0


def test_exact_search_finds_the_true_nearest_with_its_cosine() -> None:
    vectors = clustered(500)
    ids = np.arange(1000, 1500)
    index = VectorIndex(DIM, hnsw_from=10_000)
    index.add(ids, vectors)
    assert len(index) == 500 and not index.uses_hnsw
    queries = clustered(50, seed=1)
    for q in queries:
        hits = index.search(q, k=5)
        best_id, best_sim = brute_force(vectors, ids, q)
        assert hits[0][0] == best_id
        assert hits[0][1] == pytest.approx(best_sim, abs=1e-5)
        sims = [s for _, s in hits]
        assert sims == sorted(sims, reverse=True) and len(hits) == 5
    # k larger than the index: everything, best first
    assert len(index.search(queries[0], k=10_000)) == 500


def test_hnsw_search_recall_after_the_switch() -> None:
    vectors = clustered(1500, seed=2)
    ids = np.arange(1, 1501)
    index = VectorIndex(DIM, hnsw_from=64)
    index.add(ids[:40], vectors[:40])
    assert not index.uses_hnsw
    index.add(ids[40:], vectors[40:])  # crosses hnsw_from
    assert index.uses_hnsw and len(index) == 1500
    assert all(int(i) in index for i in ids)
    queries = clustered(200, seed=3)
    found = 0
    for q in queries:
        hits = index.search(q, k=4)
        best_id, best_sim = brute_force(vectors, ids, q)
        found += hits[0][0] == best_id
        # similarities come back as cosines (float16 storage: about 1e-3)
        top = dict(hits).get(best_id)
        if top is not None:
            assert top == pytest.approx(best_sim, abs=5e-3)
    assert found / len(queries) >= 0.95


def test_adding_one_at_a_time_switches_at_the_threshold() -> None:
    vectors = clustered(80, seed=4)
    index = VectorIndex(DIM, hnsw_from=64)
    for i, v in enumerate(vectors):
        index.add([i], v.reshape(1, -1))
        assert index.uses_hnsw == (i + 1 >= 64)
    assert len(index) == 80
    assert index.search(vectors[70], k=1)[0][0] == 70


@pytest.mark.parametrize("hnsw_from", [10_000, 16])
def test_remove_and_replace(hnsw_from: int) -> None:
    vectors = clustered(40, seed=5)
    index = VectorIndex(DIM, hnsw_from=hnsw_from)
    index.add(list(range(40)), vectors)
    assert index.uses_hnsw == (hnsw_from <= 40)

    index.remove([3, 7, 999])
    assert len(index) == 38 and 3 not in index and 7 not in index
    assert index.search(vectors[3], k=1)[0][0] != 3
    assert all(i not in {3, 7} for i, _ in index.search(vectors[7], k=40))

    # re-adding an id replaces its vector
    index.add([5], vectors[20:21])
    assert len(index) == 38
    hits = index.search(vectors[20], k=2)
    assert {i for i, _ in hits} == {5, 20}
    assert hits[0][1] == pytest.approx(1.0, abs=5e-3)
    assert all(i != 5 for i, _ in index.search(vectors[5], k=1))

    # a removed id can come back
    index.add([3], vectors[3:4])
    assert 3 in index and index.search(vectors[3], k=1)[0][0] == 3


def test_exact_mode_swap_remove_keeps_every_row_findable() -> None:
    vectors = clustered(200, seed=6)
    index = VectorIndex(DIM, hnsw_from=10_000)
    index.add(np.arange(200), vectors)
    rng = np.random.default_rng(7)
    gone = set(rng.choice(200, 170, replace=False).tolist())
    index.remove(gone)
    left = [i for i in range(200) if i not in gone]
    assert len(index) == 30
    for i in left:
        hit_id, sim = index.search(vectors[i], k=1)[0]
        assert hit_id == i and sim == pytest.approx(1.0, abs=1e-5)
    index.add(np.arange(1000, 1100), clustered(100, seed=8))  # grows again after shrinking
    assert len(index) == 130 and index.search(vectors[left[0]], k=1)[0][0] == left[0]


def test_last_vector_wins_within_one_add() -> None:
    vectors = clustered(3, seed=9)
    for hnsw_from in (10_000, 1):
        index = VectorIndex(DIM, hnsw_from=hnsw_from)
        index.add([1, 2, 1], vectors)
        assert len(index) == 2
        assert index.search(vectors[2], k=1)[0][0] == 1
        assert index.search(vectors[0], k=2)[0][1] < 0.999


def test_vectors_are_normalised_and_validated() -> None:
    index = VectorIndex(3)
    index.add([1], np.array([[3.0, 0.0, 0.0]]))  # not unit length: normalised
    assert index.search(np.array([0.5, 0.0, 0.0]))[0] == (1, pytest.approx(1.0))
    with pytest.raises(ValueError):
        index.add([1, 2], np.ones((1, 3)))
    with pytest.raises(ValueError):
        index.add([1], np.ones((1, 4)))
    with pytest.raises(ValueError):
        index.add([-1], np.ones((1, 3)))
    with pytest.raises(ValueError):
        index.add([1], np.array([[np.nan, 0, 0]]))
    with pytest.raises(ValueError):
        VectorIndex(0)
    index.add([], np.zeros((0, 3)))  # nothing to add is fine
    assert len(index) == 1
    assert index.search(np.array([1.0, 0, 0]), k=0) == []


@pytest.mark.parametrize("hnsw_from", [10_000, 64])
def test_round_trip_through_bytes(hnsw_from: int) -> None:
    vectors = clustered(300, seed=10)
    ids = np.arange(10, 310)
    index = VectorIndex(DIM, hnsw_from=hnsw_from)
    index.add(ids, vectors)
    index.remove([10, 11, 12])
    blob = index.to_bytes()
    assert isinstance(blob, bytes)

    copy = VectorIndex.from_bytes(blob)
    assert copy.uses_hnsw == index.uses_hnsw == (hnsw_from <= 300)
    assert copy.dim == DIM and copy.hnsw_from == hnsw_from
    assert len(copy) == len(index) == 297
    assert 10 not in copy and 13 in copy
    for q in clustered(30, seed=11):
        assert copy.search(q, k=3) == index.search(q, k=3)
    # the copy is a live index of its own
    copy.add([5000], vectors[:1])
    assert 5000 in copy and 5000 not in index
    copy.remove([13])
    assert 13 in index and 13 not in copy


def test_from_bytes_rejects_bad_data() -> None:
    index = VectorIndex(DIM, hnsw_from=8)
    index.add(np.arange(20), clustered(20, seed=12))
    blob = index.to_bytes()
    small = VectorIndex(DIM)
    small.add([1, 2], clustered(2, seed=13))
    for bad in [b"", b"garbage" * 10, blob[:40], blob[:-100], small.to_bytes()[:-4]]:
        with pytest.raises(ValueError):
            VectorIndex.from_bytes(bad)


def test_empty_index_round_trips() -> None:
    copy = VectorIndex.from_bytes(VectorIndex(DIM).to_bytes())
    assert len(copy) == 0 and copy.search(unit(np.ones(DIM))) == []


def test_concurrent_adds_and_searches() -> None:
    vectors = clustered(400, seed=14)
    index = VectorIndex(DIM, hnsw_from=100)
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        try:
            for i in range(offset, 400, 4):
                index.add([i], vectors[i : i + 1])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for q in vectors[:100]:
                for i, s in index.search(q, k=3):
                    assert 0 <= i < 400 and -1.01 <= s <= 1.01
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(o,)) for o in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 400 and index.uses_hnsw
    assert index.search(vectors[123], k=1)[0][0] == 123
