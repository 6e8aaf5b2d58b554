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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
from overhead import free_port, median_of

if TYPE_CHECKING:
    from llmgw.cache.semantic import SemanticIndex
    from llmgw.cache.store import CacheReads

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "paraphrase_pairs_gptcache.json"
PY = [sys.executable, "-m", "llmgw"]
PROMPT = "Write one sentence about gateways."
TENANT = "bench"
PUBLIC_MODEL = "bench"
UPSTREAM_MODEL = "gpt-4o-mini"
SCOPE = f"tenant:{TENANT}"  # the default cache scope ("tenant") of tenant bench
EMBEDDER = "minilm-l6-v2-int8"
SYNTHETIC_PREFIX = "Synthetic filler entry"
ENTRY_TTL_S = 30 * 86_400  # long enough to reuse a --keep-state file for a while
START_TIMEOUT_S = 60.0

GATEWAY_CONFIG = """
[audit]
flush_interval_s = 0.05

[providers.upstream]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"
api_key_env = "BENCH_UPSTREAM_KEY"

[models.bench]
deployments = [{{ provider = "upstream", model = "gpt-4o-mini" }}]

[tenants.bench]
models = ["*"]
retention = "full"
{tenant_cache}
"""
SEMANTIC_TENANT_CACHE = "cache = { semantic = true }"

STATIC_LUA = """
wrk.method = "POST"
wrk.body = [[@BODY@]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer @KEY@"
"""

# one Lua state per wrk thread and wrk runs with one thread: the counter is unique per run,
# and the run's nonce makes it unique across runs
UNIQUE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer @KEY@"
wrk.headers["Cache-Control"] = "no-store"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, [[@HEAD@]] .. n .. [[@TAIL@]])
end
"""

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


# -- processes and wrk ---------------------------------------------------------------------------


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float) -> float | None:
    """Seconds until ``url`` answers 200, or None if the process died or time ran out."""
    started = time.perf_counter()
    deadline = started + timeout_s
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            return None
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    return None


def start(args: list[str], ready: str, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server and wait for ``ready``; returns it and how long that took."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    if wait_ready(proc, ready, START_TIMEOUT_S) is None:
        stop(proc)
        raise RuntimeError(f"{args} did not start:\n{log.read_text()}")
    return proc, time.perf_counter() - started


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def create_key(state: Path) -> str:
    out = subprocess.run(
        [
            *PY,
            "keys",
            "create",
            "--tenant",
            TENANT,
            "--name",
            "bench",
            "--json",
            "--state",
            str(state),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return str(json.loads(out)["secret"])


def serve_args(config: Path, state: Path, port: int) -> list[str]:
    return [*PY, "serve", "--config", str(config), "--state", str(state), "--port", str(port)]


def static_lua(body: str, key: str) -> str:
    return STATIC_LUA.replace("@BODY@", body).replace("@KEY@", key)


def unique_lua(body_with_marker: str, key: str) -> str:
    """A script whose every request carries ``body_with_marker`` with ``@N@`` = a counter."""
    head, tail = body_with_marker.split("@N@")
    return UNIQUE_LUA.replace("@KEY@", key).replace("@HEAD@", head).replace("@TAIL@", tail)


def run_wrk(url: str, lua: str, conns: int, seconds: int, work: Path) -> dict[str, float]:
    script = work / f"wrk-{uuid.uuid4().hex}.lua"
    script.write_text(lua)
    args = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30).stdout
    script.unlink()
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, float]:
    """p50/p99 in ms, requests per second, requests sent and non-2xx answers of a wrk run."""

    def ms(text: str) -> float:
        match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
        if match is None:
            raise ValueError(f"unexpected wrk latency {text!r}")
        value, unit = match.groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    pct = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    sent = re.search(r"(\d+) requests in", out)
    if rps is None or sent is None or "50" not in pct:
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        print(f"  warning: wrk saw socket errors: {socket_errors.group(1)}")
    return {
        "p50_ms": ms(pct["50"]),
        "p99_ms": ms(pct["99"]),
        "rps": float(rps.group(1)),
        "requests": float(sent.group(1)),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


TOKEN_BUCKETS = ((1, 16), (17, 32), (33, 64), (65, 256))


def by_tokens(tokens: Sequence[int], values_ms: Sequence[float]) -> dict[str, dict[str, float]]:
    """``percentiles`` of ``values_ms`` per bucket of the queries' token counts."""
    out = {}
    for low, high in TOKEN_BUCKETS:
        picked = [v for t, v in zip(tokens, values_ms, strict=True) if low <= t <= high]
        if picked:
            out[f"{low}-{high} tokens"] = percentiles(picked)
    return out


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "p99_ms": round(float(np.percentile(arr, 99)), 3),
        "mean_ms": round(float(arr.mean()), 3),
        "n": int(arr.size),
    }


