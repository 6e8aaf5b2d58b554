"""Redaction of long strings in windows: the same answer as one pass, without holding the GIL
for one regex call over megabytes (the writer thread would stall the event loop)."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgw.audit import redact
from llmgw.audit.redact import _EMAIL, _KEY, _NUMBER, Redactor, _number, luhn_ok, windowed_sub

PIECES = [
    "card 4111 1111 1111 1111.",
    "4111-1111-1111-1111",
    "5500005555555559",
    "mail ann@example.com ",
    "sk-" + "a" * 20,
    "Bearer abcdefghijk ",
    "call +44 20 7946 0958",
    "(415) 555-2671",
    "id 1234567890",
    "v1.2.3",
    " ",
    "\n",
    "x",
    "7",
    "@",
    "-",
]


class Spy:
    """A pattern that records how many characters each ``search`` call may look at."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.spans: list[int] = []

    def search(self, text: str, pos: int = 0, endpos: int = 2**62) -> Any:
        self.spans.append(min(endpos, len(text)) - pos)
        return self.pattern.search(text, pos, endpos)

    def sub(self, repl: Any, text: str) -> str:
        self.spans.append(len(text))
        return self.pattern.sub(repl, text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=80), st.integers(8, 40))
def test_windows_give_the_same_answer_as_one_pass(parts: list[str], window: int) -> None:
    text = "".join(parts)
    one_pass = Redactor().text(text)
    real = redact.windowed_sub

    def tiny(pattern: Any, repl: Any, t: str, w: int = 0, overlap: int = 64) -> str:
        return real(pattern, repl, t, window, overlap)

    redact.windowed_sub = tiny  # type: ignore[assignment]
    try:
        assert Redactor().text(text) == one_pass
    finally:
        redact.windowed_sub = real


@pytest.mark.parametrize("pattern", [_KEY, _EMAIL, _NUMBER])
def test_no_search_looks_at_more_than_a_window(pattern: re.Pattern[str]) -> None:
    rnd = random.Random(5)
    text = "".join(rnd.choice(PIECES) for _ in range(40_000))  # ~400 KB
    spy = Spy(pattern)
    windowed_sub(spy, "X", text, 4096, 256)  # type: ignore[arg-type]
    assert len(spy.spans) > 50
    assert max(spy.spans) <= 4096 + 256
    assert windowed_sub(pattern, "X", text, 4096, 256) == pattern.sub("X", text)


def test_a_long_key_reaching_past_the_window_is_redacted_whole() -> None:
    key = "sk-" + "b" * 10_000
    text = "x " * 20_000 + key + " y"
    assert Redactor().text(text) == "x " * 20_000 + "[REDACTED:key] y"


def luhn_tail(prefix: str) -> str:
    """``prefix`` plus the check digit that makes it pass Luhn."""
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


def test_a_long_digit_run_looks_only_at_its_tail() -> None:
    card = luhn_tail("411111111111111111")  # 19 digits
    for run in ("1" * 5_000 + card, "1" * 5_000, "2" * 4_000 + "41111111"):
        assert _run_text(run) == _NUMBER.sub(_number, run)  # what one pass gives
    assert _run_text("1" * 5_000 + card).endswith("[REDACTED:card]")
    long_run = "1" * 400_000 + card
    assert Redactor().text(f"n {long_run} .") == f"n {'1' * 400_000}[REDACTED:card] ."


def _run_text(run: str) -> str:
    return Redactor().text(run)
