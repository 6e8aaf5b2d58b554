"""Gateway overhead: direct-to-mock vs through ``llmgw serve``, in one run, same machine.

Starts a real ``llmgw mock serve`` (instant answers) and a real ``llmgw serve`` in front of it
(auth and audit on, the audit log in a real SQLite file), then drives both with ``wrk`` at a few
concurrency levels, for plain and streamed chat completions, and reports the added p50/p99
latency and the requests per second each way.

    python benchmarks/overhead.py [--seconds 5] [--rounds 3] [--conns 1,16,64]
    python benchmarks/overhead.py --durability batched,strict   # one gateway per mode

With several ``--durability`` modes, one gateway per mode runs (each on its own state file) and
every round measures direct, then each gateway in turn, so the modes see the same conditions.

Needs ``wrk`` (Debian package ``wrk``). Traffic stays on 127.0.0.1 and every run is bounded by
``--seconds``. Nothing here asserts on timing: it prints numbers for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Write one sentence about gateways."

CONFIG = """
[audit]
durability = "{durability}"
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
"""

# limits that never bind, so every call pays for admission and settlement
LIMITS = """
[limits]
backend = "{backend}"
redis_url = "{redis_url}"

[tenants.bench.limits]
rpm = 100000000
tpm = 1000000000
concurrency = 100000

[[tenants.bench.limits.budgets]]
period = "month"
limit_usd = "1000000"
"""

WRK_LUA = """
wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    args: list[str],
    ready: str,
    log: Path,
    cpu: int | None,
    on_fail: list[subprocess.Popen[bytes] | None] = (),  # type: ignore[assignment]
) -> subprocess.Popen[bytes]:
    if cpu is not None and shutil.which("taskset"):
        args = ["taskset", "-c", str(cpu), *args]
    proc = subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    for other in on_fail:  # what was started before it must not outlive the benchmark
        if other is not None:
            other.kill()
    raise SystemExit(f"{args} did not start:\n{log.read_text()}")


def wrk(
    url: str, body: str, key: str, conns: int, seconds: int, cpu: int | None
) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(WRK_LUA.format(body=body, key=key))
        script = fh.name
    args = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script, url]
    if cpu is not None and shutil.which("taskset"):
        args = ["taskset", "-c", str(cpu), *args]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 30).stdout
    os.unlink(script)
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, float]:
    def ms(text: str) -> float:
        value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    pct = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if errors or socket_errors:
        seen = [m.group(0) for m in (errors, socket_errors) if m]
        print(f"  warning: wrk saw errors: {'; '.join(seen)}")
    return {"p50_ms": ms(pct["50"]), "p99_ms": ms(pct["99"]), "rps": rps}


@dataclass
class Gateway:
    """One ``llmgw serve`` under test, with its state file and key."""

    proc: subprocess.Popen[bytes]
    port: int
    state: Path
    key: str


def start_gateway(
    home: Path,
    config: str,
    cpu: int | None,
    on_fail: list[subprocess.Popen[bytes] | None],
) -> Gateway:
    """A gateway on ``config`` in ``home`` (its own state file), with a key for ``bench``."""
    py = [sys.executable, "-m", "llmgw"]
    home.mkdir(parents=True)
    (home / "llmgw.toml").write_text(config)
    state = home / "state.db"
    create = ["keys", "create", "--tenant", "bench", "--name", "bench", "--json"]
    created = subprocess.run(
        [*py, *create, "--state", str(state)], capture_output=True, text=True, check=True
    )
    port = free_port()
    serve = ["serve", "--config", str(home / "llmgw.toml"), "--state", str(state)]
    proc = start(
        [*py, *serve, "--port", str(port)],
        f"http://127.0.0.1:{port}/readyz",
        home / "gateway.log",
        cpu,
        on_fail=on_fail,
    )
    return Gateway(proc, port, state, json.loads(created.stdout)["secret"])