def chat_body(prompt: str, *, model: str = PUBLIC_MODEL, temperature: bool = True) -> str:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if temperature:
        body["temperature"] = 0
    return json.dumps(body)


# -- part 1: exact hits over HTTP ---------------------------------------------------------------


def run_exact(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    mock_port, gw_port = free_port(), free_port()
    config, state = work / "exact.toml", work / "exact.db"
    mock, _ = start(
        [*PY, "mock", "serve", "--port", str(mock_port)],
        f"http://127.0.0.1:{mock_port}/healthz",
        work / "mock-exact.log",
    )
    gw: subprocess.Popen[bytes] | None = None
    try:
        config.write_text(GATEWAY_CONFIG.format(mock=mock_port, tenant_cache=""))
        key = create_key(state)
        gw, _ = start(
            serve_args(config, state, gw_port),
            f"http://127.0.0.1:{gw_port}/readyz",
            work / "gateway-exact.log",
        )
        gateway = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        hit_body = chat_body(PROMPT)
        prime_hit(gateway, hit_body, key)
        modes: dict[str, Callable[[], tuple[str, str]]] = {
            "direct": lambda: (
                f"http://127.0.0.1:{mock_port}/v1/chat/completions",
                static_lua(chat_body(PROMPT, model=UPSTREAM_MODEL), "x"),
            ),
            "bypass": lambda: (gateway, static_lua(chat_body(PROMPT, temperature=False), key)),
            "miss": lambda: (
                gateway,
                unique_lua(chat_body(f"{PROMPT} ({uuid.uuid4().hex[:12]} call @N@)"), key),
            ),
            "hit": lambda: (gateway, static_lua(hit_body, key)),
        }
        rows = []
        for conns in [int(c) for c in args.conns.split(",")]:
            runs: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
            for _ in range(args.rounds):  # interleaved, so drift hits every mode alike
                for mode, make in modes.items():
                    url, lua = make()
                    runs[mode].append(run_wrk(url, lua, conns, args.seconds, work))
            rows.append(exact_row(conns, runs, args.rounds))
            print_exact_row(rows[-1])
    finally:
        stop(gw)
        stop(mock)
    recorded = gateway_records(state)
    print(f"audit rows written by the gateway: {recorded['audit_rows']} {recorded['by_provider']}")
    print(f"cache counters: {recorded['cache_counters']}")
    sent = {m: int(sum(r[m]["requests_total"] for r in rows)) for m in ("bypass", "miss", "hit")}
    print(f"requests wrk sent through the gateway (all rounds): {sent}")
    return {
        "seconds": args.seconds,
        "rounds": args.rounds,
        "results": rows,
        "wrk_requests_through_gateway": sent,
        **recorded,
        "notes": [
            "miss: a wrk Lua request() builds each body (unique prompt), the other modes send "
            "a fixed body",
            "p50/p99/rps are medians over the rounds of each wrk run's figures",
        ],
    }


def prime_hit(url: str, body: str, key: str) -> None:
    """Store the hit body's answer, then make sure the gateway answers it from the cache."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    first = httpx.post(url, content=body, headers=headers, timeout=10)
    first.raise_for_status()
    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        time.sleep(0.2)  # the cache writer commits every 50 ms
        probe = httpx.post(url, content=body, headers=headers, timeout=10)
        probe.raise_for_status()
        status = probe.headers.get("x-llmgw-cache")
        if status == "hit-exact":
            return
    raise SystemExit(f"the warm-up call was not stored: probe answered x-llmgw-cache={status!r}")


def exact_row(conns: int, runs: dict[str, list[dict[str, float]]], rounds: int) -> dict[str, Any]:
    med = {m: median_of(r) for m, r in runs.items()}
    for mode, mode_runs in runs.items():
        bad = sum(r["non_2xx"] for r in mode_runs)
        if bad:
            print(f"  warning: {mode} c={conns}: {bad:.0f} non-2xx answers")
    row: dict[str, Any] = {"concurrency": conns, "rounds": rounds}
    for mode, m in med.items():
        row[mode] = {
            "p50_ms": round(m["p50_ms"], 3),
            "p99_ms": round(m["p99_ms"], 3),
            "rps": round(m["rps"], 1),
            "rps_each_round": [round(r["rps"]) for r in runs[mode]],
            "requests_total": int(sum(r["requests"] for r in runs[mode])),
            "non_2xx_total": int(sum(r["non_2xx"] for r in runs[mode])),
        }
    row["hit_p50_ms"] = round(med["hit"]["p50_ms"], 3)
    row["hit_minus_direct_p50_ms"] = round(med["hit"]["p50_ms"] - med["direct"]["p50_ms"], 3)
    row["hit_minus_direct_p99_ms"] = round(med["hit"]["p99_ms"] - med["direct"]["p99_ms"], 3)
    row["hit_minus_bypass_p50_ms"] = round(med["hit"]["p50_ms"] - med["bypass"]["p50_ms"], 3)
    row["miss_minus_bypass_p50_ms"] = round(med["miss"]["p50_ms"] - med["bypass"]["p50_ms"], 3)
    row["bypass_minus_direct_p50_ms"] = round(med["bypass"]["p50_ms"] - med["direct"]["p50_ms"], 3)
    row["target_hit_adds_at_most_1ms"] = row["hit_minus_direct_p50_ms"] <= 1.0
    return row


def print_exact_row(row: dict[str, Any]) -> None:
    c = row["concurrency"]
    for mode in ("direct", "bypass", "miss", "hit"):
        m = row[mode]
        print(
            f"c={c:<3} {mode:6} p50 {m['p50_ms']:7.3f} ms  p99 {m['p99_ms']:7.3f} ms  "
            f"{m['rps']:8.0f} rps  per round {m['rps_each_round']}",
            flush=True,
        )
    verdict = "met" if row["target_hit_adds_at_most_1ms"] else "MISSED"
    print(
        f"c={c:<3} hit p50 {row['hit_p50_ms']:.3f} ms end to end; hit - direct p50 "
        f"{row['hit_minus_direct_p50_ms']:+.3f} ms (target <= 1 ms: {verdict}); "
        f"miss - bypass p50 {row['miss_minus_bypass_p50_ms']:+.3f} ms; "
        f"bypass - direct p50 {row['bypass_minus_direct_p50_ms']:+.3f} ms",
        flush=True,
    )


def gateway_records(state: Path) -> dict[str, Any]:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        audit = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        by_provider = dict(
            conn.execute("SELECT coalesce(provider, '-'), count(*) FROM audit_log GROUP BY 1")
        )
        counters = dict(conn.execute("SELECT kind, sum(calls) FROM cache_counters GROUP BY kind"))
    finally:
        conn.close()
    return {"audit_rows": audit, "by_provider": by_provider, "cache_counters": counters}


# -- part 2: the question pool -------------------------------------------------------------------


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


# -- part 2: building the state file -------------------------------------------------------------


def partition_of(question: str) -> tuple[str, str, str]:
    """The gateway's partition for a ``temperature: 0`` call of tenant bench to model bench."""
    from llmgw.cache.keys import context_key
    from llmgw.wire.openai import CODEC

    req = CODEC.decode_request(json.loads(chat_body(question)))
    return SCOPE, PUBLIC_MODEL, context_key(SCOPE, PUBLIC_MODEL, req)


def exact_key_of(question: str) -> str:
    from llmgw.cache.keys import exact_key
    from llmgw.wire.openai import CODEC

    return exact_key(SCOPE, PUBLIC_MODEL, CODEC.decode_request(json.loads(chat_body(question))))


def embed_all(texts: Sequence[str]) -> tuple[np.ndarray, float]:
    """Every text embedded one at a time, as the gateway embeds a question (batches are no
    faster with this int8 model on one thread, and pad short texts to the longest)."""
    from llmgw.cache.embedder import load_embedder

    embedder = load_embedder(EMBEDDER)
    started = time.perf_counter()
    vectors = [embedder.embed([text])[0] for text in texts]
    return np.stack(vectors).astype(np.float32), time.perf_counter() - started


def token_counter() -> Callable[[str], int]:
    """How many WordPiece tokens the embedder sees for a text (its cost grows with them)."""
    from tokenizers import Tokenizer

    from llmgw.cache.embedder import TOKENIZER_FILE, TOKENIZER_PACKAGE, package_file

    tokenizer = Tokenizer.from_file(str(package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE)))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=256)
    return lambda text: len(tokenizer.encode(text).ids)


