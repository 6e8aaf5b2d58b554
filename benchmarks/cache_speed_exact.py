"""Part 1 of ``cache_speed.py``: exact cache hits over HTTP, measured with ``wrk``.

``run_exact`` starts the mock and the gateway, stores one ``temperature: 0`` answer (``prime_hit``
waits until a probe answers ``x-llmgw-cache: hit-exact``), then runs direct / bypass / miss / hit
in interleaved rounds for each concurrency and reports the medians, the differences the targets
are about (hit - direct, miss - bypass) and what the gateway recorded against what wrk sent.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cache_speed_gateway import (
    GATEWAY_CONFIG,
    PROMPT,
    PY,
    UPSTREAM_MODEL,
    chat_body,
    create_key,
    serve_args,
    start,
    stop,
)
from overhead import free_port, median_of

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