def cell(
    stream: bool,
    conns: int,
    durability: str,
    direct: dict[str, float],
    vias: list[dict[str, float]],
    rounds: int,
) -> dict[str, Any]:
    """One result row: medians of the gateway's rounds against direct's."""
    via = median_of(vias)
    return {
        "mode": "stream" if stream else "plain",
        "concurrency": conns,
        "durability": durability,
        "direct": direct,
        "gateway": via,
        "rounds": rounds,
        "gateway_rps_each_round": [round(v["rps"]) for v in vias],
        "added_p50_ms": round(via["p50_ms"] - direct["p50_ms"], 3),
        "added_p99_ms": round(via["p99_ms"] - direct["p99_ms"], 3),
        "rps_ratio": round(via["rps"] / direct["rps"], 3),
    }


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", default="1,16,64")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved runs per cell (median)")
    ap.add_argument(
        "--limits",
        choices=("none", "local", "redis"),
        default="none",
        help="give the bench tenant limits and a budget on this backend",
    )
    ap.add_argument("--streams", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument(
        "--durability",
        default="batched",
        help="[audit] durability of the gateway: batched, strict, or both as batched,strict",
    )
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/overhead.json")
    ap.add_argument(
        "--pin",
        action="store_true",
        help="pin mock+wrk to CPU 1 and the gateway to CPU 0 (taskset)",
    )
    args = ap.parse_args()
    modes = args.durability.split(",")
    if not modes or any(m not in ("batched", "strict") for m in modes):
        raise SystemExit("--durability takes batched, strict or batched,strict")
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="llmgw-bench-"))
    py = [sys.executable, "-m", "llmgw"]
    mock_port = free_port()
    pin_mock, pin_gw = (1, 0) if args.pin else (None, None)
    mock = start(
        [*py, "mock", "serve", "--port", str(mock_port)],
        f"http://127.0.0.1:{mock_port}/healthz",
        work / "mock.log",
        pin_mock,
    )
    config = CONFIG.format(mock=mock_port, durability="{durability}")
    redis = None
    if args.limits != "none":
        redis_url = "redis://127.0.0.1:1/0"
        if args.limits == "redis":
            redis_port = free_port()
            redis = subprocess.Popen(
                [
                    "redis-server",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(redis_port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
            )
            time.sleep(0.5)
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
        config += LIMITS.format(backend=args.limits, redis_url=redis_url)
    gateways: dict[str, Gateway] = {}
    try:
        for mode in modes:
            gateways[mode] = start_gateway(
                work / mode, config.replace("{durability}", mode), pin_gw, [mock, redis]
            )
    except BaseException:
        for started in gateways.values():
            started.proc.kill()
        raise
    results: list[dict[str, object]] = []
    try:
        for stream in (False, True) if args.streams else (False,):
            body = json.dumps(
                {
                    "model": "gpt-4o-mini",
                    "stream": stream,
                    "messages": [{"role": "user", "content": PROMPT}],
                }
            )
            gw_body = body.replace('"gpt-4o-mini"', '"bench"')
            for conns in [int(c) for c in args.conns.split(",")]:
                directs: list[dict[str, float]] = []
                vias: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
                for _ in range(args.rounds):  # interleaved, so drift hits every side alike
                    directs.append(
                        wrk(
                            f"http://127.0.0.1:{mock_port}/v1/chat/completions",
                            body,
                            "x",
                            conns,
                            args.seconds,
                            pin_mock,
                        )
                    )
                    for mode, gw in gateways.items():
                        vias[mode].append(
                            wrk(
                                f"http://127.0.0.1:{gw.port}/v1/chat/completions",
                                gw_body,
                                gw.key,
                                conns,
                                args.seconds,
                                pin_mock,
                            )
                        )
                direct = median_of(directs)
                for mode in modes:
                    row = cell(stream, conns, mode, direct, vias[mode], args.rounds)
                    results.append(row)
                    via = row["gateway"]
                    print(
                        f"{row['mode']:6} c={conns:<3} {mode:7} direct {direct['rps']:8.0f} rps "
                        f"p50 {direct['p50_ms']:.3f} ms | gateway {via['rps']:8.0f} rps "
                        f"p50 {via['p50_ms']:.3f} ms p99 {via['p99_ms']:.3f} ms | "
                        f"added p50 {row['added_p50_ms']:.3f} ms p99 {row['added_p99_ms']:.3f}"
                        f" ms | gateway rps per round {row['gateway_rps_each_round']}",
                        flush=True,
                    )
    finally:
        for gw in gateways.values():
            gw.proc.send_signal(signal.SIGTERM)
        mock.send_signal(signal.SIGTERM)
        for gw in gateways.values():
            gw.proc.wait(30)
        mock.wait(30)
        if redis is not None:
            redis.terminate()
    import sqlite3

    rows: dict[str, int] = {}
    for mode, gw in gateways.items():
        rows[mode] = (
            sqlite3.connect(gw.state).execute("SELECT count(*) FROM audit_log").fetchone()[0]
        )
    print(f"audit rows written by the gateways: {rows}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "seconds": args.seconds,
                "load_average": os.getloadavg(),
                "results": results,
                "audit_rows": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {args.json}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
