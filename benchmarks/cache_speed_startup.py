"""Start-up and HTTP of part 2 of ``cache_speed.py``: the big state file served for real.

``measure_startup`` times ``llmgw serve`` to ``/readyz`` on the built state file and on an empty
one; on the last run the big one answers paraphrases over HTTP (``semantic_over_http``: time to
the first semantic hit, then each call's status and latency), and ``audited_latency`` reads the
gateway's own latency of those calls from its audit rows.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from cache_speed_gateway import (
    GATEWAY_CONFIG,
    PY,
    SEMANTIC_TENANT_CACHE,
    chat_body,
    create_key,
    percentiles,
    serve_args,
    start,
    stop,
)
from overhead import free_port


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