def synthetic_vectors(real: np.ndarray, count: int, seed: int, noise: float) -> np.ndarray:
    """Unit vectors that are random mixtures of 2-4 real embeddings plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    out = np.empty((count, real.shape[1]), dtype=np.float32)
    chunk = 10_000
    for start_at in range(0, count, chunk):
        n = min(chunk, count - start_at)
        k = int(rng.integers(2, 5))
        picks = rng.integers(0, len(real), size=(n, k))
        weights = rng.dirichlet(np.ones(k) * 0.7, size=n).astype(np.float32)
        mixed = np.einsum("nk,nkd->nd", weights, real[picks])
        mixed += rng.standard_normal(mixed.shape).astype(np.float32) * (
            noise / np.sqrt(real.shape[1])
        )
        mixed /= np.linalg.norm(mixed, axis=1, keepdims=True)
        out[start_at : start_at + n] = mixed
    return out


def nearest_real_similarity(
    synthetic: np.ndarray, real: np.ndarray, sample: int
) -> dict[str, float]:
    """How close synthetic vectors are to their nearest real one (cosine), on a sample."""
    rng = np.random.default_rng(1)
    rows = synthetic[rng.choice(len(synthetic), size=min(sample, len(synthetic)), replace=False)]
    best = (rows @ real.T).max(axis=1)
    real_sims = real[: min(sample, len(real))] @ real.T
    np.fill_diagonal(real_sims, -1.0)
    real_best = real_sims.max(axis=1)
    return {
        "synthetic_to_nearest_real_p50": round(float(np.median(best)), 3),
        "synthetic_to_nearest_real_p90": round(float(np.percentile(best, 90)), 3),
        "real_to_nearest_other_real_p50": round(float(np.median(real_best)), 3),
    }


def build_state(
    state: Path, pool: list[str], entries: int, seed: int, noise: float
) -> dict[str, Any]:
    """Fill one semantic partition of ``state`` and save its vector index; returns timings."""
    from llmgw.cache.entry import CachedAnswer
    from llmgw.cache.vectors import VectorIndex
    from llmgw.store.db import open_db, transaction

    info: dict[str, Any] = {}
    real, took = embed_all(pool)
    info["pool_sentences"] = len(pool)
    info["pool_embed_s"] = round(took, 2)
    info["pool_embed_ms_per_sentence"] = round(took * 1000 / len(pool), 2)
    n_synth = max(0, entries - len(pool))
    started = time.perf_counter()
    synth = synthetic_vectors(real, n_synth, seed, noise)
    info["synthetic_entries"] = n_synth
    info["synthetic_make_s"] = round(time.perf_counter() - started, 2)
    info["synthetic_noise_norm"] = noise
    info["synthetic_shape"] = (
        "normalised random mixture of 2-4 real embeddings (Dirichlet weights) + Gaussian noise"
    )
    info.update(nearest_real_similarity(synth, real, 1000))

    part = partition_of(pool[0])
    now = time.time()
    order = np.random.default_rng(seed).permutation(len(pool) + n_synth)

    def row(i: int) -> tuple[Any, ...]:
        if i < len(pool):
            prompt, key, vec = pool[i], exact_key_of(pool[i]), real[i]
        else:
            j = i - len(pool)
            prompt = f"{SYNTHETIC_PREFIX} {j}: a question stored by another caller"
            key, vec = hashlib.sha256(f"synthetic-{j}".encode()).hexdigest(), synth[j]
        answer = (
            CachedAnswer(
                content=f"A cached answer to entry {i}.",
                served_model=UPSTREAM_MODEL,
                provider="upstream",
                input_tokens=14,
                output_tokens=16,
                cost_nanos=11_700,
                source_request=f"bench-{i:07d}",
            )
            .to_json()
            .decode()
        )
        blob = vec.astype(np.float32).tobytes()
        size = len(answer) + len(prompt) + len(blob) + 200
        source = f"bench-{i:07d}"
        expires = now + ENTRY_TTL_S
        return (
            *(SCOPE, TENANT, PUBLIC_MODEL, key, part[2], prompt, blob, EMBEDDER, answer),
            *(11_700, 30, size, source, now, expires, now),
        )

    conn = open_db(state)
    try:
        started = time.perf_counter()
        rows = [row(int(i)) for i in order]
        with transaction(conn):
            conn.executemany(
                "INSERT INTO cache_entries (scope, tenant, model, key, context, prompt, embedding, "
                "embedder, answer, cost_nanos, tokens, size, source_request, created_at, "
                "expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        del rows
        info["insert_s"] = round(time.perf_counter() - started, 2)

        started = time.perf_counter()
        stored = conn.execute(
            "SELECT id, embedding FROM cache_entries WHERE scope = ? AND model = ? "
            "AND context = ? AND embedder = ? ORDER BY id",
            (*part, EMBEDDER),
        ).fetchall()
        ids = np.fromiter((r[0] for r in stored), dtype=np.int64, count=len(stored))
        vecs = np.frombuffer(b"".join(bytes(r[1]) for r in stored), dtype=np.float32)
        info["read_rows_s"] = round(time.perf_counter() - started, 2)
        del stored

        started = time.perf_counter()
        index = VectorIndex(384)
        index.add(ids, vecs.reshape(len(ids), 384))
        info["index_build_s"] = round(time.perf_counter() - started, 2)
        info["index_uses_hnsw"] = index.uses_hnsw

        started = time.perf_counter()
        blob = index.to_bytes()
        with transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO cache_vectors (scope, model, context, embedder, upto, "
                "data, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (*part, EMBEDDER, int(ids.max()), blob, time.time()),
            )
        info["index_save_s"] = round(time.perf_counter() - started, 2)
        info["index_bytes"] = len(blob)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return info


def stored_state(state: Path) -> tuple[list[str], int, bool]:
    """The real questions in a built state file, its entry count, and whether an index is saved."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        prompts = [
            str(r[0])
            for r in conn.execute(
                "SELECT prompt FROM cache_entries WHERE scope = ? AND model = ? AND expires_at > ? "
                "AND prompt NOT LIKE ?",
                (SCOPE, PUBLIC_MODEL, time.time(), SYNTHETIC_PREFIX + "%"),
            )
        ]
        count = conn.execute(
            "SELECT count(*) FROM cache_entries WHERE scope = ? AND model = ? AND expires_at > ?",
            (SCOPE, PUBLIC_MODEL, time.time()),
        ).fetchone()[0]
        saved = conn.execute("SELECT count(*) FROM cache_vectors").fetchone()[0] > 0
    finally:
        conn.close()
    return prompts, int(count), bool(saved)


