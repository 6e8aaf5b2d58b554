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

Everything here is pure string work (no numpy), fast enough to run per lookup. The work is
split by kind: ``entity_tokens`` (the tokeniser and ``stem``), ``entity_numbers`` (numbers and
units), ``entity_dates``, ``entity_names``, ``entity_negation``; the word lists are in
``lexicon`` and ``gazetteer``. This module holds the record, ``extract`` and the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmgw.cache.entity_dates import dates_in
from llmgw.cache.entity_names import name_parts, names_in
from llmgw.cache.entity_negation import negation_cues
from llmgw.cache.entity_numbers import numbers_and_units
from llmgw.cache.entity_tokens import stem, tokenise

__all__ = ["Entities", "disagreement", "extract", "stem"]


@dataclass(frozen=True, slots=True)
class Entities:
    """What a question is about, beyond its general meaning (see the module docstring)."""

    numbers: frozenset[str]
    dates: frozenset[str]
    names: frozenset[str]
    negated: bool
    units: frozenset[str] = frozenset()
    words: frozenset[str] = frozenset()  # every word, lowercased and stemmed (for names)


def extract(text: str) -> Entities:
    """The numbers, dates, names, units and negation parity of ``text``."""
    toks = tokenise(text)
    numbers: set[str] = set()
    dates: set[str] = set()
    names: set[str] = set()
    units: set[str] = set()
    numbers_and_units(toks, numbers, units, dates)
    dates_in(toks, dates)
    names_in(toks, names)
    seen = {stem(t.text) for t in toks if t.kind == "word"}
    seen |= {stem(part) for n in names for part in name_parts(n)}
    return Entities(
        numbers=frozenset(numbers),
        dates=frozenset(dates),
        names=frozenset(names),
        negated=negation_cues(toks) % 2 == 1,
        units=frozenset(units),
        words=frozenset(seen),
    )


def _mentioned(name: str, other: Entities) -> bool:
    """True when ``other`` names ``name`` too, in any case or spacing, as an acronym, or in
    plain words ("Python" / "python", "IterableDataset" / "Iterable Dataset", "ML" / "Machine
    Learning", "Dataset.push_to_hub()" / "push_to_hub() of a Dataset")."""
    if name in other.names:
        return True
    parts = name_parts(name)
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
