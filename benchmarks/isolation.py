"""Tenant isolation: does one tenant's huge prompt slow another tenant's calls?

Starts two real ``llmgw mock serve`` upstreams (one for the attacker's models, one for the
victim's: what is measured is the gateway, not a shared upstream) and a real ``llmgw serve``
in front of them, both tenants with limits (every call is counted and reserved), then:

1. **baseline**: the victim's small OpenAI-format calls (``--victims`` at a time) run alone
   while ``/healthz`` is probed every 20 ms;
2. **one attack per shape**: the same, while an attacker process sends 4 MB prompts
   (``--size``) at concurrency ``--attackers``:
   ``letters`` (random lowercase letters without a space, OpenAI format, to ``gpt-4o-mini``
   whose tokenizer we have: BPE over one giant pre-token) and ``zwsp-stream`` (one run of
   U+200B streamed in the Anthropic format to ``claude-haiku-4-5``: counted by the proxy
   tokenizer at admission and again for ``message_start``).

One row per phase: the victim's p50/p99 (calls started in the window), ``/healthz`` p99, and
what the attacker got. Targets per attack: victim p99 within ``--max-added-ms`` (50) of the
baseline's, ``/healthz`` p99 under ``--max-healthz-ms`` (100). Exits 1 when one is missed or
a victim call failed. Traffic stays on 127.0.0.1; every loop is bounded by time and count.

    python benchmarks/isolation.py [--baseline-s 5] [--attack-s 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from overhead import free_port  # the benchmarks' one port picker

LETTERS = bytes(range(97, 123))
ZWSP = "\u200b".encode()
MAX_ATTACK_CALLS, MAX_VICTIM_CALLS = 400, 20_000  # per phase, whatever its duration
PROBE_EVERY_S = 0.02
CALL_TIMEOUT_S = 60.0
LLMGW = [sys.executable, "-m", "llmgw"]

CONFIG = """
[server]
drain_timeout_s = 2

[audit]
flush_interval_s = 0.05

[providers.up-openai]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"
api_key_env = "LLMGW_BENCH_UPSTREAM_KEY"

