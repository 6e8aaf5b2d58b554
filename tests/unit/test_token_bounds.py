"""Bounded token counting: pieces, the byte bound, sampled estimates, the off-loop counter,
and the reservation that prices each deployment at the most input it can bill."""

from __future__ import annotations

import asyncio
import os
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgw.accounting.estimate import (
    INLINE_CHARS,
    estimate_completion,
    estimate_prompt,
    estimate_shape,
)
from llmgw.accounting.offload import Offload
from llmgw.accounting.pieces import PIECE_CHARS, boundary, pieces
from llmgw.accounting.pricing import PriceBook
from llmgw.accounting.prompt import (
    BOUND_TOKENS_PER_MESSAGE,
    IMAGE_TOKENS_BOUND,
    REPLY_PRIMING_TOKENS,
    prompt_shape,
    utf8_len,
)
from llmgw.accounting.tokens import (
    CL100K,
    O200K,
    count_completion,
    count_prompt,
    count_text,
    encoded_len,
    get_encoding,
    provider_encoding,
)
from llmgw.gateway.limiter import prompt_inputs
from llmgw.limits.reserve import worst_case
from llmgw.providers.mock_engine import estimate_input_tokens, text_tokens
from llmgw.settings.schema import Price
from llmgw.types import ChatRequest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
LETTERS = bytes(range(97, 123))


def letters(n: int) -> str:
    return os.urandom(n).translate((LETTERS * 10)[:256]).decode()


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


ADVERSARIAL = {
    "spaces": " " * 30_000,
    "newlines": "\n" * 30_000,
    "repeated letter": "a" * 30_000,
    "random letters": "".join(random.Random(1).choices("abcdefghijklmnopqrstuvwxyz", k=30_000)),
    "emoji": "\U0001f600" * 7_500,
    "cjk": "".join(chr(random.Random(2).randrange(0x4E00, 0x9FFF)) for _ in range(10_000)),
    "ideographic spaces": "\u3000" * 10_000,
    "zero width spaces": "\u200b" * 10_000,
    "combining marks": "e" + "\u0301" * 15_000,
}

# ------------------------------------------------------------------------------- pieces


def test_pieces_cover_the_text_and_stay_short() -> None:
    text = README * 3
    parts = list(pieces(text))
    assert "".join(parts) == text
    assert len(parts) > 1 and all(len(p) <= PIECE_CHARS for p in parts)
    assert list(pieces("short")) == ["short"]
    assert list(pieces("")) == [""]


@pytest.mark.parametrize("name", [O200K, CL100K])
def test_pieces_count_exactly_like_the_whole_text(name: str) -> None:
    enc = get_encoding(name)
    mixed = (README + " Grüße, 東京は晴れ。 📦 x=1_000_000;\n\tdef f(): return 42\n") * 6
    for text in (README * 4, mixed):
        assert len(text) > 4 * PIECE_CHARS
        assert encoded_len(enc, text) == len(enc.encode_ordinary(text))


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from([*"ab Z9'.,!?-\n\t", "é", "東", "\u3000", "😀"]),
        min_size=0,
        max_size=300,
    ),
    st.sampled_from([O200K, CL100K]),
)
def test_cuts_at_boundaries_never_change_the_count(text: str, name: str) -> None:
    """With tiny pieces, every cut placed at a boundary keeps the exact count."""
    enc = get_encoding(name)
    parts = list(pieces(text, 16))
    assert "".join(parts) == text
    cuts, at = [], 0
    for part in parts[:-1]:
        at += len(part)
        cuts.append(at)
    if all(boundary(text, c - 1, c + 1) == c for c in cuts):
        assert sum(len(enc.encode_ordinary(p)) for p in parts) == len(enc.encode_ordinary(text))


def test_whitespace_runs_that_overflow_tiktoken_are_counted() -> None:
    """Whole, these raise pyo3's PanicException (a BaseException) from the regex engine."""
    assert count_text("gpt-4o", " " * 1_200_000) > 0
    assert count_text("claude-sonnet-4-5", "\u3000" * 1_400_000) > 0


def test_cost_grows_linearly_with_one_giant_pre_token() -> None:
    """64 KB -> 1 MB of letters without a space: 16x the text. Before pieces, 87x the time
    (24 ms -> 2.1 s); linear is 16x. Timings are the best of three to ride out a busy host."""
    enc = get_encoding(O200K)

    def best(text: str) -> float:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            encoded_len(enc, text)
            times.append(time.perf_counter() - t0)
        return min(times)

    small, large = letters(64_000), letters(1_024_000)
    assert best(large) / best(small) < 40


