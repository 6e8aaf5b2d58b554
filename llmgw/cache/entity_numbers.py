"""Numbers and units for the entity guard, normalised so equal amounts compare equal.

Digits and number words ("1,000" -> "1000", "ten" -> "10", "twenty five" -> "25", "3rd" ->
"3", "50 percent" -> "50%", "5 million" -> "5000000"); currencies and measurement units ("$"
-> "usd", "kilometres" -> "km"), and the time unit after a count ("3 days"). A four-digit
numeral from 1000 to 2999 with no unit is a year and goes to the dates instead, as does a
decade ("1990s").
"""

from __future__ import annotations

import re

from llmgw.cache.entity_tokens import Token, low_at
from llmgw.cache.lexicon import (
    DETERMINERS,
    LOWERCASE_UNITS,
    NUMBER_WORDS,
    ONE_NOT_AFTER,
    ONE_NOT_BEFORE,
    ORDINAL_WORDS,
    PERCENT_WORDS,
    SCALES,
    STOPWORDS,
    TIME_UNITS,
    UNITS,
)

_NUMERAL = re.compile(r"(-?\d[\d.,]*?)(%|st|nd|rd|th|s)?", re.IGNORECASE)


def numbers_and_units(
    toks: list[Token], numbers: set[str], units: set[str], dates: set[str]
) -> None:
    """Numerals, number words, percentages, scales and units, in one left-to-right pass."""
    i = 0
    while i < len(toks):
        t = toks[i]
        if t.kind == "money":
            units.add(UNITS[t.text])
        elif t.kind == "degree":
            units.add(UNITS[t.low])
        elif t.kind == "num":
            i = _numeral(toks, i, numbers, units, dates)
            continue
        elif t.kind == "word":
            if t.low in UNITS and not (t.text.isupper() and UNITS[t.low] in LOWERCASE_UNITS):
                units.add(UNITS[t.low])  # "ml" is millilitres, "ML" machine learning
            if t.low in TIME_UNITS and low_at(toks, i - 1) == "many":
                units.add(TIME_UNITS[t.low])  # "how many days" / "how many weeks"
            if t.low == "single" and low_at(toks, i - 1) in {"a", "one", "the"}:
                numbers.add("1")  # "a single column" / "one column"
            if t.low in NUMBER_WORDS or (t.low in SCALES and low_at(toks, i - 1) == "a"):
                i = _number_words(toks, i, numbers, units)
                continue
            if t.low in ORDINAL_WORDS and _is_ordinal(toks, i):
                numbers.add(str(ORDINAL_WORDS[t.low]))
        i += 1


def _is_ordinal(toks: list[Token], i: int) -> bool:
    """ "first" and "second" are often not ordinals: "at first", "First, ...", "a second"."""
    t = toks[i]
    prev = low_at(toks, i - 1)
    if t.low == "first":
        # an ordinal after a determiner ("the first time") or before a word that is not a
        # function word ("first prize"); an adverb otherwise ("at first", "install it first")
        if prev in DETERMINERS:
            return True
        following = toks[i + 1] if i + 1 < len(toks) else None
        return (
            not t.start
            and not t.comma
            and following is not None
            and following.kind == "word"
            and following.low not in STOPWORDS
        )
    if t.low == "second":
        return prev in DETERMINERS and prev not in {"a", "an"}
    return True


def _after_number(toks: list[Token], j: int, text: str, numbers: set[str], units: set[str]) -> int:
    """Record ``text`` (with a "percent" after it) and a time unit after it; the next index."""
    if low_at(toks, j) in PERCENT_WORDS and not text.endswith("%"):
        text += "%"
        j += 1
    numbers.add(text)
    if j < len(toks) and toks[j].kind == "word" and toks[j].low in TIME_UNITS:
        units.add(TIME_UNITS[toks[j].low])
    return j


def _numeral(toks: list[Token], i: int, numbers: set[str], units: set[str], dates: set[str]) -> int:
    """The digit numeral at ``i`` (with a scale, percent or time unit after it); the next index."""
    m = _NUMERAL.fullmatch(toks[i].text)
    core, suffix = (m.group(1), (m.group(2) or "").lower()) if m else (toks[i].text, "")
    j = i + 1
    plain = core.isdigit()
    if plain and suffix == "s" and re.fullmatch(r"[12]\d\d0", core):  # a decade: "1990s"
        dates.add(core + "s")
        return j
    if plain and len(core) == 4 and 1000 <= int(core) <= 2999 and not suffix:
        after = low_at(toks, j)
        money = i > 0 and toks[i - 1].kind == "money"
        if not (money or after in UNITS or after in SCALES or after in PERCENT_WORDS):
            dates.add(core)
            return j
    text = _number_text(core)
    if suffix == "%":
        text += "%"
    elif low_at(toks, j) in SCALES and core.count(".") <= 1:
        text = _scaled(float(core.replace(",", "")) * SCALES[low_at(toks, j)])
        j += 1
    return _after_number(toks, j, text, numbers, units)


def _number_text(raw: str) -> str:
    """Normalise a numeral: no thousands separators, no leading or trailing zeros."""
    neg = raw.startswith("-")
    body = raw.lstrip("-").replace(",", "")
    if body.count(".") == 1:
        whole, frac = body.split(".")
        frac = frac.rstrip("0")
        body = str(int(whole or "0")) + ("." + frac if frac else "")
    elif "." not in body:
        body = str(int(body))
    return ("-" if neg and body != "0" else "") + body


def _scaled(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _number_words(toks: list[Token], i: int, numbers: set[str], units: set[str]) -> int:
    """A run of number words ("ten", "twenty five", "two hundred thousand"); the next index."""
    prev, nxt = low_at(toks, i - 1), low_at(toks, i + 1)
    after_count = prev in ORDINAL_WORDS or (i > 0 and toks[i - 1].kind == "num")
    if toks[i].low == "one" and (prev in ONE_NOT_AFTER or nxt in ONE_NOT_BEFORE or after_count):
        return i + 1  # "the one", "one of", "one can": not a count
    total = current = 0
    j = i
    while j < len(toks) and toks[j].kind == "word":
        w = toks[j].low
        if w in NUMBER_WORDS:
            current += NUMBER_WORDS[w]
        elif w in SCALES:
            if SCALES[w] == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * SCALES[w]
                current = 0
        elif not (w == "and" and j > i and low_at(toks, j + 1) in NUMBER_WORDS):
            break
        j += 1
    return _after_number(toks, j, str(total + current), numbers, units)