# -- part 2: lookups -----------------------------------------------------------------------------


def measure_lookups(state: Path, qs: Questions) -> dict[str, Any]:
    """Lookups through fresh ``CacheReads`` and ``SemanticIndex`` objects, as after a restart."""
    from llmgw.cache.semantic import CANDIDATES, SemanticIndex
    from llmgw.cache.store import CacheReads

    reads = CacheReads(state)
    semantic = SemanticIndex(reads, EMBEDDER)
    out: dict[str, Any] = {}
    started = time.perf_counter()
    if semantic.embedder() is None:
        raise SystemExit(f"the embedder cannot load: {semantic.embedder_error}")
    out["embedder_load_s"] = round(time.perf_counter() - started, 3)

    part = partition_of(qs.stored[0])
    started = time.perf_counter()
    first = semantic.lookup(part, qs.paraphrases[0][0], None, time.time())
    out["first_lookup_ms"] = round((time.perf_counter() - started) * 1000, 3)
    out["first_lookup_reason"] = first.reason
    deadline = time.perf_counter() + 120
    while part not in semantic.sizes():
        if time.perf_counter() > deadline:
            raise SystemExit("the saved partition did not load within 120 s")
        time.sleep(0.005)
    out["partition_load_s"] = round(time.perf_counter() - started, 3)
    out["partition_entries_loaded"] = semantic.sizes()[part]

    for text in ("warm up: what is a cache?", "warm up: how do I restart a server?"):
        semantic.lookup(part, text, None, time.time())

    queries = [(q, o) for q, o in qs.paraphrases] + [(q, None) for q in qs.unrelated]
    random.Random(3).shuffle(queries)
    count_tokens = token_counter()
    tokens = [count_tokens(q) for q, _ in queries]
    whole: list[float] = []
    para_ms: list[float] = []
    hits = correct = false_hits = 0
    reasons: Counter[str] = Counter()
    for query, origin in queries:
        t0 = time.perf_counter()
        res = semantic.lookup(part, query, None, time.time())
        ms = (time.perf_counter() - t0) * 1000
        whole.append(ms)
        if origin is not None:
            para_ms.append(ms)
        if res.found is not None:
            if origin is None:
                false_hits += 1
            else:
                hits += 1
                correct += int(res.found.prompt == origin)
        else:
            reasons[res.reason or "below threshold"] += 1
    out["lookup_all"] = percentiles(whole)
    out["lookup_paraphrases"] = percentiles(para_ms)
    out["lookup_by_query_tokens"] = by_tokens(tokens, whole)
    para_tokens = [t for t, (_, o) in zip(tokens, queries, strict=True) if o is not None]
    other_tokens = [t for t, (_, o) in zip(tokens, queries, strict=True) if o is None]
    out["query_tokens_p50"] = {
        "paraphrases": statistics.median(para_tokens) if para_tokens else None,
        "unrelated": statistics.median(other_tokens) if other_tokens else None,
    }
    out["paraphrase_queries"] = len(qs.paraphrases)
    out["unrelated_queries"] = len(qs.unrelated)
    out["paraphrase_hits"] = hits
    out["paraphrase_hit_rate"] = round(hits / max(1, len(qs.paraphrases)), 3)
    out["paraphrase_hits_on_their_own_origin"] = correct
    out["unrelated_false_hits"] = false_hits
    out["misses_by_reason"] = dict(reasons)
    out["target_p50_at_most_10ms"] = out["lookup_all"]["p50_ms"] <= 10.0
    stages = stage_breakdown(semantic, reads, part, queries, CANDIDATES)
    out["stages"] = stages.stats
    out["embed_by_query_tokens"] = by_tokens(tokens, stages.embed_ms)
    out["paraphrase_recall"] = paraphrase_recall(state, queries, stages, CANDIDATES)
    reads.close()
    return out