# ----------------------------------------------------------------------------- the bound


@pytest.mark.parametrize("shape", sorted(ADVERSARIAL))
def test_bound_is_above_every_count_and_the_mocks_bill(shape: str) -> None:
    messages = [{"role": "system", "content": "Be brief."}, *user(ADVERSARIAL[shape])]
    bound = prompt_shape(messages).bound
    for model in ("gpt-4o", "gpt-4", "claude-sonnet-4-5"):
        assert count_prompt(model, messages).tokens <= bound
    assert estimate_input_tokens(messages) <= bound


def test_bound_counts_bytes_and_allowances() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "name": "ann", "content": "héllo"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a":1}'}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "東京"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            ],
        },
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    shape = prompt_shape(messages, tools)
    audio = len(b'{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}')
    texts = ["user", "ann", "héllo", "assistant", "c1", "f", '{"a":1}', "user", "東京"]  # c1: id
    expected = (
        REPLY_PRIMING_TOKENS
        + 3 * BOUND_TOKENS_PER_MESSAGE
        + 8  # the tool call's allowance
        + sum(utf8_len(t) for t in texts)
        + IMAGE_TOKENS_BOUND
        + audio
        + len(b'[{"type":"function","function":{"name":"f","parameters":{}}}]')
    )
    assert shape.bound == expected
    assert (
        shape.overhead + sum(len(get_encoding(O200K).encode_ordinary(t)) for t in shape.texts)
        == count_prompt("gpt-4o", messages, tools).tokens
    )
    assert utf8_len("\ud800") == 3  # a lone surrogate from JSON does not raise


def test_mock_bills_ascii_by_fours_and_the_rest_by_bytes() -> None:
    assert text_tokens("abcdefgh") == 2
    assert text_tokens("abcde") == 2
    assert text_tokens("😀") == 4
    assert text_tokens("東京") == 6
    assert text_tokens("ab東") == 1 + 3
    assert estimate_input_tokens(user(" " * 400_000)) == 4 + 100_000


# ----------------------------------------------------------------------- bounded estimates


def test_estimate_is_exact_up_to_the_inline_size() -> None:
    text = README[: INLINE_CHARS - 200]
    for model in ("gpt-4o", "claude-haiku-4-5"):
        assert estimate_prompt(model, user(text)) == count_prompt(model, user(text))
        assert estimate_completion(model, text) == count_completion(model, text)


def corpus() -> str:
    """This repository's Python and Markdown: prose, code, tables, a few hundred KB."""
    root = Path(__file__).resolve().parents[2]
    files = sorted([*root.glob("llmgw/**/*.py"), *root.glob("*.md")])
    return "\n".join(f.read_text() for f in files)[:600_000]


def test_large_ordinary_text_is_sampled_within_ten_percent() -> None:
    text = corpus()
    exact = count_prompt("gpt-4o", user(text)).tokens
    estimate = estimate_prompt("gpt-4o", user(text))
    assert estimate.estimated
    assert abs(estimate.tokens - exact) / exact < 0.1
    completion = estimate_completion("gpt-4o", text)
    assert completion.estimated and abs(completion.tokens - exact) / exact < 0.1


def test_sampled_estimate_is_capped_without_encoding() -> None:
    shape = prompt_shape(user("\U0001f600" * 100_000))
    assert shape._bound is None
    assert estimate_shape("gpt-4o", shape).tokens <= shape.cheap_bound
    assert shape._bound is None  # the estimate never paid for the exact byte count
    assert shape.bound == REPLY_PRIMING_TOKENS + BOUND_TOKENS_PER_MESSAGE + 4 + 400_000


def test_many_small_messages_are_sampled_too() -> None:
    messages = [{"role": "user", "content": f"message number {i}"} for i in range(5_000)]
    exact = count_prompt("gpt-4o", messages).tokens
    assert abs(estimate_prompt("gpt-4o", messages).tokens - exact) / exact < 0.1


# ------------------------------------------------------------------------ the offload


def test_small_prompts_are_counted_inline() -> None:
    offload = Offload()
    shape = prompt_shape(user("Say hello."))
    assert (
        asyncio.run(offload.count(O200K, shape))
        == count_prompt("gpt-4o", user("Say hello.")).tokens
    )
    assert offload._executor is None  # no thread was needed


