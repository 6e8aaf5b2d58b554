"""Memory held by large bodies: the gateway's RSS before, at the peak of, and after a burst.

Starts a real ``llmgw mock serve`` and a real ``llmgw serve`` in front of it (tenant retention
``full``, so every body goes to the audit log), records the gateway's resident set size from
``/proc/PID/status`` (``VmRSS``, sampled every 20 ms, and the kernel's own peak ``VmHWM``)
after ``--warmup`` small calls (what the first calls load once is not a body's cost),
sends ``--calls`` chat completions whose request bodies are ``--min-mb`` to ``--max-mb`` MB
each (``--concurrency`` at a time; every fourth call streamed), waits until the audit writer
has committed every row (counted in the state file), lets the process settle, and reports RSS
before / peak / after. The target: after within +100 MB of before.

    python benchmarks/memory_bodies.py [--calls 300] [--concurrency 4] [--min-mb 1] [--max-mb 4]

Linux only (``/proc``). Traffic stays on 127.0.0.1; the run is bounded by ``--calls`` and
``--timeout-s``. Prints one JSON object (also written to ``--json`` when given).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from overhead import free_port  # the benchmarks' one port picker

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
# the llmgw of this checkout, whatever is installed
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
}
TARGET_MB = 100  # after may exceed before by at most this much
SETTLE_S = 3.0  # idle time after the writer drained, before "after" is read

CONFIG = """
[server]
max_body_bytes = {max_body}

[providers.upstream]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"
api_key_env = "BENCH_UPSTREAM_KEY"

[models.bench]
deployments = [{{ provider = "upstream", model = "gpt-4o-mini" }}]

[tenants.bench]
models = ["*"]
retention = "full"
"""


def start(
    args: list[str], ready: str, log: Path, others: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=ENV)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    for other in others:  # what was started before it must not outlive the benchmark
        other.kill()
    raise SystemExit(f"{args} did not start:\n{log.read_text()}")


def status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_s(pid: int) -> tuple[float, float]:
    """User and system CPU seconds the process has used (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


class RssSampler(threading.Thread):
    """Samples a process's VmRSS every ``every_s`` and keeps the highest value seen."""

    def __init__(self, pid: int, every_s: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.peak_kb = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))
            except (OSError, KeyError):
                return
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def text_of(size: int, seed: int) -> str:
    """``size`` characters of word-like ASCII text, different for every ``seed``."""
    rng = random.Random(seed)
    words = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(4096)
    ]
    block = " ".join(words)
    reps = size // len(block) + 1
    return (f"call {seed}: " + block * reps)[:size]


