"""The entity guard's tokeniser: a question as a list of typed tokens, sentence starts marked.

One regular expression (``_TOKEN``) splits a text into ISO and d/m/y dates, clock times, code
identifiers, currency and degree signs, numerals, words, and the sentence stops and commas that
are folded into the flags of the tokens around them. The helpers here are shared by the
extractors of ``llmgw.cache.entities`` (numbers, dates, names, negation); the word lists live in
``llmgw.cache.lexicon``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmgw.cache.lexicon import BARE_CONTRACTIONS

_TOKEN = re.compile(
    r"""
    (?P<iso>(?<![\w.])\d{4}-\d{1,2}-\d{1,2}(?!\w))
    |(?P<dmy>(?<![\w./])\d{1,2}/\d{1,2}/\d{2,4}(?![\w/]))
    |(?P<clock>(?<![\w.:])\d{1,2}(?::\d{2})?\s?(?:a\.m\.|p\.m\.|am|pm)(?![^\W\d_])
        |(?<![\w.:])\d{1,2}:\d{2}(?![\w:]))
    |(?P<special>(?<!\w)(?:[cf]\+\+|[cf]\#|\.net)(?![\w+#]))
    |(?P<code>`[^`\s]{1,64}`
        |(?<![\w.])[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]+)+(?:\(\))?
        |(?<![\w.])[a-z][a-z0-9]*_[a-z0-9_]*(?:\(\))?
        |(?<![\w.])[a-z_][a-z0-9_]*\(\))
    |(?P<money>[$€£¥₹])
    |(?P<degree>°[cf](?![^\W\d_]))
    |(?P<num>(?<![\d.,])(?:(?<![\w-])-)?\d+(?:,\d{3})*(?:\.\d+)*
        (?:%|(?:st|nd|rd|th|s)(?![^\W\d_]))?)
    |(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)*)
    |(?P<stop>[.!?;]+(?=[\s"')\]]|$)|\n|:(?=\s))
    |(?P<comma>,)
    """,
    re.VERBOSE | re.IGNORECASE,
)


@dataclass(slots=True)
class Token:
    """One token of a question; stops and commas are folded into ``start`` and ``comma``."""

    kind: str  # a named group of _TOKEN except "stop" and "comma"
    text: str  # as written; for words without a possessive or contraction tail ("France's")
    low: str  # lowercase ``text``; for words *with* the tail ("don't")
    start: bool  # first token of a sentence
    comma: bool  # directly followed by a comma


def stem(word: str) -> str:
    """A light stem for matching mentions: lowercase, no possessive, no plural "s"."""
    w = word.lower()
    if w.endswith(("'s", "’s")):
        w = w[:-2]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith("s") and not w.endswith("ss") and len(w) > 3:
        return w[:-1]
    return w


def is_nt_contraction(low: str) -> bool:
    """Whether a lowercase word is a negative contraction ("don't", "isn’t", "dont")."""
    return low.replace("’", "'").endswith("n't") or low in BARE_CONTRACTIONS


def tokenise(text: str) -> list[Token]:
    """Tokens with sentence starts and commas folded into flags."""
    toks: list[Token] = []
    at_start = True
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "stop":
            at_start = True
            continue
        if kind == "comma":
            if toks:
                toks[-1].comma = True
            continue
        shown = raw
        if kind == "word" and not is_nt_contraction(raw.lower()):
            shown = re.split(r"['’]", raw, maxsplit=1)[0]
        toks.append(Token(kind, shown, raw.lower(), at_start, False))
        at_start = False
    return toks


def low_at(toks: list[Token], i: int) -> str:
    """The lowercase text of token ``i`` ("" past either end)."""
    return toks[i].low if 0 <= i < len(toks) else ""


def is_capitalised(word: str) -> bool:
    """Whether ``word`` starts with a capital letter."""
    return word[:1].isupper()


def is_special_case(word: str) -> bool:
    """ALLCAPS (two letters or more) or CamelCase/iPhone-style: a name wherever it stands."""
    if word.islower() or (word[:1].isupper() and word[1:].islower()):
        return False
    letters = [c for c in word if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True
    return any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)
