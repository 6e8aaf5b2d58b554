"""Latency of the Redis limit store on this host, idle and with the cores saturated.

Starts a private ``redis-server`` (persistence off, loopback, a free port) and measures, from
one asyncio event loop as the gateway sees it:

- connect: opening a fresh connection and answering ``PING`` (sequentially, ``--connects``);
- admit and settle: ``RedisStore.admit`` / ``settle`` of a chain with rpm, tpm, concurrency
  and a budget (each one ``EVALSHA``), at each ``--conc`` level, ``--calls`` calls per level.

With ``--hogs N`` the same runs are repeated while N busy-loop processes (each ending itself
after 10 minutes at the latest) compete for the cores. It prints
p50/p99/p99.9/max per operation in milliseconds; these numbers set the defaults of
``[limits] redis_connect_timeout_s`` and ``redis_timeout_s``. Nothing asserts on timing.

    python benchmarks/redis_latency.py [--calls 3000] [--conc 1,16,64] [--hogs 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from overhead import free_port  # the benchmarks' one port picker

from llmgw.limits.model import BudgetSpec, Demand, NodeLimits
from llmgw.limits.redis_store import RedisStore

# a busy loop that ends itself after 10 minutes even if this script dies first
HOG = "import time\nend = time.monotonic() + 600\nwhile time.monotonic() < end: pass"
CHAIN = (
    NodeLimits("bench", rpm=10**8, tpm=10**9, concurrency=10**6),
    NodeLimits("bench/key", budgets=(BudgetSpec("day", "day", 10**18),)),
)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    args = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir"]
    popen = subprocess.Popen([*args, str(workdir)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return popen, port
        except OSError:
            time.sleep(0.02)
    popen.kill()
    raise SystemExit("redis-server did not start")


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 2)

    return {"n": len(s), "p50": at(0.5), "p99": at(0.99), "p99.9": at(0.999), "max": at(1.0)}


async def connects(url: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        client = aioredis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=10)
        await client.ping()
        out.append(time.perf_counter() - t0)
        await client.aclose()
    return out


async def store_calls(url: str, calls: int, conc: int) -> tuple[list[float], list[float]]:
    store = RedisStore(url, connect_timeout_s=10, timeout_s=10, max_connections=conc)
    admits: list[float] = []
    settles: list[float] = []
    left = calls

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            t0 = time.perf_counter()
            adm = await store.admit(CHAIN, Demand(tokens=100, cost_nanos=1000, model="m"))
            t1 = time.perf_counter()
            await store.settle(adm, 90, 900)
            admits.append(t1 - t0)
            settles.append(time.perf_counter() - t1)

    await store.start()
    await asyncio.gather(*(worker() for _ in range(conc)))
    await store.aclose()
    return admits, settles


def measure(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    out = {"connect": percentiles(asyncio.run(connects(url, args.connects)))}
    for conc in args.conc:
        admits, settles = asyncio.run(store_calls(url, args.calls, conc))
        out[f"admit c={conc}"] = percentiles(admits)
        out[f"settle c={conc}"] = percentiles(settles)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calls", type=int, default=3000, help="calls per concurrency level")
    p.add_argument("--connects", type=int, default=300)
    p.add_argument("--conc", default="1,16,64", help="comma-separated concurrency levels")
    p.add_argument("--hogs", type=int, default=2, help="busy processes for the loaded run")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    args.conc = [int(c) for c in args.conc.split(",")]
    results: dict[str, object] = {"load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        popen, port = start_redis(Path(tmp))
        url = f"redis://127.0.0.1:{port}/0"
        try:
            results["idle"] = measure(url, args)
            hogs = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(args.hogs)]
            try:
                time.sleep(1)  # let the hogs take the cores
                results[f"{args.hogs} hogs"] = measure(url, args)
                results["load_during"] = os.getloadavg()[0]
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
        finally:
            popen.terminate()
            popen.wait(10)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"load average before: {results['load_before']:.2f}")
    for label in ("idle", f"{args.hogs} hogs"):
        print(f"\n{label} (ms)")
        rows = results[label]
        assert isinstance(rows, dict)
        for op, row in rows.items():
            cells = "  ".join(f"{k} {v:>8}" for k, v in row.items())
            print(f"  {op:<16} {cells}")
    print(f"\nload average during the loaded run: {results['load_during']:.2f}")


if __name__ == "__main__":
    main()
