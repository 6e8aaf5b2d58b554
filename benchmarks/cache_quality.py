"""Semantic cache decision quality: paraphrase hit rate against false hits, per threshold.

Positives are the 999 ``{origin, similar}`` paraphrase pairs of
``../shared/data/paraphrase_pairs_gptcache.json`` (from GPTCache's benchmark data). Negatives
are built from the origins, deterministically (``--seed``):

- entity: one entity changed in the question (a number, a number word, a year, a weekday or
  month, a place, a name) wherever the origin has one, plus a qualifier added to it ("... in
  Paris" / "... in Rome", "... for 3 users" / "... for 7 users", "..." / "... in 2021");
- negation: the origin negated ("is" -> "is not", "can" -> "cannot", ...) or un-negated;
- hard: the origin against its most similar *other* origin by embedding (the realistic false
  hit: a different statement about the same thing). The origins repeat facts in other words,
  so an origin that mostly restates this one (``restates``: 80% of the shorter one's content
  words in the other, a test independent of the embedder) is skipped for the next nearest;
  the loose restatements that remain still count as false hits, so this class is pessimistic;
- random: the origin against a random other origin.

For each threshold of the sweep it reports the hit rate on paraphrases and the false-hit rate
per class and overall, all through ``llmgw.cache.verify.verify`` (similarity and entity
guard), and the similarity-only rates for comparison. The chosen threshold is the lowest with
false hits at most ``--max-false`` overall and on the hard class; ``DEFAULT_THRESHOLD`` in
``llmgw/cache/verify.py`` is set from it. Every distinct sentence is embedded once, in batches;
the embedding latency for one sentence (batch 1, one thread) is measured separately.

    python benchmarks/cache_quality.py [--threshold X] [--json] [--data PATH] [--seed N]

The pairs are made in ``cache_quality_pairs.py`` beside this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cache_quality_pairs import CLASSES, Pair, build_pairs

from llmgw.cache.embedder import MiniLmEmbedder
from llmgw.cache.verify import DEFAULT_THRESHOLD, verify

ROOT = Path(__file__).resolve().parent.parent

DATA = ROOT.parent / "shared" / "data" / "paraphrase_pairs_gptcache.json"
SWEEP = [round(0.70 + 0.01 * i, 2) for i in range(28)]  # 0.70 .. 0.97


@dataclass(slots=True)
class Row:
    """Hit and false-hit rates at one threshold."""

    threshold: float
    hit_rate: float
    false_by_class: dict[str, float] = field(default_factory=dict)
    false_overall: float = 0.0
    sim_only_hit_rate: float = 0.0
    sim_only_false: float = 0.0


# -- measuring ------------------------------------------------------------------------------


def embed_all(
    embedder: MiniLmEmbedder,
    texts: list[str],
    known: dict[str, np.ndarray] | None = None,
    batch: int = 16,
) -> dict[str, np.ndarray]:
    """Every distinct text embedded once (``known`` ones are reused), batched by length."""
    out = dict(known or {})
    todo = sorted({t for t in texts if t not in out}, key=len)  # similar lengths: less padding
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        for text, vec in zip(chunk, embedder.embed(chunk), strict=True):
            out[text] = vec
    return out


def latency_ms(embedder: MiniLmEmbedder, texts: list[str], runs: int = 200) -> dict[str, float]:
    """p50/p90 milliseconds to embed one sentence (batch 1)."""
    embedder.embed([texts[0]])  # warm-up
    times = []
    for i in range(runs):
        started = time.perf_counter()
        embedder.embed([texts[i % len(texts)]])
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50": statistics.median(times), "p90": times[int(0.9 * len(times))]}


def guard_verdicts(pairs: list[Pair], sims: np.ndarray) -> list[str | None]:
    """Each pair's ``verify`` refusal reason with the similarity test passed (None: accepted).

    ``verify`` refuses on similarity before it looks at entities, so at threshold ``t`` a pair
    is accepted exactly when ``sim >= t`` and this is None; ``sweep`` relies on that and
    ``main`` checks it at the reported threshold.
    """
    return [
        verify(p.query, p.cached, float(s), -1.0).reason for p, s in zip(pairs, sims, strict=True)
    ]


def sweep(
    pairs: list[Pair], sims: np.ndarray, guard: list[str | None], thresholds: list[float]
) -> list[Row]:
    kinds = np.array([p.kind for p in pairs])
    positive = kinds == "positive"
    guard_ok = np.array([g is None for g in guard])
    rows = []
    for t in thresholds:
        sim_only = sims >= t
        accepted = sim_only & guard_ok
        row = Row(t, float(accepted[positive].mean()))
        for kind in CLASSES:
            row.false_by_class[kind] = float(accepted[kinds == kind].mean())
        row.false_overall = float(accepted[~positive].mean())
        row.sim_only_hit_rate = float(sim_only[positive].mean())
        row.sim_only_false = float(sim_only[~positive].mean())
        rows.append(row)
    return rows


def choose(rows: list[Row], max_false: float) -> Row | None:
    """The lowest threshold with false hits <= ``max_false`` overall and on the hard class."""
    for row in rows:
        if row.false_overall <= max_false and row.false_by_class["hard"] <= max_false:
            return row
    return None


def breakdown(pairs: list[Pair], sims: np.ndarray, threshold: float) -> dict[str, object]:
    """At ``threshold``, through ``verify`` itself: entity false hits by kind of change, and
    why paraphrases were refused."""
    details: dict[str, list[bool]] = {}
    reasons: dict[str, int] = {}
    accepted = []
    for p, s in zip(pairs, sims, strict=True):
        verdict = verify(p.query, p.cached, float(s), threshold)
        accepted.append(verdict.accepted)
        if p.kind == "entity":
            details.setdefault(p.detail, []).append(verdict.accepted)
        if p.kind == "positive" and not verdict.accepted:
            reasons[verdict.reason or "?"] = reasons.get(verdict.reason or "?", 0) + 1
    return {
        "accepted": accepted,
        "entity_false_hits": {k: round(float(np.mean(v)), 4) for k, v in sorted(details.items())},
        "entity_counts": {k: len(v) for k, v in sorted(details.items())},
        "paraphrase_misses_by_reason": dict(sorted(reasons.items())),
    }


# -- reporting ------------------------------------------------------------------------------


def print_table(rows: list[Row], chosen: float | None, counts: dict[str, int]) -> None:
    headers = ["threshold", "paraphrase hits", *[f"FH {c}" for c in CLASSES], "FH all"]
    headers += ["sim-only hits", "sim-only FH"]

    def cells(r: Row) -> list[str]:
        return [
            f"{r.threshold:.2f}" + (" *" if chosen is not None and r.threshold == chosen else ""),
            f"{100 * r.hit_rate:.1f}%",
            *[f"{100 * r.false_by_class[c]:.2f}%" for c in CLASSES],
            f"{100 * r.false_overall:.2f}%",
            f"{100 * r.sim_only_hit_rate:.1f}%",
            f"{100 * r.sim_only_false:.2f}%",
        ]

    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(" | ".join(headers))
        for r in rows:
            print(" | ".join(cells(r)))
    else:
        table = Table(title="semantic cache decisions (FH = false hits; * = chosen)")
        for h in headers:
            table.add_column(h, justify="right")
        for r in rows:
            table.add_row(*cells(r))
        Console(width=160).print(table)
    print("pairs: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def row_json(r: Row) -> dict[str, object]:
    return {
        "threshold": r.threshold,
        "paraphrase_hit_rate": round(r.hit_rate, 4),
        "false_hits": {k: round(v, 4) for k, v in r.false_by_class.items()},
        "false_hits_overall": round(r.false_overall, 4),
        "similarity_only_hit_rate": round(r.sim_only_hit_rate, 4),
        "similarity_only_false_hits": round(r.sim_only_false, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the paraphrase pairs (JSON)")
    parser.add_argument("--threshold", type=float, default=None, help="report at this threshold")
    parser.add_argument("--max-false", type=float, default=0.01, help="false-hit budget (0.01)")
    parser.add_argument("--seed", type=int, default=7, help="for the generated negatives")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    data = json.loads(args.data.read_text())
    started = time.perf_counter()
    embedder = MiniLmEmbedder(threads=os.cpu_count() or 1)
    origins = [d["origin"] for d in data]
    vectors = embed_all(embedder, origins)
    pairs = build_pairs(data, np.stack([vectors[t] for t in origins]), args.seed)
    vectors = embed_all(embedder, [t for p in pairs for t in (p.cached, p.query)], vectors)
    sims = np.array([float(vectors[p.cached] @ vectors[p.query]) for p in pairs])
    embedded_s = time.perf_counter() - started

    guard = guard_verdicts(pairs, sims)
    rows = sweep(pairs, sims, guard, SWEEP)
    picked = choose(rows, args.max_false)
    report_at = args.threshold if args.threshold is not None else DEFAULT_THRESHOLD
    at = sweep(pairs, sims, guard, [report_at])[0]
    detail = breakdown(pairs, sims, report_at)
    expected = [bool(s >= report_at and g is None) for s, g in zip(sims, guard, strict=True)]
    assert detail.pop("accepted") == expected, "verify() disagrees with the sweep's shortcut"
    latency = latency_ms(MiniLmEmbedder(threads=1), origins)

    counts = {k: sum(p.kind == k for p in pairs) for k in ("positive", *CLASSES)}
    n_negative = sum(v for k, v in counts.items() if k != "positive")
    headline = (
        f"paraphrase hit rate {100 * at.hit_rate:.1f}%, false hits {100 * at.false_overall:.2f}% "
        f"(n={counts['positive']} paraphrases, {n_negative} negatives; threshold "
        f"{report_at:.2f}; hard negatives {100 * at.false_by_class['hard']:.2f}%)"
    )
    result = {
        "data": str(args.data),
        "seed": args.seed,
        "counts": counts,
        "distinct_sentences": len(vectors),
        "embedding_s": round(embedded_s, 1),
        "embed_one_sentence_ms": {k: round(v, 2) for k, v in latency.items()},
        "default_threshold": DEFAULT_THRESHOLD,
        "chosen_threshold": picked.threshold if picked else None,
        "headline": headline,
        "at_threshold": {**row_json(at), **detail},
        "sweep": [row_json(r) for r in rows],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print_table(rows, picked.threshold if picked else None, counts)
    print(
        f"embedded {len(vectors)} distinct sentences in {embedded_s:.1f}s; one sentence "
        f"(batch 1, one thread): p50 {latency['p50']:.2f} ms, p90 {latency['p90']:.2f} ms"
    )
    budget = f"false hits <= {100 * args.max_false:g}% overall and on hard negatives"
    if picked is None:
        print(f"no threshold in the sweep keeps {budget}")
    else:
        print(
            f"lowest threshold with {budget}: {picked.threshold:.2f} "
            f"(DEFAULT_THRESHOLD is {DEFAULT_THRESHOLD})"
        )
    print("entity false hits by change:", json.dumps(detail["entity_false_hits"]))
    print("paraphrase misses by reason:", json.dumps(detail["paraphrase_misses_by_reason"]))
    print(headline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
