"""Negation for the entity guard: how many negation cues a question holds.

Only the parity matters ("can I take X with Y" / "can I not take X with Y" differ; a double
negation agrees with none). "neither ... nor" counts once; "not only ... but", "... or not" and
an answer's leading "No," do not count at all.
"""

from __future__ import annotations

from llmgw.cache.entity_tokens import Token, is_nt_contraction, low_at
from llmgw.cache.lexicon import NEGATIONS


def negation_cues(toks: list[Token]) -> int:
    """How many negation cues ``toks`` hold ("neither ... nor" counts once)."""
    cues = 0
    seen_neither = False
    for i, t in enumerate(toks):
        if t.kind != "word":
            continue
        low = t.low
        if is_nt_contraction(low):
            cues += 1
        elif low == "not":
            # "not only ... but (also)" and "(whether) ... or not" do not negate anything
            if low_at(toks, i - 1) == "or" or (
                low_at(toks, i + 1) == "only" and _but_follows(toks, i)
            ):
                continue
            cues += 1
        elif low == "no":
            if t.start and t.comma:  # "No, it is not": an answer's interjection
                continue
            cues += 1
        elif low == "nor":
            if not seen_neither:
                cues += 1
        elif low in NEGATIONS:
            seen_neither = seen_neither or low == "neither"
            cues += 1
    return cues


def _but_follows(toks: list[Token], i: int) -> bool:
    """True when "but" comes after token ``i`` in the same sentence."""
    for t in toks[i + 1 :]:
        if t.start:
            return False
        if t.low == "but":
            return True
    return False
