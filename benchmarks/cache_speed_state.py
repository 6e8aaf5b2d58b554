"""Building the state file of part 2 of ``cache_speed.py``: one semantic partition, filled.

The real questions are embedded one at a time with the real embedder; synthetic entries are
normalised random mixtures of 2-4 real embeddings plus Gaussian noise, so they cluster like real
ones (``nearest_real_similarity`` reports how close). Every entry is written to
``cache_entries`` in the gateway's own partition (``partition_of``), and the partition's
``VectorIndex`` is built and saved in ``cache_vectors`` as the gateway's cache writer saves large
partitions. ``stored_state`` reads back what a kept state file holds.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from cache_speed_gateway import EMBEDDER, PUBLIC_MODEL, SCOPE, TENANT, UPSTREAM_MODEL, chat_body

SYNTHETIC_PREFIX = "Synthetic filler entry"
ENTRY_TTL_S = 30 * 86_400  # long enough to reuse a --keep-state file for a while


def partition_of(question: str) -> tuple[str, str, str]:
    """The gateway's partition for a ``temperature: 0`` call of tenant bench to model bench."""
    from llmgw.cache.keys import context_key
    from llmgw.wire.openai import CODEC

    req = CODEC.decode_request(json.loads(chat_body(question)))
    return SCOPE, PUBLIC_MODEL, context_key(SCOPE, PUBLIC_MODEL, req)


def exact_key_of(question: str) -> str:
    from llmgw.cache.keys import exact_key
    from llmgw.wire.openai import CODEC

    return exact_key(SCOPE, PUBLIC_MODEL, CODEC.decode_request(json.loads(chat_body(question))))


def embed_all(texts: Sequence[str]) -> tuple[np.ndarray, float]:
    """Every text embedded one at a time, as the gateway embeds a question (batches are no
    faster with this int8 model on one thread, and pad short texts to the longest)."""
    from llmgw.cache.embedder import load_embedder

    embedder = load_embedder(EMBEDDER)
    started = time.perf_counter()
    vectors = [embedder.embed([text])[0] for text in texts]
    return np.stack(vectors).astype(np.float32), time.perf_counter() - started


