"""SIGKILL under load: with ``[audit] durability = "strict"`` no call whose client got a
complete answer loses its audit row.

A real ``llmgw serve`` in front of the shared mock upstream takes ~100 calls a second (plain,
streamed, and cache hits) from a client that keeps the ``x-request-id`` of every complete 200
(a whole JSON body, or a stream through ``[DONE]``). The gateway is SIGKILLed while the load
runs, and every kept id must have its row in the state file. The batched control, with a
writer interval longer than the run, loses rows the same way: the check can fail.

Run by hand for numbers: ``python -m tests.integration.test_audit_durability [durability]
[flush_interval_s] [runs]`` prints, per kill, the complete answers and how many rows are missing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Proc, free_port, llmgw_cmd, start_gateway, start_process
from tests.integration.conftest import UPSTREAM_KEY, create_key

CONFIG = """
[audit]
durability = "{durability}"
flush_interval_s = {flush}

[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"
api_key_env = "LLMGW_TEST_UPSTREAM_KEY"

[models.quick]
deployments = [{{ provider = "up", model = "gpt-4o-mini" }}]

[tenants.load]
models = ["*"]
"""

RATE = 100  # calls started per second
LOAD_S = 2.5  # of load before the kill
AFTER_S = 0.3  # of load after it: those calls fail, the kill landed mid-load
CALL_TIMEOUT_S = 5.0
ENOUGH = 50  # complete answers that show the load ran (of 250, on a busy shared machine)


@dataclass
class Tally:
    complete: set[str] = field(default_factory=set)  # x-request-id of every complete 200
    failed: int = 0  # connection refused or cut, or not a complete answer


async def one_call(client: httpx.AsyncClient, i: int, tally: Tally) -> None:
    kind = i % 3  # a plain call, a stream, a cache hit (after the first deterministic call)
    body: dict[str, Any] = {"model": "quick", "messages": [{"role": "user", "content": f"n{i}"}]}
    if kind == 1:
        body["stream"] = True
    elif kind == 2:
        body["messages"] = [{"role": "user", "content": "the same question"}]
        body["temperature"] = 0
    try:
        if kind == 1:
            async with client.stream("POST", "/v1/chat/completions", json=body) as resp:
                done = False
                async for line in resp.aiter_lines():
                    done = done or line == "data: [DONE]"
                if resp.status_code == 200 and done:
                    tally.complete.add(resp.headers["x-request-id"])
                    return
        else:
            resp = await client.post("/v1/chat/completions", json=body)
            if resp.status_code == 200 and resp.json()["choices"][0]["message"]["content"]:
                tally.complete.add(resp.headers["x-request-id"])
                return
    except (httpx.HTTPError, ValueError, KeyError):
        pass
    tally.failed += 1


async def load_then_kill(url: str, secret: str, proc: Proc) -> Tally:
    """``RATE`` calls a second; SIGKILL after ``LOAD_S``, carry on ``AFTER_S``; all bounded."""
    tally = Tally()
    headers = {"authorization": f"Bearer {secret}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=CALL_TIMEOUT_S
    ) as client:
        tasks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        killed = False
        i = 0
        while (now := time.monotonic() - start) < LOAD_S + AFTER_S:
            if not killed and now >= LOAD_S:
                proc.popen.kill()  # SIGKILL: no drain, no flush
                killed = True
            tasks.append(asyncio.create_task(one_call(client, i, tally)))
            i += 1
            await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))
        await asyncio.wait_for(asyncio.gather(*tasks), CALL_TIMEOUT_S * 2)
    proc.popen.wait(10)
    return tally


def stored_ids(state: Path) -> set[str]:
    conn = sqlite3.connect(state)  # recovers the committed transactions from the WAL
    try:
        return {row[0] for row in conn.execute("SELECT id FROM audit_log")}
    finally:
        conn.close()


def kill_under_load(home: Path, mock_url: str, durability: str, flush: float) -> tuple[Tally, int]:
    """One gateway, loaded and killed; the tally and how many complete calls have no row."""
    config = home / "llmgw.toml"
    config.write_text(
        CONFIG.format(durability=durability, flush=flush, mock=mock_url.rsplit(":", 1)[1])
    )
    state = home / "state.db"
    secret = create_key(state, "load", "k")
    proc = start_gateway(home, config, state, env={"LLMGW_TEST_UPSTREAM_KEY": UPSTREAM_KEY})
    try:
        tally = asyncio.run(load_then_kill(proc.url, secret, proc))
    finally:
        proc.stop()
    return tally, len(tally.complete - stored_ids(state))


def test_strict_durability_loses_no_answered_call_on_sigkill(
    mock_upstream: Proc, tmp_path: Path
) -> None:
    tally, lost = kill_under_load(tmp_path, mock_upstream.url, "strict", 0.05)
    assert len(tally.complete) >= ENOUGH, tally  # the load really ran
    assert tally.failed > 0  # calls after the kill failed: it landed mid-load
    assert lost == 0, f"{lost} of {len(tally.complete)} answered calls have no audit row"


def test_batched_durability_control_loses_rows_on_sigkill(
    mock_upstream: Proc, tmp_path: Path
) -> None:
    # a writer interval longer than the run: every row is still queued when the kill lands
    tally, lost = kill_under_load(tmp_path, mock_upstream.url, "batched", 60)
    assert len(tally.complete) >= ENOUGH, tally
    assert lost == len(tally.complete)


def main(argv: list[str]) -> None:
    """Kill gateways under load and print the rows each kill lost (see the docstring)."""
    import tempfile

    durability = argv[0] if argv else "batched"
    flush = float(argv[1]) if len(argv) > 1 else 0.05
    runs = int(argv[2]) if len(argv) > 2 else 3
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        mock = start_process(
            llmgw_cmd("mock", "serve", "--port", str(port)),
            Path(tmp) / "mock.log",
            f"http://127.0.0.1:{port}/healthz",
        )
        try:
            for run in range(runs):
                home = Path(tmp) / f"run{run}"
                home.mkdir()
                tally, lost = kill_under_load(home, mock.url, durability, flush)
                print(
                    f"{durability} flush={flush}s run {run}: {len(tally.complete)} complete "
                    f"answers, {lost} without a row, {tally.failed} failed calls",
                    flush=True,
                )
        finally:
            mock.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
