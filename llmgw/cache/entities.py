"""The key entities of a question, so the semantic cache never mixes up near-identical questions.

Two questions can be paraphrases to an embedding model and still need different answers:
"weather in Paris" / "weather in London", "2 tablets" / "3 tablets", "in 2023" / "in 2024",
"can I take X with Y" / "can I not take X with Y". ``extract`` pulls out what such pairs differ
in and ``disagreement`` names the first kind that differs:

- numbers: digits and number words, normalised ("1,000" -> "1000", "ten" -> "10", "3rd" ->
  "3", "50 percent" -> "50%", "5 million" -> "5000000");
- dates: month and weekday names, years 1000-2999, ISO and d/m/y dates, clock times, and
  relative days ("today", "next week"), lowercase;
- names: capitalised words past the start of a sentence (runs of them as one name: "new
  york"), a sentence's first word when it is not a common word, ALLCAPS acronyms, CamelCase,
  code identifiers (`num_proc`, ``dataset.map()``, ``push_to_hub``), and lowercase places
  and technologies from small built-in lists (``gazetteer.py``), all lowercase;
- units: currencies and measurement units ("$" -> "usd", "kilometres" -> "km");
- negation: the parity of negation cues ("not", "never", "n't", "without", ...; "neither ...
  nor" counts once, "not only ... but", "... or not" and an answer's leading "No," not at all).

Names are compared case-insensitively in the widest sense: a name on one side agrees with the
other side when every word of it occurs there in any case ("Iter_archive()" starting a sentence
against "iter_archive()" in the middle of one, "the BEST way" against "the best way"), or as
an acronym of a name there ("ML" / "Machine Learning"). That is why ``Entities`` also carries
``words``, every word of the text lowercased and lightly stemmed.

Known limits: negation is a parity of cues, so "optional" / "not mandatory" differ and "do
it before X, not after" / "do it after X, not before" agree; entities are compared as sets, so
word order ("convert a list to a string" / "a string to a list") is not seen.

Everything here is pure string work (no numpy), fast enough to run per lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from llmgw.cache.gazetteer import (
    AMBIGUOUS,
    FIRST_WORDS,
    LOWERCASE_PLACES,
    MAX_WORDS,
    PLACES,
)
from llmgw.cache.lexicon import (
    BARE_CONTRACTIONS,
    COMMON_ENDINGS,
    DATE_PREPOSITIONS,
    DETERMINERS,
    KNOWN_NAMES,
    LOWERCASE_UNITS,
    MONTH_ABBREVIATIONS,
    MONTHS,
    NEGATIONS,
    NUMBER_WORDS,
    ONE_NOT_AFTER,
    ONE_NOT_BEFORE,
    ORDINAL_WORDS,
    PERCENT_WORDS,
    RELATIVE_DAYS,
    RELATIVE_LEADS,
    RELATIVE_SPANS,
    SCALES,
    SEASONS,
    SENTENCE_STARTERS,
    STOPWORDS,
    TIME_UNITS,
    UNITS,
    WEEKDAY_ABBREVIATIONS,
    WEEKDAYS,
    WORDLIKE_MONTHS,
)

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
_NUMERAL = re.compile(r"(-?\d[\d.,]*?)(%|st|nd|rd|th|s)?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Entities:
    """What a question is about, beyond its general meaning (see the module docstring)."""

    numbers: frozenset[str]
    dates: frozenset[str]
    names: frozenset[str]
    negated: bool
    units: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()  # every word, lowercased and stemmed (for names)


@dataclass(slots=True)
class _Tok:
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


def _is_nt(low: str) -> bool:
    return low.replace("’", "'").endswith("n't") or low in BARE_CONTRACTIONS


def _tokenise(text: str) -> list[_Tok]:
    """Tokens with sentence starts and commas folded into flags."""
    toks: list[_Tok] = []
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
        if kind == "word" and not _is_nt(raw.lower()):
            shown = re.split(r"['’]", raw, maxsplit=1)[0]
        toks.append(_Tok(kind, shown, raw.lower(), at_start, False))
        at_start = False
    return toks


def _at(toks: list[_Tok], i: int) -> str:
    """The lowercase text of token ``i`` ("" past either end)."""
    return toks[i].low if 0 <= i < len(toks) else ""


def _is_capitalised(word: str) -> bool:
    return word[:1].isupper()


def _is_special_case(word: str) -> bool:
    """ALLCAPS (two letters or more) or CamelCase/iPhone-style: a name wherever it stands."""
    if word.islower() or (word[:1].isupper() and word[1:].islower()):
        return False
    letters = [c for c in word if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True
    return any(c.isupper() for c in word[1:]) and any(c.islower() for c in word)


def extract(text: str) -> Entities:
    """The numbers, dates, names, units and negation parity of ``text``."""
    toks = _tokenise(text)
    numbers: set[str] = set()
    dates: set[str] = set()
    names: set[str] = set()
    units: set[str] = set()
    _numbers_and_units(toks, numbers, units, dates)
    _dates(toks, dates)
    _names(toks, names)
    seen = {stem(t.text) for t in toks if t.kind == "word"}
    seen |= {stem(part) for n in names for part in _parts(n)}
    return Entities(
        numbers=frozenset(numbers),
        dates=frozenset(dates),
        names=frozenset(names),
        negated=_negation_cues(toks) % 2 == 1,
        units=frozenset(units),
        words=frozenset(seen),
    )


# -- negation ---------------------------------------------------------------------------------


def _negation_cues(toks: list[_Tok]) -> int:
    """How many negation cues ``toks`` hold ("neither ... nor" counts once)."""
    cues = 0
    seen_neither = False
    for i, t in enumerate(toks):
        if t.kind != "word":
            continue
        low = t.low
        if _is_nt(low):
            cues += 1
        elif low == "not":
            # "not only ... but (also)" and "(whether) ... or not" do not negate anything
            if _at(toks, i - 1) == "or" or (_at(toks, i + 1) == "only" and _but_follows(toks, i)):
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


def _but_follows(toks: list[_Tok], i: int) -> bool:
    """True when "but" comes after token ``i`` in the same sentence."""
    for t in toks[i + 1 :]:
        if t.start:
            return False
        if t.low == "but":
            return True
    return False


# -- numbers and units ------------------------------------------------------------------------


def _numbers_and_units(
    toks: list[_Tok], numbers: set[str], units: set[str], dates: set[str]
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
            if t.low in TIME_UNITS and _at(toks, i - 1) == "many":
                units.add(TIME_UNITS[t.low])  # "how many days" / "how many weeks"
            if t.low == "single" and _at(toks, i - 1) in {"a", "one", "the"}:
                numbers.add("1")  # "a single column" / "one column"
            if t.low in NUMBER_WORDS or (t.low in SCALES and _at(toks, i - 1) == "a"):
                i = _number_words(toks, i, numbers, units)
                continue
            if t.low in ORDINAL_WORDS and _is_ordinal(toks, i):
                numbers.add(str(ORDINAL_WORDS[t.low]))
        i += 1


def _is_ordinal(toks: list[_Tok], i: int) -> bool:
    """ "first" and "second" are often not ordinals: "at first", "First, ...", "a second"."""
    t = toks[i]
    prev = _at(toks, i - 1)
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


def _after_number(toks: list[_Tok], j: int, text: str, numbers: set[str], units: set[str]) -> int:
    """Record ``text`` (with a "percent" after it) and a time unit after it; the next index."""
    if _at(toks, j) in PERCENT_WORDS and not text.endswith("%"):
        text += "%"
        j += 1
    numbers.add(text)
    if j < len(toks) and toks[j].kind == "word" and toks[j].low in TIME_UNITS:
        units.add(TIME_UNITS[toks[j].low])
    return j


def _numeral(toks: list[_Tok], i: int, numbers: set[str], units: set[str], dates: set[str]) -> int:
    """The digit numeral at ``i`` (with a scale, percent or time unit after it); the next index."""
    m = _NUMERAL.fullmatch(toks[i].text)
    core, suffix = (m.group(1), (m.group(2) or "").lower()) if m else (toks[i].text, "")
    j = i + 1
    plain = core.isdigit()
    if plain and suffix == "s" and re.fullmatch(r"[12]\d\d0", core):  # a decade: "1990s"
        dates.add(core + "s")
        return j
    if plain and len(core) == 4 and 1000 <= int(core) <= 2999 and not suffix:
        after = _at(toks, j)
        money = i > 0 and toks[i - 1].kind == "money"
        if not (money or after in UNITS or after in SCALES or after in PERCENT_WORDS):
            dates.add(core)
            return j
    text = _number_text(core)
    if suffix == "%":
        text += "%"
    elif _at(toks, j) in SCALES and core.count(".") <= 1:
        text = _scaled(float(core.replace(",", "")) * SCALES[_at(toks, j)])
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


def _number_words(toks: list[_Tok], i: int, numbers: set[str], units: set[str]) -> int:
    """A run of number words ("ten", "twenty five", "two hundred thousand"); the next index."""
    prev, nxt = _at(toks, i - 1), _at(toks, i + 1)
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
        elif not (w == "and" and j > i and _at(toks, j + 1) in NUMBER_WORDS):
            break
        j += 1
    return _after_number(toks, j, str(total + current), numbers, units)


# -- dates ------------------------------------------------------------------------------------


def _dates(toks: list[_Tok], dates: set[str]) -> None:
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


def _date_word(toks: list[_Tok], k: int) -> str | None:
    """The date a word names, if any ("May" the month, not "may" the verb)."""
    t = toks[k]
    low = t.text.lower()
    prev = _at(toks, k - 1)
    before_number = k + 1 < len(toks) and toks[k + 1].kind == "num"
    proper = _is_capitalised(t.text) and not t.start
    if low in RELATIVE_LEADS:
        span = _at(toks, k + 1)
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


def _is_date_word(low: str) -> bool:
    return low in _DATE_WORDS


# -- names ------------------------------------------------------------------------------------


def _is_name_word(t: _Tok, nxt: _Tok | None = None) -> bool:
    """Whether word ``t`` is (part of) a name; ``nxt`` is the token after it, if any."""
    low = t.text.lower()
    if _is_nt(t.low) or _is_date_word(low) or low in {"i", "a"}:
        return False
    if low in NUMBER_WORDS or low in ORDINAL_WORDS or low in SCALES:
        return False
    if _is_special_case(t.text):
        return low != "ok"
    if not _is_capitalised(t.text):
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


def _names(toks: list[_Tok], names: set[str]) -> None:
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


def _parts(name: str) -> list[str]:
    """The words of a name, identifiers split at dots and underscores ("c++" stays whole)."""
    if re.fullmatch(r"[\w\s.\-]+", name) is None:
        return [name]
    return [p for p in re.split(r"[\W_]+", name) if p]


def _canonical(name: str) -> str:
    return KNOWN_NAMES.get(name, name)


def _place_at(toks: list[_Tok], k: int) -> int:
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


# -- comparing ----------------------------------------------------------------------------------


def _mentioned(name: str, other: Entities) -> bool:
    """True when ``other`` names ``name`` too, in any case or spacing, as an acronym, or in
    plain words ("Python" / "python", "IterableDataset" / "Iterable Dataset", "ML" / "Machine
    Learning", "Dataset.push_to_hub()" / "push_to_hub() of a Dataset")."""
    if name in other.names:
        return True
    parts = _parts(name)
    if other.words and parts and all(stem(part) in other.words for part in parts):
        return True
    squashed = name.replace(" ", "")
    for n in other.names:
        parts = n.split()
        if n.replace(" ", "") == squashed:
            return True
        if len(parts) > 1 and "".join(p[0] for p in parts) == squashed:
            return True
        if len(parts) == 1 and " " in name and "".join(p[0] for p in name.split()) == n:
            return True
    return False


def disagreement(a: Entities, b: Entities) -> str | None:
    """None when ``a`` and ``b`` agree; else the first kind of entity they differ in.

    Numbers, dates and units must be equal sets; every name on either side must be mentioned
    on the other (as a name, or its words in any case); negation parity must match. The kinds:
    "numbers", "dates", "names", "units", "negation".
    """
    if a.numbers != b.numbers:
        return "numbers"
    if a.dates != b.dates:
        return "dates"
    if a.names != b.names and not (
        all(_mentioned(n, b) for n in a.names - b.names)
        and all(_mentioned(n, a) for n in b.names - a.names)
    ):
        return "names"
    if a.units != b.units:
        return "units"
    if a.negated != b.negated:
        return "negation"
    return None