[providers.up-anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{mock}"
api_key_env = "LLMGW_BENCH_UPSTREAM_KEY"

[providers.victim-upstream]
kind = "openai"
base_url = "http://127.0.0.1:{victim_mock}/v1"
api_key_env = "LLMGW_BENCH_UPSTREAM_KEY"

[models.gpt]
deployments = [{{ provider = "up-openai", model = "gpt-4o-mini" }}]

[models.claude]
deployments = [{{ provider = "up-anthropic", model = "claude-haiku-4-5" }}]

[models.victim-gpt]
deployments = [{{ provider = "victim-upstream", model = "gpt-4o-mini" }}]
{tenants}
"""

# limits that never bind: every call pays for counting, admission and settlement
TENANT = """
[tenants.{name}]
models = ["*"]
[tenants.{name}.limits]
rpm = 100000000
tpm = 1000000000
concurrency = 100000
[[tenants.{name}.limits.budgets]]
period = "month"
limit_usd = "1000000"
"""


def start(args: list[str], ready: str, log: Path) -> subprocess.Popen[bytes]:
    """Start a process and wait (at most 30 s) until ``ready`` answers 200."""
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30

    async def ready_once() -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(ready, timeout=1) as r:
                return r.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if asyncio.run(ready_once()):
            return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{args} did not start:\n{log.read_text(errors='replace')}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def create_key(state: Path, tenant: str) -> str:
    args = [*LLMGW, *f"keys create --tenant {tenant} --name {tenant} --json".split()]
    out = subprocess.run(
        [*args, "--state", str(state)], capture_output=True, text=True, check=True, timeout=60
    )
    return str(json.loads(out.stdout)["secret"])


# ----------------------------------------------------------------------------- the attacker


def attack_body(shape: str, size: int, n: int) -> tuple[str, bytes]:
    """(path, body) of the ``n``-th attack call: ``size`` bytes of prompt, unique per call."""
    tag = f"{n:08d}".encode()
    if shape == "letters":
        text = os.urandom(size - len(tag)).translate((LETTERS * 10)[:256])
        head = b'{"model":"gpt","max_tokens":16,"messages":[{"role":"user","content":"'
        return "/v1/chat/completions", head + tag + text + b'"}]}'
    text = ZWSP * ((size - len(tag)) // len(ZWSP))
    head = b'{"model":"claude","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"'
    return "/v1/messages", head + tag + text + b'"}]}'


async def attack_loop(base: str, key: str, shape: str, size: int, conns: int, until: float):
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    sent = 0
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one() -> None:
            nonlocal sent
            while time.monotonic() < until and sent < MAX_ATTACK_CALLS:
                sent += 1
                path, body = attack_body(shape, size, sent)
                t0 = time.perf_counter()
                try:
                    async with session.post(base + path, data=body, headers=headers) as r:
                        await r.read()
                        statuses[str(r.status)] += 1
                except (TimeoutError, aiohttp.ClientError) as exc:
                    statuses[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one() for _ in range(conns)))
    return dict(statuses), latencies


def attacker(base: str, key: str, shape: str, size: int, conns: int, seconds: float, q: Any):
    """Runs in its own process, so the attacker's bytes never share the victim's loop."""
    until = time.monotonic() + seconds
    statuses, latencies = asyncio.run(attack_loop(base, key, shape, size, conns, until))
    q.put({"statuses": statuses, "latencies": latencies})


# ------------------------------------------------------------------------ victim and probes


@dataclass
class Window:
    victim_ms: list[float] = field(default_factory=list)
    victim_errors: Counter[str] = field(default_factory=Counter)
    healthz_ms: list[float] = field(default_factory=list)


async def measure(base: str, key: str, conns: int, seconds: float) -> Window:
    """Victim calls (``conns`` at a time) and ``/healthz`` probes, started within ``seconds``."""
    win = Window()
    until = time.monotonic() + seconds
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=CALL_TIMEOUT_S)
    counter = 0
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def victim() -> None:
            nonlocal counter
            while time.monotonic() < until and counter < MAX_VICTIM_CALLS:
                counter += 1
                body = {
                    "model": "victim-gpt",
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"Say hello, number {counter}."}],
                }
                t0 = time.perf_counter()
                try:
                    async with session.post(
                        base + "/v1/chat/completions", json=body, headers=headers
                    ) as r:
                        await r.read()
                        if r.status != 200:
                            win.victim_errors[str(r.status)] += 1
                except (TimeoutError, aiohttp.ClientError) as exc:
                    win.victim_errors[type(exc).__name__] += 1
                win.victim_ms.append((time.perf_counter() - t0) * 1000)

        async def probe() -> None:
            while time.monotonic() < until:
                t0 = time.perf_counter()
                try:
                    async with session.get(base + "/healthz") as r:
                        await r.read()
                except (TimeoutError, aiohttp.ClientError):
                    pass
                elapsed = time.perf_counter() - t0
                win.healthz_ms.append(elapsed * 1000)
                await asyncio.sleep(max(0.0, PROBE_EVERY_S - elapsed))

        await asyncio.gather(probe(), *(victim() for _ in range(conns)))
    return win


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def settle_down(base: str, seconds: float = 30.0) -> None:
    """Wait until three probes in a row answer fast (the last attack has drained)."""
    deadline = time.monotonic() + seconds
    fast = 0
    async with aiohttp.ClientSession() as session:
        while fast < 3 and time.monotonic() < deadline:
            t0 = time.perf_counter()
            try:
                async with session.get(base + "/healthz", timeout=5) as r:
                    await r.read()
                fast = fast + 1 if time.perf_counter() - t0 < 0.02 else 0
            except (TimeoutError, aiohttp.ClientError):
                fast = 0
            await asyncio.sleep(0.1)


# ----------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline-s", type=float, default=5.0)
    ap.add_argument("--attack-s", type=float, default=10.0)
    ap.add_argument("--victims", type=int, default=2, help="victim calls in flight")
    ap.add_argument("--attackers", type=int, default=4, help="attack calls in flight")
    ap.add_argument("--size", type=int, default=4_000_000, help="bytes of each attack prompt")
    ap.add_argument("--shapes", default="letters,zwsp-stream")
    ap.add_argument("--max-added-ms", type=float, default=50.0)
    ap.add_argument("--max-healthz-ms", type=float, default=100.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args()
    shapes = [s for s in args.shapes.split(",") if s]
    if set(shapes) - {"letters", "zwsp-stream"}:
        raise SystemExit(f"unknown shape in {args.shapes!r}")

    work = Path(tempfile.mkdtemp(prefix="llmgw-isolation-"))
    mock_port, victim_port, gw_port = free_port(), free_port(), free_port()
    tenants = "".join(TENANT.format(name=n) for n in ("victim", "attacker"))
    config = CONFIG.format(mock=mock_port, victim_mock=victim_port, tenants=tenants)
    (work / "llmgw.toml").write_text(config)
    state = work / "state.db"
    victim_key, attacker_key = create_key(state, "victim"), create_key(state, "attacker")
    mocks = [
        start(
            [*LLMGW, "mock", "serve", "--port", str(port)],
            f"http://127.0.0.1:{port}/healthz",
            work / f"mock-{port}.log",
        )
        for port in (mock_port, victim_port)
    ]
    try:
        serve = f"serve --config {work / 'llmgw.toml'} --state {state} --port {gw_port}"
        gw = start(
            [*LLMGW, *serve.split()], f"http://127.0.0.1:{gw_port}/readyz", work / "gateway.log"
        )
    except BaseException:
        for mock in mocks:
            stop(mock)
        raise
    base = f"http://127.0.0.1:{gw_port}"
    rows: list[dict[str, Any]] = []
    ctx = mp.get_context("spawn")
    try:
        asyncio.run(measure(base, victim_key, args.victims, 1.0))  # warm up
        baseline = asyncio.run(measure(base, victim_key, args.victims, args.baseline_s))
        rows.append(row("baseline", baseline, None))
        for shape in shapes:
            q = ctx.Queue()
            proc = ctx.Process(
                target=attacker,
                args=(base, attacker_key, shape, args.size, args.attackers, args.attack_s, q),
            )
            proc.start()
            time.sleep(0.5)  # the first attack calls are in the gateway
            win = asyncio.run(measure(base, victim_key, args.victims, args.attack_s - 0.5))
            try:
                report = q.get(timeout=CALL_TIMEOUT_S + args.attack_s)
            except Exception:  # a stuck attacker is reported, not fatal
                report = {"statuses": {"no report": 1}, "latencies": []}
            proc.join(10)
            if proc.is_alive():
                proc.kill()
            rows.append(row(shape, win, report))
            asyncio.run(settle_down(base))
    finally:
        stop(gw)
        for mock in mocks:
            stop(mock)
    return report_rows(rows, args)


def row(phase: str, win: Window, attack: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"phase": phase, "victim_calls": len(win.victim_ms)}
    out["victim_errors"] = dict(win.victim_errors)
    for name, values in (("victim", win.victim_ms), ("healthz", win.healthz_ms)):
        out[f"{name}_p50_ms"] = round(pct(values, 0.50), 2)
        out[f"{name}_p99_ms"] = round(pct(values, 0.99), 2)
        out[f"{name}_max_ms"] = round(max(values, default=float("nan")), 2)
    if attack is not None:
        lat = attack["latencies"]
        out["attack_calls"] = len(lat)
        out["attack_statuses"] = attack["statuses"]
        out["attack_median_s"] = round(statistics.median(lat), 2) if lat else None
    return out


def report_rows(rows: list[dict[str, Any]], args: argparse.Namespace) -> int:
    base_p99 = rows[0]["victim_p99_ms"]
    head = (
        f"{'phase':12} {'victim n':>8} {'p50 ms':>8} {'p99 ms':>8} {'+p99 ms':>8} "
        f"{'max ms':>8} {'healthz p99':>11} {'attack n':>8}  attack statuses / median"
    )
    print(head)
    print("-" * len(head))
    failed: list[str] = []
    for r in rows:
        added = r["victim_p99_ms"] - base_p99
        attack = ""
        if "attack_calls" in r:
            attack = f"{r['attack_statuses']} / {r['attack_median_s']} s"
            if added > args.max_added_ms:
                failed.append(f"{r['phase']}: victim p99 +{added:.1f} ms > {args.max_added_ms}")
            if not r["healthz_p99_ms"] < args.max_healthz_ms:
                failed.append(
                    f"{r['phase']}: /healthz p99 {r['healthz_p99_ms']} ms >= {args.max_healthz_ms}"
                )
        if r["victim_errors"]:
            failed.append(f"{r['phase']}: victim calls failed {r['victim_errors']}")
        print(
            f"{r['phase']:12} {r['victim_calls']:>8} {r['victim_p50_ms']:>8.1f} "
            f"{r['victim_p99_ms']:>8.1f} {added:>+8.1f} {r['victim_max_ms']:>8.1f} "
            f"{r['healthz_p99_ms']:>11.1f} {r.get('attack_calls', ''):>8}  {attack}"
        )
    print(f"load average: {os.getloadavg()[0]:.2f} (1 min)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "targets_missed": failed}, indent=2))
    for f in failed:
        print(f"target missed: {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
