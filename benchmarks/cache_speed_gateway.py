"""The gateway under test in ``cache_speed.py``: its config, processes, key and request body.

Both parts of the benchmark start a real ``llmgw mock serve`` and ``llmgw serve`` (tenant
``bench``, public model ``bench`` routed to the mock's ``gpt-4o-mini``) with these helpers, send
chat bodies built by ``chat_body``, and summarise latencies with ``percentiles`` (overall and
``by_tokens``, per bucket of the query's token count).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PY = [sys.executable, "-m", "llmgw"]
PROMPT = "Write one sentence about gateways."
TENANT = "bench"
PUBLIC_MODEL = "bench"
UPSTREAM_MODEL = "gpt-4o-mini"
SCOPE = f"tenant:{TENANT}"  # the default cache scope ("tenant") of tenant bench
EMBEDDER = "minilm-l6-v2-int8"
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


# -- processes -----------------------------------------------------------------------------------


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
    """SIGTERM, then SIGKILL after 30 s; nothing for a process that is not running."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def create_key(state: Path) -> str:
    """A new virtual key of tenant bench in ``state`` (through the CLI); its secret."""
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
    """The ``llmgw serve`` command line for ``config`` and ``state`` on ``port``."""
    return [*PY, "serve", "--config", str(config), "--state", str(state), "--port", str(port)]


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
    """p50/p95/p99/mean (ms, rounded to µs) and the count of ``values_ms``."""
    arr = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "p99_ms": round(float(np.percentile(arr, 99)), 3),
        "mean_ms": round(float(arr.mean()), 3),
        "n": int(arr.size),
    }


def chat_body(prompt: str, *, model: str = PUBLIC_MODEL, temperature: bool = True) -> str:
    """A chat completion body for ``prompt``; ``temperature: 0`` (cacheable) unless told not."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    if temperature:
        body["temperature"] = 0
    return json.dumps(body)