def synthetic_vectors(real: np.ndarray, count: int, seed: int, noise: float) -> np.ndarray:
    """Unit vectors that are random mixtures of 2-4 real embeddings plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, real.shape[1]), dtype=np.float32)
    chunk = 10_000
    for start_at in range(0, count, chunk):
        n = min(chunk, count - start_at)
        k = int(rng.integers(2, 5))
        picks = rng.integers(0, len(real), size=(n, k))
        weights = rng.dirichlet(np.ones(k) * 0.7, size=n).astype(np.float32)
        mixed = np.einsum("nk,nkd->nd", weights, real[picks])
        mixed += rng.standard_normal(mixed.shape).astype(np.float32) * (
            noise / np.sqrt(real.shape[1])
        )
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        out[start_at : start_at + n] = mixed
    return out


def nearest_real_similarity(
    synthetic: np.ndarray, real: np.ndarray, sample: int
) -> dict[str, float]:
    """How close synthetic vectors are to their nearest real one (cosine), on a sample."""
    rng = np.random.default_rng(1)
    rows = synthetic[rng.choice(len(synthetic), size=min(sample, len(synthetic)), replace=False)]
    best = (rows @ real.T).max(axis=1)
    real_sims = real[: min(sample, len(real))] @ real.T
    np.fill_diagonal(real_sims, -1.0)
    real_best = real_sims.max(axis=1)
    return {
        "synthetic_to_nearest_real_p50": round(float(np.median(best)), 3),
        "synthetic_to_nearest_real_p90": round(float(np.percentile(best, 90)), 3),
        "real_to_nearest_other_real_p50": round(float(np.median(real_best)), 3),
    }


def build_state(
    state: Path, pool: list[str], entries: int, seed: int, noise: float
) -> dict[str, Any]:
    """Fill one semantic partition of ``state`` and save its vector index; returns timings."""
    from llmgw.cache.entry import CachedAnswer
    from llmgw.cache.vectors import VectorIndex
    from llmgw.store.db import open_db, transaction

    info: dict[str, Any] = {}
    real, took = embed_all(pool)
    info["pool_sentences"] = len(pool)
    info["pool_embed_s"] = round(took, 2)
    info["pool_embed_ms_per_sentence"] = round(took * 1000 / len(pool), 2)
    n_synth = max(0, entries - len(pool))
    started = time.perf_counter()
    synth = synthetic_vectors(real, n_synth, seed, noise)
    info["synthetic_entries"] = n_synth
    info["synthetic_make_s"] = round(time.perf_counter() - started, 2)
    info["synthetic_noise_norm"] = noise
    info["synthetic_shape"] = (
        "normalised random mixture of 2-4 real embeddings (Dirichlet weights) + Gaussian noise"
    )
    info.update(nearest_real_similarity(synth, real, 1000))

    part = partition_of(pool[0])
    now = time.time()
    order = np.random.default_rng(seed).permutation(len(pool) + n_synth)

    def row(i: int) -> tuple[Any, ...]:
        if i < len(pool):
            prompt, key, vec = pool[i], exact_key_of(pool[i]), real[i]
        else:
            j = i - len(pool)
            prompt = f"{SYNTHETIC_PREFIX} {j}: a question stored by another caller"
            key, vec = hashlib.sha256(f"synthetic-{j}".encode()).hexdigest(), synth[j]
        answer = (
            CachedAnswer(
                content=f"A cached answer to entry {i}.",
                served_model=UPSTREAM_MODEL,
                provider="upstream",
                input_tokens=14,
                output_tokens=16,
                cost_nanos=11_700,
                source_request=f"bench-{i:07d}",
            )
            .to_json()
            .decode()
        )
        blob = vec.astype(np.float32).tobytes()
        size = len(answer) + len(prompt) + len(blob) + 200
        source = f"bench-{i:07d}"
        expires = now + ENTRY_TTL_S
        return (
            *(SCOPE, TENANT, PUBLIC_MODEL, key, part[2], prompt, blob, EMBEDDER, answer),
            *(11_700, 30, size, source, now, expires, now),
        )

    conn = open_db(state)
    try:
        started = time.perf_counter()
        rows = [row(int(i)) for i in order]
        with transaction(conn):
            conn.executemany(
                "INSERT INTO cache_entries (scope, tenant, model, key, context, prompt, embedding, "
                "embedder, answer, cost_nanos, tokens, size, source_request, created_at, "
                "expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        del rows
        info["insert_s"] = round(time.perf_counter() - started, 2)

        started = time.perf_counter()
        stored = conn.execute(
            "SELECT id, embedding FROM cache_entries WHERE scope = ? AND model = ? "
            "AND context = ? AND embedder = ? ORDER BY id",
            (*part, EMBEDDER),
        ).fetchall()
        ids = np.fromiter((r[0] for r in stored), dtype=np.int64, count=len(stored))
        vecs = np.frombuffer(b"".join(bytes(r[1]) for r in stored), dtype=np.float32)
        info["read_rows_s"] = round(time.perf_counter() - started, 2)
        del stored

        started = time.perf_counter()
        index = VectorIndex(384)
        index.add(ids, vecs.reshape(len(ids), 384))
        info["index_build_s"] = round(time.perf_counter() - started, 2)
        info["index_uses_hnsw"] = index.uses_hnsw

        started = time.perf_counter()
        blob = index.to_bytes()
        with transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO cache_vectors (scope, model, context, embedder, upto, "
                "data, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*part, EMBEDDER, int(ids.max()), blob, time.time()),
            )
        info["index_save_s"] = round(time.perf_counter() - started, 2)
        info["index_bytes"] = len(blob)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return info


def stored_state(state: Path) -> tuple[list[str], int, bool]:
    """The real questions in a built state file, its entry count, and whether an index is saved."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        prompts = [
            str(r[0])
            for r in conn.execute(
                "SELECT prompt FROM cache_entries WHERE scope = ? AND model = ? AND expires_at > ? "
                "AND prompt NOT LIKE ?",
                (SCOPE, PUBLIC_MODEL, time.time(), SYNTHETIC_PREFIX + "%"),
            )
        ]
        count = conn.execute(
            "SELECT count(*) FROM cache_entries WHERE scope = ? AND model = ? AND expires_at > ?",
            (SCOPE, PUBLIC_MODEL, time.time()),
        ).fetchone()[0]
        saved = conn.execute("SELECT count(*) FROM cache_vectors").fetchone()[0] > 0
    finally:
        conn.close()
    return prompts, int(count), bool(saved)


def print_build(b: dict[str, Any]) -> None:
    print(
        f"  embedded {b['pool_sentences']} real questions in {b['pool_embed_s']} s "
        f"({b['pool_embed_ms_per_sentence']} ms each, one at a time); "
        f"{b['synthetic_entries']} synthetic vectors ({b['synthetic_shape']}; nearest-real "
        f"cosine p50 {b['synthetic_to_nearest_real_p50']}, real-to-other-real p50 "
        f"{b['real_to_nearest_other_real_p50']})"
    )
    print(
        f"  insert {b['insert_s']} s, read back {b['read_rows_s']} s, index build "
        f"{b['index_build_s']} s (HNSW: {b['index_uses_hnsw']}), save {b['index_save_s']} s "
        f"({b['index_bytes'] / 1e6:.1f} MB); build total {b['total_s']} s",
        flush=True,
    )
