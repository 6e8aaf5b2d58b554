"""Stage-two verification: the similarity threshold and the entity guard together."""

from __future__ import annotations

import math

import pytest

from llmgw.cache import verify as verify_module
from llmgw.cache.verify import DEFAULT_THRESHOLD, MEMO_MAX_CHARS, Verdict, entities_of, verify


def test_default_threshold_is_a_conservative_cosine() -> None:
    assert 0.8 <= DEFAULT_THRESHOLD < 1.0


def test_accepts_a_paraphrase_at_or_above_the_threshold() -> None:
    q, c = "How do I reset my password?", "What is the way to reset my password"
    assert verify(q, c, 0.95, 0.9) == Verdict(True, None, 0.95)
    assert verify(q, c, 0.9, 0.9).accepted  # the threshold itself is enough


def test_refuses_below_the_threshold_or_nan_before_looking_at_entities() -> None:
    q, c = "weather in Paris", "weather in London"
    below = verify(q, c, 0.899, 0.9)
    assert below == Verdict(False, "similarity", 0.899)
    nan = verify(q, q, math.nan, 0.9)
    assert not nan.accepted and nan.reason == "similarity"


@pytest.mark.parametrize(
    ("query", "candidate", "reason"),
    [
        ("What's the weather in Paris?", "What's the weather in London?", "names"),
        ("Should I take 2 tablets?", "Should I take 3 tablets?", "numbers"),
        ("Who won in 2023?", "Who won in 2024?", "dates"),
        (
            "Can I take ibuprofen with alcohol?",
            "Can I not take ibuprofen with alcohol?",
            "negation",
        ),
        ("Convert 5 km to miles", "Convert 5 kg to pounds", "units"),
    ],
)
def test_refuses_entity_mismatches_even_at_full_similarity(
    query: str, candidate: str, reason: str
) -> None:
    verdict = verify(query, candidate, 0.999, DEFAULT_THRESHOLD)
    assert verdict == Verdict(False, reason, 0.999)


def test_candidate_entities_are_memoised_for_short_texts_only() -> None:
    verify_module._memo_extract.cache_clear()
    text = "What is the capital of France?"
    assert entities_of(text) is entities_of(text)
    assert verify_module._memo_extract.cache_info().hits == 1
    long_text = "It rains in Paris. " * (MEMO_MAX_CHARS // 19 + 10)
    first = entities_of(long_text)
    assert first == entities_of(long_text)
    assert verify_module._memo_extract.cache_info().currsize == 1  # the long one was not kept
    assert first.names == {"paris"}