@dataclass(slots=True)
class Stages:
    """The per-stage timings of a second pass over the queries, and what it found."""

    stats: dict[str, Any]
    embed_ms: list[float]
    vectors: list[np.ndarray]  # each query's embedding
    index_top: list[list[int]]  # the ids the vector index returned for each query


def stage_breakdown(
    semantic: SemanticIndex,
    reads: CacheReads,
    part: tuple[str, str, str],
    queries: list[tuple[str, str | None]],
    candidates: int,
) -> Stages:
    """The lookup's steps timed one by one (after the whole-lookup pass, same queries).

    Entity extraction is timed uncached on the query (``verify`` memoises it, and the
    whole-lookup pass has already seen these queries).
    """
    from llmgw.cache.entities import extract
    from llmgw.cache.vectors import VectorIndex
    from llmgw.cache.verify import DEFAULT_THRESHOLD, verify

    saved = reads.saved_index(*part, EMBEDDER)
    assert saved is not None
    index = VectorIndex.from_bytes(saved[1])
    times: dict[str, list[float]] = {
        k: [] for k in ("embed", "search", "sqlite_candidates", "extract_query", "verify")
    }
    vectors: list[np.ndarray] = []
    index_top: list[list[int]] = []
    for query, _ in queries:
        t0 = time.perf_counter()
        vec = semantic.embed(query)
        t1 = time.perf_counter()
        top = index.search(vec, candidates)
        near = [(i, s) for i, s in top if s >= DEFAULT_THRESHOLD]
        t2 = time.perf_counter()
        vectors.append(vec)
        index_top.append([i for i, _ in top])
        rows = reads.candidates(part[0], part[1], [i for i, _ in near], time.time())
        t3 = time.perf_counter()
        extract(query)
        t4 = time.perf_counter()
        for entry_id, sim in near:
            found = rows.get(entry_id)
            accepted = (
                found is not None
                and found.prompt is not None
                and verify(query, found.prompt, sim, DEFAULT_THRESHOLD).accepted
            )
            if accepted:
                break
        t5 = time.perf_counter()
        for name, (a, b) in zip(
            times, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)), strict=True
        ):
            times[name].append((b - a) * 1000)
    stats = {name: percentiles(v) for name, v in times.items()}
    return Stages(stats, times["embed"], vectors, index_top)


