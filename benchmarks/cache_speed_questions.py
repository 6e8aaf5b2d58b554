"""The questions of part 2 of ``cache_speed.py``: what is stored, and what is asked.

The stored pool is the ``origin`` side of the paraphrase pairs, topped up with templated
how-to questions; the queries are paraphrases of stored origins (expected hits, their
``similar`` side) and templated questions about unrelated things (expected misses).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# stored alongside the real questions (templated, so the pool reaches --pool sentences)
STORED_TASKS = ["install", "configure", "upgrade", "uninstall", "debug", "profile", "deploy"]
STORED_TASKS += ["back up", "monitor", "secure", "test", "document"]
STORED_THINGS = ["a web server", "a database", "a message queue", "a cache", "a load balancer"]
STORED_THINGS += ["a CI pipeline", "a container", "a search index", "a DNS zone", "a cron job"]
STORED_PLATFORMS = ["Linux", "Windows", "macOS", "Kubernetes", "Docker", "AWS", "Azure"]

# never stored: questions about other things entirely (expected misses)
UNRELATED_DISHES = ["lentil soup", "banana bread", "paella", "ramen", "apple pie", "risotto"]
UNRELATED_DISHES += ["guacamole", "pancakes", "goulash", "falafel"]
UNRELATED_EXTRAS = ["without an oven", "for a picnic", "on a budget", "for a crowd"]
UNRELATED_TREES = ["an oak", "a maple", "a palm", "a birch", "a cedar", "a willow"]
UNRELATED_PLACES = ["a garden", "a desert", "a rainforest", "the mountains"]
UNRELATED_PLANTS = ["a cactus", "basil", "an orchid", "tomatoes", "a fern", "lavender"]
UNRELATED_PLANTS += ["a lemon tree", "strawberries"]
UNRELATED_INSTRUMENTS = ["cello", "banjo", "harp", "oboe", "accordion", "trumpet", "ukulele"]
UNRELATED_PETS = ["a rabbit", "a parrot", "a hamster", "a turtle", "a goldfish", "a ferret"]
UNRELATED_PETS += ["a hedgehog", "a canary"]
UNRELATED_SPORTS = ["chess", "tennis", "rowing", "cricket", "fencing", "curling", "sailing"]


@dataclass(slots=True, frozen=True)
class Questions:
    """Real questions to store, and the queries that test them."""

    stored: list[str]  # distinct sentences, embedded and stored
    paraphrases: list[tuple[str, str]]  # (query, the stored sentence it paraphrases)
    unrelated: list[str]  # queries about nothing stored


def load_pairs(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        raise SystemExit(f"{path} is missing (see --data)")
    return [
        (str(p["origin"]).strip(), str(p["similar"]).strip()) for p in json.loads(path.read_text())
    ]


def templated_stored() -> list[str]:
    return [
        f"How do I {task} {thing} on {platform}?"
        for task in STORED_TASKS
        for thing in STORED_THINGS
        for platform in STORED_PLATFORMS
    ]


def templated_unrelated() -> list[str]:
    out = [
        f"What is a good recipe for {d} {e}?" for d in UNRELATED_DISHES for e in UNRELATED_EXTRAS
    ]
    out += [f"How tall does {t} grow in {p}?" for t in UNRELATED_TREES for p in UNRELATED_PLACES]
    out += [f"Who invented the rules of {s}?" for s in UNRELATED_SPORTS]
    out += [f"What should a beginner buy to start {s}?" for s in UNRELATED_SPORTS]
    out += [f"How often should I water {p}?" for p in UNRELATED_PLANTS]
    out += [f"How long does it take to learn the {i}?" for i in UNRELATED_INSTRUMENTS]
    out += [f"What do I need to keep {a} as a pet?" for a in UNRELATED_PETS]
    return out


def questions(
    pairs: list[tuple[str, str]], stored: Sequence[str], n_queries: int, seed: int
) -> Questions:
    """Paraphrase queries (two thirds) for stored origins and unrelated ones (a third)."""
    rng = random.Random(seed)
    have = set(stored)
    usable = sorted({(s, o) for o, s in pairs if o in have and s != o and s not in have})
    rng.shuffle(usable)
    n_para = min(len(usable), n_queries * 2 // 3)
    unrelated = [q for q in templated_unrelated() if q not in have]
    rng.shuffle(unrelated)
    return Questions(list(stored), usable[:n_para], unrelated[: n_queries - n_para])


def question_pool(pairs: list[tuple[str, str]], size: int, seed: int) -> list[str]:
    """The distinct origins, topped up with templated questions to ``size`` sentences."""
    origins = list(dict.fromkeys(o for o, _ in pairs))
    similar = {s for _, s in pairs}
    extra = [q for q in templated_stored() if q not in similar and q not in set(origins)]
    random.Random(seed).shuffle(extra)
    return origins + extra[: max(0, size - len(origins))]