async def drive(
    url: str, key: str, calls: int, concurrency: int, sizes: list[int], first: int = 0
) -> dict[str, int]:
    """Send ``calls`` requests, ``concurrency`` at a time; count answers by status."""
    counts: dict[str, int] = {}
    todo = iter(range(calls))
    headers = {"authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(timeout=120) as client:

        async def worker() -> None:
            for i in todo:
                body = {
                    "model": "bench",
                    "stream": i % 4 == 3,
                    "messages": [{"role": "user", "content": text_of(sizes[i], first + i)}],
                }
                try:
                    resp = await client.post(url, json=body, headers=headers)
                    tag = str(resp.status_code)
                except httpx.HTTPError as exc:
                    tag = type(exc).__name__
                counts[tag] = counts.get(tag, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def audit_rows(state: Path) -> int:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--min-mb", type=float, default=1.0)
    ap.add_argument("--max-mb", type=float, default=4.0)
    ap.add_argument("--warmup", type=int, default=8, help="small calls before 'before'")
    ap.add_argument("--timeout-s", type=float, default=600.0, help="bound on the whole burst")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmgw-membench-"))
    py = [sys.executable, "-m", "llmgw"]
    mock_port, gw_port = free_port(), free_port()
    mock = start(
        [*py, "mock", "serve", "--port", str(mock_port)],
        f"http://127.0.0.1:{mock_port}/healthz",
        work / "mock.log",
        [],
    )
    max_body = int(args.max_mb * MB) + 64 * 1024
    config = work / "llmgw.toml"
    config.write_text(CONFIG.format(mock=mock_port, max_body=max_body))
    state = work / "state.db"
    create = ["keys", "create", "--tenant", "bench", "--name", "bench", "--json"]
    keys = subprocess.run(
        [*py, *create, "--state", str(state)],
        capture_output=True,
        text=True,
        check=True,
        env=ENV,
    )
    key = json.loads(keys.stdout)["secret"]
    gw = start(
        [*py, "serve", "--config", str(config), "--state", str(state), "--port", str(gw_port)],
        f"http://127.0.0.1:{gw_port}/readyz",
        work / "gateway.log",
        [mock],
    )
    rng = random.Random(7)
    sizes = [int(rng.uniform(args.min_mb, args.max_mb) * MB) for _ in range(args.calls)]
    try:
        url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        # warm-up: what the first calls load once (tokenizer tables, pools) is not a body's
        asyncio.run(drive(url, key, args.warmup, 1, [1000] * args.warmup))
        time.sleep(1.0)
        before_kb = status_kb(gw.pid, "VmRSS")
        parts_before = {f: status_kb(gw.pid, f) for f in ("RssAnon", "RssFile", "RssShmem")}
        cpu_before = cpu_s(gw.pid)
        sampler = RssSampler(gw.pid)
        sampler.start()
        t0 = time.monotonic()
        counts = asyncio.run(
            asyncio.wait_for(
                drive(url, key, args.calls, args.concurrency, sizes, first=args.warmup),
                args.timeout_s,
            )
        )
        burst_s = time.monotonic() - t0
        deadline = time.monotonic() + 120
        rows = audit_rows(state)
        while rows < args.warmup + args.calls and time.monotonic() < deadline:
            time.sleep(0.2)
            rows = audit_rows(state)
        drained_s = time.monotonic() - t0
        cpu_after = cpu_s(gw.pid)
        time.sleep(SETTLE_S)
        sampler.stop()
        after_kb = status_kb(gw.pid, "VmRSS")
        parts_after = {f: status_kb(gw.pid, f) for f in ("RssAnon", "RssFile", "RssShmem")}
        hwm_kb = status_kb(gw.pid, "VmHWM")
    finally:
        gw.send_signal(signal.SIGTERM)
        mock.send_signal(signal.SIGTERM)
        gw.wait(30)
        mock.wait(30)
    result = {
        "calls": args.calls,
        "concurrency": args.concurrency,
        "body_mb": [args.min_mb, args.max_mb],
        "request_bytes_total": sum(sizes),
        "answers": counts,
        "warmup_calls": args.warmup,
        "audit_rows": rows,
        "burst_s": round(burst_s, 2),
        "drained_s": round(drained_s, 2),
        "gateway_cpu_user_s": round(cpu_after[0] - cpu_before[0], 2),
        "gateway_cpu_sys_s": round(cpu_after[1] - cpu_before[1], 2),
        "rss_before_mb": round(before_kb / 1024, 1),
        "rss_peak_mb": round(max(sampler.peak_kb, hwm_kb) / 1024, 1),
        "rss_after_mb": round(after_kb / 1024, 1),
        "after_minus_before_mb": round((after_kb - before_kb) / 1024, 1),
        "within_target": (after_kb - before_kb) / 1024 <= TARGET_MB,
        "after_minus_before_by_kind_mb": {
            kind: round((parts_after[kind] - parts_before[kind]) / 1024, 1) for kind in parts_after
        },
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if rows < args.warmup + args.calls:
        raise SystemExit(f"only {rows} of {args.warmup + args.calls} audit rows were written")


if __name__ == "__main__":
    main()