def paraphrase_recall(
    state: Path, queries: list[tuple[str, str | None]], stages: Stages, candidates: int
) -> dict[str, Any]:
    """Why paraphrases miss: each one against its own origin alone (the best a lookup could
    do), and whether the origin was among the ``candidates`` nearest entries, by the vector
    index and by an exact search over every vector of the partition."""
    from llmgw.cache.verify import DEFAULT_THRESHOLD, verify

    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, prompt, embedding FROM cache_entries WHERE scope = ? AND model = ? "
            "AND embedding IS NOT NULL ORDER BY id",
            (SCOPE, PUBLIC_MODEL),
        ).fetchall()
    finally:
        conn.close()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    matrix = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype=np.float32)
    matrix = matrix.reshape(len(rows), -1)
    row_of = {str(r[1]): n for n, r in enumerate(rows) if r[1] is not None}
    del rows
    tally: Counter[str] = Counter()
    for (query, origin), vec, top in zip(queries, stages.vectors, stages.index_top, strict=True):
        if origin is None or origin not in row_of:
            continue
        at = row_of[origin]
        tally["paraphrases"] += 1
        similarity = float(matrix[at] @ vec)
        if not verify(query, origin, similarity, DEFAULT_THRESHOLD).accepted:
            continue
        tally["accepted_against_own_origin"] += 1
        sims = matrix @ vec
        exact_top = set(ids[np.argpartition(-sims, candidates)[:candidates]].tolist())
        in_exact, in_index = int(ids[at]) in exact_top, int(ids[at]) in top
        if in_index:
            tally["origin_in_index_top"] += 1
        elif in_exact:
            tally["lost_to_index_recall"] += 1  # the exact top had it, the HNSW search not
        else:
            tally["lost_to_nearer_entries"] += 1  # more than `candidates` entries are nearer
    return {"candidates": candidates, **tally}


