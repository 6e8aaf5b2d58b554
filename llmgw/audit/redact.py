"""Redaction of request and response bodies before they are stored.

Tenants with ``retention = "redacted"`` keep their bodies with personal data and secrets
replaced by typed placeholders (``[REDACTED:card]``). What is replaced:

- ``card``: 13-19 digit numbers (spaces or dashes allowed between digits) that pass the Luhn
  check; other long numbers (order ids, timestamps) stay.
- ``email``: e-mail addresses.
- ``phone``: international numbers (``+44 20 7946 0958``, ``+14155552671``) and common national
  forms (``(415) 555-2671``, ``415-555-2671``, ``020 7946 0958``); a bare run of digits is not
  taken for a phone number.
- ``key``: API keys (``sk-...``, ``sk-ant-...``, ``sk-llmgw-...``, Google ``AIza...``) and
  ``Bearer <token>`` (written ``Bearer [REDACTED:key]``).
- ``custom``: every pattern of ``[audit] redact_patterns``.

A JSON body is parsed and every string value (and whole number) is redacted on its own, so the
result is still valid JSON; any other text is redacted as a whole. Pure and fast: one
precompiled alternation, one pass per string (about 20 µs for a 2 KB chat body).

Long strings are scanned in windows (:func:`windowed_sub`). Redaction runs on the audit
writer's thread, but ``re`` holds the GIL for a whole ``sub`` call, so one call over a
multi-megabyte string stalls the event loop as surely as running it there: 4 MB of digits
held it for 7.6 s in the card/phone pass (~2 µs per digit; a run without separators now
looks at its last 19 digits only, the only ones that can match), and 4 MB of letters for
0.4 s in the key pass. Windows of at most ``WINDOW`` characters (4,096 for the card/phone
pass) give the GIL back between calls, a few milliseconds apart. The result is the same as
one pass for every match shorter than ``OVERLAP`` (a window looks that far past its end, and
a match that reaches its edge is searched again in a wider window); only a match whose
attempt needs more than 4,096 characters of look-ahead before it can succeed (``Bearer``
followed by that much whitespace, say) can be missed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from llmgw.jsontext import deeper_than, dumps_text
from llmgw.wire.limits import MAX_DEPTH

_KEY = re.compile(
    r"(?<![A-Za-z0-9_-])(?:sk-[A-Za-z0-9_-]{16,}|AIza[0-9A-Za-z_-]{30,})"
    r"|(?P<bearer>\b[Bb]earer)\s+[A-Za-z0-9._~+/=-]{8,}"
)
_KEY_HINTS = ("sk-", "AIza", "earer")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*"
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# A run of digits with the separators cards and phone numbers use; only runs of 7 or more
# digits not glued to a number before them are looked at closely (with _NUMBER).
_RUN = re.compile(r"[+(]?\d[\d ().+-]*\d\)?")
_NUMBER = re.compile(
    r"(?P<card>\d(?:[ -]?\d){12,18}(?!\d))"
    r"|(?P<phone>\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\d)"
    r"|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}(?![\d.-])"
    r"|(?<![\d.-])\d{3}[ .-]\d{3}[ .-]\d{4}(?![\d.-])"
    r"|(?<![\d.-])0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}(?![\d.-]))"
)
_DIGITS = "0123456789"
_CARD_MAX = 19  # digits


WINDOW = 32_768
NUMBER_WINDOW = 4_096
OVERLAP = 4_096


def windowed_sub(
    pattern: re.Pattern[str],
    repl: str | Callable[[re.Match[str]], str],
    text: str,
    window: int = WINDOW,
    overlap: int = OVERLAP,
) -> str:
    """``pattern.sub(repl, text)``, with no single regex call over more than about
    ``window + overlap`` characters (see the module docstring for what may differ)."""
    n = len(text)
    if n <= window + overlap:
        return pattern.sub(repl, text)
    out: list[str] = []
    done = pos = 0
    while pos < n:
        end = min(n, pos + window + overlap)
        found = pattern.search(text, pos, end)
        if found is not None and found.start() >= pos + window and end < n:
            found = None  # it starts in the overlap: the next window will judge it
        while found is not None and end < n and found.end() >= end - 1:
            end = min(n, end + max(overlap, end - pos))  # it may go on past the edge: widen
            found = pattern.search(text, pos, end)
        if found is None:
            pos += window
            continue
        out.append(text[done : found.start()])
        out.append(repl(found) if callable(repl) else found.expand(repl))
        done = found.end()
        pos = found.end() if found.end() > found.start() else found.end() + 1
    out.append(text[done:])
    return "".join(out)


def luhn_ok(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Redactor:
    """Replaces sensitive spans with ``[REDACTED:<type>]``; built once, used from any thread.

    ``patterns`` are extra regular expressions (``[audit] redact_patterns``); a bad one raises
    ``re.error`` here, at construction. Each kind is one pass over the text, skipped when a
    cheap substring test shows it cannot match (no ``@``: no e-mail; no digit: no number).
    """

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns: tuple[str, ...] = tuple(patterns)
        self._custom = re.compile("|".join(f"(?:{p})" for p in self.patterns)) if patterns else None

    def text(self, value: str) -> str:
        """``value`` with every sensitive span replaced."""
        if self._custom is not None:
            value = windowed_sub(self._custom, "[REDACTED:custom]", value)
        if any(hint in value for hint in _KEY_HINTS):
            value = windowed_sub(_KEY, _key, value)
        if "@" in value:
            value = windowed_sub(_EMAIL, "[REDACTED:email]", value)
        if any(d in value for d in _DIGITS):
            value = windowed_sub(_RUN, _run, value)
        return value

    def value(self, value: Any) -> Any:
        """A decoded JSON value with its strings (and card-like whole numbers) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool) and value >= 10**12:
            out = self.text(str(value))
            return value if out == str(value) else out
        return value

    def body(self, body: str | None) -> str | None:
        """A stored body (JSON text, or any text) redacted; None stays None."""
        if body is None or body == "":
            return body
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self.text(body)
        if deeper_than(decoded, MAX_DEPTH):  # rejected as too deep: redact it as text
            return self.text(body)
        return dumps_text(self.value(decoded))


def _key(match: re.Match[str]) -> str:
    bearer = match.group("bearer")
    return bearer + " [REDACTED:key]" if bearer else "[REDACTED:key]"


def _run(match: re.Match[str]) -> str:
    text = match.group()
    start = match.start()
    if start and match.string[start - 1] in "0123456789.":
        return text  # the tail of a longer number (a decimal, a version): leave it
    if sum(ch.isdigit() for ch in text[:64]) < 7 and sum(ch.isdigit() for ch in text) < 7:
        return text
    if len(text) > _CARD_MAX and text.isdigit():
        # No separator: no phone form can match, and a card only where 13-19 digits run to
        # the end. The same answer as scanning the run, at ~2 µs per digit less.
        return text[:-_CARD_MAX] + _NUMBER.sub(_number, text[-_CARD_MAX:])
    return windowed_sub(_NUMBER, _number, text, NUMBER_WINDOW, 64)


def _number(match: re.Match[str]) -> str:
    if match.lastgroup == "card":
        text = match.group()
        return "[REDACTED:card]" if luhn_ok(text.replace(" ", "").replace("-", "")) else text
    return "[REDACTED:phone]"


DEFAULT_REDACTOR = Redactor()
