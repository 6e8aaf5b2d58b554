"""Names for the entity guard: the people, places, products and identifiers a question names.

Capitalised words past the start of a sentence (runs of them as one name: "new york"), a
sentence's first word when it is not a common word, ALLCAPS acronyms, CamelCase, code
identifiers (`num_proc`, ``dataset.map()``, ``push_to_hub``), and lowercase places and
technologies from small built-in lists (``llmgw.cache.gazetteer``, ``KNOWN_NAMES``), all
lowercase.
"""

from __future__ import annotations

import re

from llmgw.cache.entity_dates import is_date_word
from llmgw.cache.entity_tokens import Token, is_capitalised, is_nt_contraction, is_special_case
from llmgw.cache.gazetteer import AMBIGUOUS, FIRST_WORDS, LOWERCASE_PLACES, MAX_WORDS, PLACES
from llmgw.cache.lexicon import (
    COMMON_ENDINGS,
    KNOWN_NAMES,
    NUMBER_WORDS,
    ORDINAL_WORDS,
    SCALES,
    SENTENCE_STARTERS,
    STOPWORDS,
)


def _is_name_word(t: Token, nxt: Token | None = None) -> bool:
    """Whether word ``t`` is (part of) a name; ``nxt`` is the token after it, if any."""
    low = t.text.lower()
    if is_nt_contraction(t.low) or is_date_word(low) or low in {"i", "a"}:
        return False
    if low in NUMBER_WORDS or low in ORDINAL_WORDS or low in SCALES:
        return False
    if is_special_case(t.text):
        return low != "ok"
    if not is_capitalised(t.text):
        return False
    if t.start:
        if low in PLACES or low in KNOWN_NAMES:
            return True
        if low in SENTENCE_STARTERS:
            return False
        if _ordinary_ending(low):  # "Storing ..." no, "Hugging Face ..." yes
            return nxt is not None and nxt.kind == "word" and _is_name_word(nxt)
        return True
    return low not in STOPWORDS


def _ordinary_ending(low: str) -> bool:
    return any(low.endswith(e) and len(low) - len(e) >= 4 for e in COMMON_ENDINGS)


def names_in(toks: list[Token], names: set[str]) -> None:
    """Capitalised runs, acronyms, CamelCase, and lowercase places and technologies."""
    run: list[str] = []
    for k, t in enumerate(toks):
        following = toks[k + 1] if k + 1 < len(toks) and not t.comma else None
        if t.kind == "word" and _is_name_word(t, following):
            run.append(t.text.lower())
            if not t.comma:
                continue
        if run:
            names.add(_canonical(" ".join(run)))
            run.clear()
        if t.kind == "special":
            names.add(KNOWN_NAMES.get(t.low, t.low))
        elif t.kind == "code":
            names.add(_code_name(t.low))
    if run:
        names.add(_canonical(" ".join(run)))

    # lowercase places (the longest phrase first) and known technology names
    k = 0
    while k < len(toks):
        size = _place_at(toks, k)
        if size:
            phrase = " ".join(t.text.lower() for t in toks[k : k + size])
            if not any(f" {phrase} " in f" {n} " for n in names):
                names.add(phrase)
            k += size
            continue
        if toks[k].kind == "word" and toks[k].low in KNOWN_NAMES:
            names.add(KNOWN_NAMES[toks[k].low])
        k += 1


def _code_name(code: str) -> str:
    """A code identifier as a name: no backticks, no trailing call parentheses."""
    code = code.strip("`")
    return code[:-2] if code.endswith("()") and len(code) > 2 else code


def name_parts(name: str) -> list[str]:
    """The words of a name, identifiers split at dots and underscores ("c++" stays whole)."""
    if re.fullmatch(r"[\w\s.\-]+", name) is None:
        return [name]
    return [p for p in re.split(r"[\W_]+", name) if p]


def _canonical(name: str) -> str:
    return KNOWN_NAMES.get(name, name)


def _place_at(toks: list[Token], k: int) -> int:
    """How many words from ``k`` on spell a lowercase-recognised place (0: none)."""
    if toks[k].kind != "word" or toks[k].text.lower() not in FIRST_WORDS:
        return 0
    for size in range(min(MAX_WORDS, len(toks) - k), 0, -1):
        chunk = toks[k : k + size]
        if any(t.kind != "word" for t in chunk) or any(t.comma for t in chunk[:-1]):
            continue
        phrase = " ".join(t.text.lower() for t in chunk)
        if phrase in LOWERCASE_PLACES and not (size == 1 and phrase in AMBIGUOUS):
            return size
    return 0