# -- part 2: start-up and HTTP --------------------------------------------------------------------


def measure_startup(state: Path, work: Path, runs: int, paraphrases: list[str]) -> dict[str, Any]:
    """Time to ``/readyz`` on the big state file vs an empty one, then semantic hits over HTTP."""
    from llmgw.store.db import open_db

    empty = work / "empty.db"
    open_db(empty).close()
    mock_port = free_port()
    mock, _ = start(
        [*PY, "mock", "serve", "--port", str(mock_port)],
        f"http://127.0.0.1:{mock_port}/healthz",
        work / "mock-semantic.log",
    )
    config = work / "semantic.toml"
    config.write_text(GATEWAY_CONFIG.format(mock=mock_port, tenant_cache=SEMANTIC_TENANT_CACHE))
    keys = {"full": create_key(state), "empty": create_key(empty)}
    ready: dict[str, list[float]] = {"full": [], "empty": []}
    http: dict[str, Any] = {}
    try:
        for run in range(runs):
            for name, path in (("empty", empty), ("full", state)):
                port = free_port()
                gw, took = start(
                    serve_args(config, path, port),
                    f"http://127.0.0.1:{port}/readyz",
                    work / f"gateway-{name}-{run}.log",
                )
                ready[name].append(took)
                try:
                    if name == "full" and run == runs - 1:
                        http = semantic_over_http(port, keys["full"], paraphrases)
                finally:
                    stop(gw)
                if http and "gateway_side" not in http:
                    http["gateway_side"] = audited_latency(state, http.pop("measured_from_ts"))
    finally:
        stop(mock)
    return {
        "ready_s_empty_state": [round(x, 3) for x in ready["empty"]],
        "ready_s_100k_state": [round(x, 3) for x in ready["full"]],
        "ready_s_empty_median": round(statistics.median(ready["empty"]), 3),
        "ready_s_100k_median": round(statistics.median(ready["full"]), 3),
        "http": http,
    }


def semantic_over_http(port: int, key: str, paraphrases: list[str]) -> dict[str, Any]:
    """Paraphrases through the gateway (no-store): time until the first semantic hit after
    ``/readyz``, then each call's status and latency (one client, one call at a time)."""
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
    }
    statuses: Counter[str] = Counter()
    with httpx.Client(timeout=30) as client:
        started = time.perf_counter()
        first_hit = None
        tries = 0
        while time.perf_counter() - started < 60 and first_hit is None:
            for q in paraphrases[:5]:
                tries += 1
                r = client.post(url, content=chat_body(q), headers=headers)
                r.raise_for_status()
                if r.headers.get("x-llmgw-cache") == "hit-semantic":
                    first_hit = time.perf_counter() - started
                    break
            else:
                time.sleep(0.05)
        hit_ms: list[float] = []
        miss_ms: list[float] = []
        measured_from = time.time()
        for q in paraphrases:
            t0 = time.perf_counter()
            r = client.post(url, content=chat_body(q), headers=headers)
            ms = (time.perf_counter() - t0) * 1000
            r.raise_for_status()
            status = r.headers.get("x-llmgw-cache", "?")
            statuses[status] += 1
            (hit_ms if status == "hit-semantic" else miss_ms).append(ms)
    return {
        "first_semantic_hit_after_ready_s": None if first_hit is None else round(first_hit, 3),
        "calls_before_first_hit": tries,
        "calls": len(paraphrases),
        "statuses": dict(statuses),
        "hit_semantic_latency": percentiles(hit_ms) if hit_ms else None,
        "other_latency": percentiles(miss_ms) if miss_ms else None,
        "client": "httpx, one call at a time, Cache-Control: no-store",
        "measured_from_ts": measured_from,
    }


