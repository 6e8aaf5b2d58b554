"""The test pairs of ``cache_quality.py``: paraphrases, and negatives made from the origins.

``build_pairs`` turns the ``{origin, similar}`` records into the positives (each paraphrase
pair) and four classes of negatives (``CLASSES``), deterministically for one seed: ``entity``
(``entity_swaps`` changes one entity, ``qualifier_pairs`` adds a qualifier that differs),
``negation`` (``negate``), ``hard`` (the nearest other origin by embedding that does not merely
restate this one: ``restates``) and ``random``. See ``cache_quality.py`` for what each class
stands for.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from llmgw.cache.entities import stem
from llmgw.cache.gazetteer import words
from llmgw.cache.lexicon import STOPWORDS

CLASSES = ("entity", "negation", "hard", "random")

PLACES = ["Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Toronto", "Sydney", "Mumbai"]
PLACES += ["Chicago", "Seoul", "Cairo", "Lisbon", "Vienna", "Texas", "California", "Brazil"]
PEOPLE = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy"]
PRODUCTS = ["TensorFlow", "PyTorch", "Keras", "Spark", "Pandas", "NumPy", "Django", "React"]
PRODUCTS += ["Kubernetes", "Postgres", "Redis", "Excel", "Windows", "Android", "Rust", "Java"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August"]
MONTHS += ["September", "October", "November", "December"]
NUMBER_WORDS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

# (pattern, replacement) tried in order; the first that matches negates (or un-negates) the
# sentence once. "{does not}" turns a third-person verb into "does not <verb>".
NEGATIONS: list[tuple[str, str]] = [
    (r"\b(is|are|was|were|will|should|must|could|would|has|have|does|do|did)\s+not\b", r"\1"),
    (r"\bcannot\b", "can"),
    (r"\bcan't\b", "can"),
    (r"\b(is|are|was|were)n't\b", r"\1"),
    (r"\b(does|do|did)n't\s+", ""),
    (r"\b(is|are|was|were|will|should|must|could|would)\b", r"\1 not"),
    (r"\bcan\b", "cannot"),
    (r"\b(does|do|did)\b", r"\1 not"),
    (r"\b(allows|enables|lets|provides|supports|requires|creates|returns|uses)\b", "{does not}"),
]


# Words too generic to tell two statements apart ("X returns Y" / "X is used to retrieve Y").
GENERIC = set(
    words("""
    use used uses using able allow allows allowed enable enables provide provides provided
    return returns returned retrieve retrieves get gets make makes made method function
    parameter option argument class way specify specified specifies indicated given following
    need needs needed want wants like etc yes version
    """)
)
RESTATEMENT = 0.8  # share of content words in common above which two origins say the same


@dataclass(slots=True)
class Pair:
    """Two texts: the cached question and the new one."""

    cached: str
    query: str
    kind: str  # "positive" or one of CLASSES
    detail: str = ""  # which entity change, for the entity class


# -- negatives ------------------------------------------------------------------------------


def _add_qualifier(text: str, qualifier: str) -> str:
    """``text`` with `` qualifier`` before its final punctuation (if any)."""
    stripped = text.rstrip()
    if stripped and stripped[-1] in ".?!":
        return f"{stripped[:-1]} {qualifier}{stripped[-1]}"
    return f"{stripped} {qualifier}"


def _other(rng: random.Random, pool: Sequence[str], current: str) -> str:
    return rng.choice([p for p in pool if p.lower() != current.lower()])


def _swap_first(text: str, pattern: str, choose: Callable[[str], str]) -> str | None:
    m = re.search(pattern, text)
    if m is None:
        return None
    return text[: m.start(1)] + choose(m.group(1)) + text[m.end(1) :]


def entity_swaps(text: str, rng: random.Random) -> list[tuple[str, str]]:
    """``(detail, changed text)`` for every kind of entity ``text`` has one of."""
    out: list[tuple[str, str]] = []

    def number(found: str) -> str:
        return str(int(found) + rng.randint(1, 9))

    def year(found: str) -> str:
        return str(int(found) + rng.choice([-3, -2, -1, 1, 2, 3]))

    candidates: list[tuple[str, str, Callable[[str], str]]] = [
        ("year", r"(?<![\w.])((?:19|20)\d\d)(?![\w.])", year),
        ("number", r"(?<![\w.\-])(\d{1,3})(?![\w.,]\d|\w)", number),
        (
            "number word",
            r"\b(" + "|".join(NUMBER_WORDS) + r")\b",
            lambda w: _other(rng, NUMBER_WORDS, w),
        ),
        ("weekday", r"\b(" + "|".join(WEEKDAYS) + r")\b", lambda w: _other(rng, WEEKDAYS, w)),
        (
            "month",
            r"\b(" + "|".join(MONTHS[:4] + MONTHS[5:]) + r")\b",
            lambda w: _other(rng, MONTHS, w),
        ),
        ("place", r"\b(" + "|".join(PLACES) + r")\b", lambda w: _other(rng, PLACES, w)),
        ("product", r"\b(" + "|".join(PRODUCTS) + r")\b", lambda w: _other(rng, PRODUCTS, w)),
        # a capitalised word in mid-sentence that is none of the above: swap in a product
        ("name", r"(?<=[a-z,] )([A-Z][A-Za-z]+)\b", lambda w: _other(rng, PRODUCTS, w)),
    ]
    for detail, pattern, choose in candidates:
        if detail == "name" and any(d in {"place", "product"} for d, _ in out):
            continue  # the generic name swap would only repeat one of those
        changed = _swap_first(text, pattern, choose)
        if changed is not None and changed != text:
            out.append((detail, changed))
    return out


def qualifier_pairs(text: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """Two ``(detail, cached, query)`` pairs made by adding a qualifier of one kind: one with a
    different qualifier on each side ("... in Paris" / "... in Rome"), one with the qualifier
    on the query side only ("..." / "... in Rome")."""
    a, b = rng.sample(PLACES, 2)
    n, m = rng.sample(range(2, 50), 2)
    y, z = rng.sample(range(2015, 2026), 2)
    d, e = rng.sample(WEEKDAYS, 2)
    p, q = rng.sample(PEOPLE, 2)
    lower = rng.random() < 0.5  # people often type places in lowercase
    kinds = [
        ("place added", f"in {a.lower() if lower else a}", f"in {b.lower() if lower else b}"),
        ("number added", f"for {n} users", f"for {m} users"),
        ("year added", f"in {y}", f"in {z}"),
        ("weekday added", f"on {d}", f"on {e}"),
        ("person added", f"for {p}", f"for {q}"),
    ]
    detail, left, right = rng.choice(kinds)
    query = _add_qualifier(text, right)
    return [
        (detail, _add_qualifier(text, left), query),
        (detail + " one side", text, query),
    ]


def negate(text: str) -> str | None:
    """``text`` with its first auxiliary negated (or its negation removed); None if no rule fits."""
    for pattern, replacement in NEGATIONS:
        m = re.search(pattern, text)
        if m is None:
            continue
        if replacement == "{does not}":
            verb = m.group(1)
            base = verb[:-1] if not verb.endswith("ies") else verb[:-3] + "y"
            return text[: m.start()] + "does not " + base + text[m.end() :]
        return text[: m.start()] + m.expand(replacement) + text[m.end() :]
    return None


def content_words(text: str) -> set[str]:
    """Stemmed words that carry content (no function words, no generic verbs, no numbers'
    letter prefixes: "v2.10.0" and "version 2.10.0" give the same)."""
    words = re.findall(r"[a-z_]+|\d+", text.lower())
    return {stem(w) for w in words if w not in STOPWORDS and w not in GENERIC and len(w) > 1}


def restates(a: str, b: str) -> bool:
    """True when most content words of the shorter text occur in the other one.

    The origins of the data set repeat facts in other words ("The `schema` method returns the
    schema" / "The `schema` method is used to retrieve the schema"); such a pair is a
    paraphrase, not a hard negative. This check is independent of the embedding model.
    """
    wa, wb = content_words(a), content_words(b)
    if not wa or not wb:
        return a.strip().lower() == b.strip().lower()
    return len(wa & wb) / min(len(wa), len(wb)) >= RESTATEMENT


def build_pairs(data: list[dict[str, str]], origin_vectors: np.ndarray, seed: int) -> list[Pair]:
    rng = random.Random(seed)
    origins = [d["origin"] for d in data]
    pairs = [Pair(d["origin"], d["similar"], "positive") for d in data]
    for text in origins:
        for detail, changed in entity_swaps(text, rng):
            pairs.append(Pair(text, changed, "entity", detail))
        for detail, cached, query in qualifier_pairs(text, rng):
            pairs.append(Pair(cached, query, "entity", detail))
        negated = negate(text)
        if negated is not None and negated != text:
            pairs.append(Pair(text, negated, "negation"))
    # hard: each origin's most similar other origin that does not restate it
    keys = [" ".join(re.findall(r"[a-z0-9]+", t.lower())) for t in origins]  # formatting aside
    sims = origin_vectors @ origin_vectors.T
    for i, text in enumerate(origins):
        for j in np.argsort(-sims[i]).tolist():
            if keys[j] != keys[i] and not restates(origins[j], text):
                pairs.append(Pair(origins[j], text, "hard"))
                break
    for i, text in enumerate(origins):
        j = rng.randrange(len(origins) - 1)
        j = j + 1 if j >= i else j
        if keys[j] != keys[i]:
            pairs.append(Pair(origins[j], text, "random"))
    return pairs