def test_large_prompts_are_counted_exactly_on_the_thread() -> None:
    offload = Offload(wait_s=30)
    text = README * 6
    got = asyncio.run(offload.count(O200K, prompt_shape(user(text))))
    offload.close()
    assert got == count_prompt("gpt-4o", user(text)).tokens
    assert offload.queued_chars == 0


def test_a_count_past_its_wait_gives_none_and_stops() -> None:
    offload = Offload(wait_s=0.01)
    shape = prompt_shape(user(letters(3_000_000)))  # seconds of BPE
    t0 = time.perf_counter()
    assert asyncio.run(offload.count(O200K, shape)) is None
    assert time.perf_counter() - t0 < 1.0
    deadline = time.monotonic() + 5  # the thread stops at its next piece
    while offload.queued_chars and time.monotonic() < deadline:
        time.sleep(0.01)
    assert offload.queued_chars == 0
    offload.close()


def test_a_full_backlog_answers_none_at_once() -> None:
    offload = Offload(backlog_chars=100_000)
    assert asyncio.run(offload.count(O200K, prompt_shape(user(README * 8)))) is None
    assert offload._executor is None and offload.queued_chars == 0


# ------------------------------------------------------------------------ the reservation

BOOK = PriceBook(
    [
        Price("gpt-4o-mini", Decimal("0.15"), Decimal("0.60"), provider="openai"),
        Price("claude-haiku-4-5", Decimal("1"), Decimal("5"), provider="anthropic"),
        Price("gpt-4o-mini", Decimal("0.15"), Decimal("0.60"), provider="mock"),
    ]
)


def test_provider_encoding_is_ours_only_at_openai() -> None:
    assert provider_encoding("openai", "gpt-4o-mini") == O200K
    assert provider_encoding("openai", "gpt-4") == CL100K
    assert provider_encoding("openai", "llama-3.1-8b") is None
    assert provider_encoding("mock", "gpt-4o-mini") is None
    assert provider_encoding("anthropic", "claude-haiku-4-5") is None


def test_each_deployment_is_priced_at_its_own_input() -> None:
    pairs = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")]
    r = worst_case(
        BOOK,
        pairs,
        100,
        10,
        4096,
        Decimal("1"),
        billed_inputs={pairs[0]: 100, pairs[1]: 1000},
    )
    assert r.tokens == 110  # TPM: the count plus the output bound
    assert r.cost_nanos == 1000 * 1000 + 10 * 5000  # claude's bound is the priciest


def test_exact_count_for_openai_and_the_byte_bound_elsewhere() -> None:
    text = " " * 40_000  # o200k packs it into ~300 tokens; other tokenizers need not
    req = ChatRequest(model="chat", messages=user(text))
    shape = prompt_shape(req.messages)
    pairs = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5"), ("mock", "gpt-4o-mini")]
    tokens, billed = asyncio.run(prompt_inputs(Offload(wait_s=30), req, pairs, "gpt-4o-mini"))
    exact = count_prompt("gpt-4o-mini", req.messages).tokens
    assert tokens == exact < 1000
    assert billed[pairs[0]] == exact
    assert billed[pairs[1]] == billed[pairs[2]] == shape.bound > 40_000


def test_without_our_tokenizer_tpm_takes_the_estimate() -> None:
    req = ChatRequest(model="chat", messages=user(README * 4))
    pairs = [("anthropic", "claude-haiku-4-5")]
    tokens, billed = asyncio.run(prompt_inputs(Offload(), req, pairs, "claude-haiku-4-5"))
    assert tokens == estimate_prompt("claude-haiku-4-5", req.messages).tokens
    assert billed[pairs[0]] == prompt_shape(req.messages).bound


def test_a_count_that_does_not_come_back_in_time_reserves_the_bound() -> None:
    req = ChatRequest(model="chat", messages=user(letters(2_000_000)))
    pairs = [("openai", "gpt-4o-mini")]
    offload = Offload(wait_s=0.01)
    tokens, billed = asyncio.run(prompt_inputs(offload, req, pairs, "gpt-4o-mini"))
    offload.close()
    assert billed[pairs[0]] == prompt_shape(req.messages).bound
    assert 0 < tokens <= billed[pairs[0]]