def audited_latency(state: Path, since: float) -> dict[str, Any]:
    """The gateway's own latency (its audit rows) of the calls measured over HTTP."""
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT provider, latency_ms FROM audit_log WHERE ts >= ?", (since,)
        ).fetchall()
    finally:
        conn.close()
    hits = [float(r[1]) for r in rows if r[0] == "cache"]
    upstream = [float(r[1]) for r in rows if r[0] != "cache"]
    return {
        "hit_latency": percentiles(hits) if hits else None,
        "upstream_latency": percentiles(upstream) if upstream else None,
    }


def run_semantic(args: argparse.Namespace, work: Path) -> dict[str, Any]:
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


def print_build(b: dict[str, Any]) -> None:
    print(
        f"  embedded {b['pool_sentences']} real questions in {b['pool_embed_s']} s "
        f"({b['pool_embed_ms_per_sentence']} ms each, one at a time); "
        f"{b['synthetic_entries']} synthetic vectors ({b['synthetic_shape']}; nearest-real "
        f"cosine p50 {b['synthetic_to_nearest_real_p50']}, real-to-other-real p50 "
        f"{b['real_to_nearest_other_real_p50']})"
    )
    print(
        f"  insert {b['insert_s']} s, read back {b['read_rows_s']} s, index build "
        f"{b['index_build_s']} s (HNSW: {b['index_uses_hnsw']}), save {b['index_save_s']} s "
        f"({b['index_bytes'] / 1e6:.1f} MB); build total {b['total_s']} s",
        flush=True,
    )


def print_lookups(lk: dict[str, Any]) -> None:
    print(
        f"  embedder load {lk['embedder_load_s']} s; first lookup {lk['first_lookup_ms']} ms "
        f"({lk['first_lookup_reason']}); saved partition loaded "
        f"({lk['partition_entries_loaded']} entries) {lk['partition_load_s']} s after it"
    )
    a = lk["lookup_all"]
    verdict = "met" if lk["target_p50_at_most_10ms"] else "MISSED"
    print(
        f"  whole lookup over {a['n']} queries: p50 {a['p50_ms']} ms p95 {a['p95_ms']} ms "
        f"p99 {a['p99_ms']} ms (target p50 <= 10 ms: {verdict})"
    )
    print(
        f"  paraphrase hit rate {lk['paraphrase_hit_rate']} ({lk['paraphrase_hits']}/"
        f"{lk['paraphrase_queries']}, {lk['paraphrase_hits_on_their_own_origin']} on their own "
        f"origin); false hits on {lk['unrelated_queries']} unrelated: "
        f"{lk['unrelated_false_hits']}; misses by reason {lk['misses_by_reason']}"
    )
    stages = ", ".join(f"{k} {v['p50_ms']}" for k, v in lk["stages"].items())
    print(f"  stage p50s (ms): {stages}")
    print(f"  paraphrase recall: {lk['paraphrase_recall']}")
    print(f"  query tokens p50: {lk['query_tokens_p50']}")
    for bucket, whole in lk["lookup_by_query_tokens"].items():
        embed = lk["embed_by_query_tokens"].get(bucket, {})
        print(
            f"  {bucket:>14}: n={whole['n']:<4} lookup p50 {whole['p50_ms']} ms "
            f"p99 {whole['p99_ms']} ms; embedding alone p50 {embed.get('p50_ms')} ms",
            flush=True,
        )


def print_startup(st: dict[str, Any]) -> None:
    print(
        f"  llmgw serve ready in {st['ready_s_empty_median']} s on an empty state file, "
        f"{st['ready_s_100k_median']} s on the 100k one (runs {st['ready_s_empty_state']} / "
        f"{st['ready_s_100k_state']})"
    )
    h = st["http"]
    if h:
        hit = h["hit_semantic_latency"]
        print(
            f"  over HTTP: first semantic hit {h['first_semantic_hit_after_ready_s']} s after "
            f"ready; {h['statuses']} of {h['calls']} paraphrases"
            + (f"; hit p50 {hit['p50_ms']} ms p99 {hit['p99_ms']} ms" if hit else ""),
            flush=True,
        )
        side = h.get("gateway_side", {}).get("hit_latency")
        if side:
            print(f"  the same hits by the gateway's audit rows: p50 {side['p50_ms']} ms")


# -- main -----------------------------------------------------------------------------------------


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
