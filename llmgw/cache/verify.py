"""Stage two of a semantic hit: similar enough, and about the same things.

Stage one (same system prompt, parameters and earlier conversation) is the cache's own: a
candidate only ever comes from the partition of the same context hash. Here a candidate found by
the vector index is accepted when its cosine similarity to the query reaches the threshold and
``entities.disagreement`` finds nothing the two questions differ in (numbers, dates, names,
units, negation).

``DEFAULT_THRESHOLD`` comes from ``benchmarks/cache_quality.py``: the lowest threshold at which
false hits stay at or below 1% overall and on the hardest negatives (each statement against its
most similar *different* statement), with the entity guard on. On the GPTCache paraphrase set
that is 0.94: 46% of paraphrases hit, 0.17% of 5,343 negatives do (0.9% of the hard ones);
at 0.90 it would be 69% and 0.64% (3.4%). Cosine similarities here are those of
all-MiniLM-L6-v2 vectors; another embedder needs its own threshold.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from llmgw.cache.entities import Entities, disagreement, extract

DEFAULT_THRESHOLD: float = 0.94
# Texts longer than this are not memoised (the cache would hold on to large prompts).
MEMO_MAX_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a candidate may answer the query; ``reason`` says why not."""

    accepted: bool
    reason: str | None  # None when accepted; "similarity" or an entities.disagreement kind
    similarity: float


@functools.lru_cache(maxsize=2048)
def _memo_extract(text: str) -> Entities:
    return extract(text)


def entities_of(text: str) -> Entities:
    """``extract(text)``, memoised for texts up to ``MEMO_MAX_CHARS`` characters.

    Cached questions come back as candidates again and again, and one query is checked against
    several candidates, so both sides repeat.
    """
    if len(text) <= MEMO_MAX_CHARS:
        return _memo_extract(text)
    return extract(text)


def verify(query: str, candidate: str, similarity: float, threshold: float) -> Verdict:
    """Accept ``candidate``'s cached answer for ``query`` or say why not."""
    if not similarity >= threshold:  # also refuses NaN
        return Verdict(False, "similarity", similarity)
    reason = disagreement(entities_of(query), entities_of(candidate))
    return Verdict(reason is None, reason, similarity)
