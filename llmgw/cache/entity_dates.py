"""Dates for the entity guard: what day, month, year or time a question is about.

ISO dates ("2024-03-01") and d/m/y dates, clock times ("9am", "14:30"), month and weekday
names (and their abbreviations when written as names: "May" the month, not "may" the verb),
relative days ("today", "next week") and seasons, all lowercase. Years and decades come from
``llmgw.cache.entity_numbers``.
"""

from __future__ import annotations

import re

from llmgw.cache.entity_tokens import Token, is_capitalised, low_at
from llmgw.cache.lexicon import (
    DATE_PREPOSITIONS,
    MONTH_ABBREVIATIONS,
    MONTHS,
    RELATIVE_DAYS,
    RELATIVE_LEADS,
    RELATIVE_SPANS,
    SEASONS,
    WEEKDAY_ABBREVIATIONS,
    WEEKDAYS,
    WORDLIKE_MONTHS,
)


def dates_in(toks: list[Token], dates: set[str]) -> None:
    for k, t in enumerate(toks):
        if t.kind == "iso":
            y, mo, d = t.text.split("-")
            dates.add(f"{int(y):04d}-{int(mo):02d}-{int(d):02d}")
        elif t.kind == "dmy":
            dates.add("/".join(str(int(p)) for p in t.text.split("/")))
        elif t.kind == "clock":
            dates.add(re.sub(r"[\s.]", "", t.low))
        elif t.kind == "word":
            date = _date_word(toks, k)
            if date:
                dates.add(date)


def _date_word(toks: list[Token], k: int) -> str | None:
    """The date a word names, if any ("May" the month, not "may" the verb)."""
    t = toks[k]
    low = t.text.lower()
    prev = low_at(toks, k - 1)
    before_number = k + 1 < len(toks) and toks[k + 1].kind == "num"
    proper = is_capitalised(t.text) and not t.start
    if low in RELATIVE_LEADS:
        span = low_at(toks, k + 1)
        if span in RELATIVE_SPANS or span in WEEKDAYS or span in MONTHS:
            return f"{low} {span}"
        return None
    if prev in RELATIVE_LEADS and (low in RELATIVE_SPANS or low in MONTHS or low in WEEKDAYS):
        return None  # part of "next week", recorded with its lead
    if low in MONTHS:
        if low in WORDLIKE_MONTHS and not (proper or prev in DATE_PREPOSITIONS or before_number):
            return None
        return low
    if low in MONTH_ABBREVIATIONS:
        return MONTH_ABBREVIATIONS[low] if proper or before_number else None
    if low in WEEKDAYS:
        return low
    if low.endswith("s") and low[:-1] in WEEKDAYS:  # "on Mondays"
        return low[:-1]
    if low in WEEKDAY_ABBREVIATIONS:
        return WEEKDAY_ABBREVIATIONS[low] if proper or before_number else None
    if low in RELATIVE_DAYS or low in SEASONS:
        return low
    return None


_DATE_WORDS = frozenset(
    [*MONTHS, *WEEKDAYS, *MONTH_ABBREVIATIONS, *WEEKDAY_ABBREVIATIONS, *RELATIVE_DAYS]
)


def is_date_word(low: str) -> bool:
    return low in _DATE_WORDS
