"""Response cache speed: exact hits over HTTP, and semantic lookups in a 100,000-entry partition.

Part 1 (``--part exact``) starts a real ``llmgw mock serve`` and a real ``llmgw serve`` in front
of it (tenant ``bench``, the default cache policy: calls with ``temperature: 0`` are cached) and
drives them with ``wrk``, in interleaved rounds, for each concurrency of ``--conns``:

- ``direct``: straight to the mock;
- ``bypass``: through the gateway without a temperature (the cache does not look: the baseline);
- ``miss``: through the gateway, ``temperature: 0``, a unique prompt per request (a wrk Lua
  ``request()`` with a counter) and ``Cache-Control: no-store``: every call is a real exact
  lookup that misses and goes upstream, and nothing is stored;
- ``hit``: through the gateway, one fixed ``temperature: 0`` body stored by a warm-up call
  (a probe must answer ``x-llmgw-cache: hit-exact`` before anything is measured).

It reports p50/p99/rps of each and ``hit p50 - direct p50`` (target: at most 1 ms),
``miss p50 - bypass p50`` (what the exact lookup costs a call that misses), and what the
gateway recorded (audit rows, cache counters) against what wrk sent.

Part 2 (``--part semantic``) works in process on a real SQLite state file: a pool of real
questions (the ``origin`` side of ``../shared/data/paraphrase_pairs_gptcache.json`` plus
templated ones) is embedded with the real embedder; one semantic partition is filled with
``--entries`` rows (the real ones plus synthetic vectors: normalised mixtures of real
embeddings with noise, so they cluster like real ones); its ``VectorIndex`` is built (timed)
and saved in ``cache_vectors`` as the gateway's cache writer saves large partitions. Fresh
``CacheReads``/``SemanticIndex`` objects, as after a restart, then load it (timed) and answer
paraphrases of stored questions (expected hits) and unrelated questions (expected misses):
whole-lookup p50/p95/p99 (target: p50 at most 10 ms), the embedding alone, a per-stage
breakdown, both by the query's token count (the embedding's cost grows with it), and for the
paraphrases that miss, whether their stored question was among the index's candidates at all
(so a lower hit rate at 100,000 entries is told apart from the threshold's). Finally
``llmgw serve`` is started on that state file and on an empty one (time to ``/readyz``), and
the big one answers a few paraphrases over HTTP.

    python benchmarks/cache_speed.py [--part exact|semantic|all] [--seconds 3] [--rounds 3]
        [--conns 1,16] [--entries 100000] [--keep-state PATH]

``--keep-state PATH`` builds the state file at PATH once and reuses it on later runs (the
build takes most of part 2's time); delete it to rebuild.

Needs ``wrk`` (Debian package ``wrk``) for part 1. Traffic stays on 127.0.0.1 and every run is
bounded in time. Nothing here asserts on timing: it prints numbers and writes
``benchmarks/results/cache_speed.json`` (a run of one part keeps the other part's results).

The parts live beside this script: ``cache_speed_gateway`` (the gateway under test, shared),
``cache_speed_exact`` (part 1), ``cache_speed_questions``, ``cache_speed_state``,
``cache_speed_lookups`` and ``cache_speed_startup`` (part 2).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cache_speed_exact import run_exact
from cache_speed_gateway import ROOT
from cache_speed_lookups import measure_lookups, print_lookups
from cache_speed_questions import load_pairs, question_pool, questions
from cache_speed_startup import measure_startup, print_startup
from cache_speed_state import build_state, print_build, stored_state

DATA = ROOT.parent / "shared" / "data" / "paraphrase_pairs_gptcache.json"


def run_semantic(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part 2: build (or reuse) the state file, time lookups, then start-up and HTTP."""
    pairs = load_pairs(args.data)
    state = args.keep_state or work / "semantic.db"
    out: dict[str, Any] = {"state_file": str(args.keep_state) if args.keep_state else None}
    reuse = args.keep_state is not None and args.keep_state.exists()
    total = time.perf_counter()
    if reuse:
        stored, count, saved = stored_state(state)
        if count < args.entries or not saved:
            raise SystemExit(
                f"{state} holds {count} live entries (saved index: {saved}); delete it to rebuild"
            )
        out["build"] = {"reused": True}
        print(f"reusing {state}: {count} live entries, {len(stored)} real questions")
    else:
        pool = question_pool(pairs, args.pool, args.seed)
        print(f"building {state}: {args.entries} entries from {len(pool)} real questions ...")
        started = time.perf_counter()
        out["build"] = build_state(state, pool, args.entries, args.seed, args.noise)
        out["build"]["total_s"] = round(time.perf_counter() - started, 2)
        stored, count, _ = stored_state(state)
        print_build(out["build"])
    out["entries"] = count
    out["real_entries"] = len(stored)
    out["state_file_mb"] = round(state.stat().st_size / 1e6, 1)
    qs = questions(pairs, stored, args.queries, args.seed)
    out["lookups"] = measure_lookups(state, qs)
    print_lookups(out["lookups"])
    out["startup"] = measure_startup(
        state, work, args.start_runs, [q for q, _ in qs.paraphrases[:60]]
    )
    print_startup(out["startup"])
    out["part_s"] = round(time.perf_counter() - total, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--part", choices=("exact", "semantic", "all"), default="all")
    ap.add_argument("--seconds", type=int, default=3, help="wrk run length")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved runs per cell (median)")
    ap.add_argument("--conns", default="1,16")
    ap.add_argument("--entries", type=int, default=100_000, help="entries in the partition")
    ap.add_argument("--pool", type=int, default=1500, help="real questions embedded and stored")
    ap.add_argument("--queries", type=int, default=300, help="timed semantic lookups")
    ap.add_argument("--noise", type=float, default=0.35, help="noise norm of synthetic vectors")
    ap.add_argument("--start-runs", type=int, default=3, help="llmgw serve starts per state file")
    ap.add_argument("--keep-state", type=Path, default=None, help="build here once, then reuse")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/cache_speed.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmgw-cache-speed-"))
    results: dict[str, Any] = {}
    if args.json.exists():
        try:
            results = json.loads(args.json.read_text())
        except ValueError:
            results = {}
    try:
        if args.part in ("exact", "all"):
            print("== part 1: exact hits over HTTP ==", flush=True)
            results["exact"] = run_exact(args, work)
        if args.part in ("semantic", "all"):
            print("== part 2: semantic lookups ==", flush=True)
            results["semantic"] = run_semantic(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["machine"] = {"cpus": _cpus(), "python": sys.version.split()[0]}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    main()
