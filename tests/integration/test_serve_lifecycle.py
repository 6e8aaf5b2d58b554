"""``llmgw serve`` as a user runs it: embedded default, bad config, graceful shutdown."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import openai

from tests.conftest import free_port, llmgw_cmd, start_process

SLOW_CONFIG = """
[server]
drain_timeout_s = 10

[providers.slow]
kind = "mock"

[providers.slow.mock]
tokens_per_s = 25
output_tokens = 25

[providers.fast]
kind = "mock"

[models.slow]
deployments = [{ provider = "slow", model = "mock-small" }]

[models.fast]
deployments = [{ provider = "fast", model = "mock-small" }]

[tenants.t]
models = ["*"]
"""


def clean_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "LLMGW_STATE")
    }


def audit_count(state: Path) -> int:
    conn = sqlite3.connect(state)
    try:
        return int(conn.execute("SELECT count(*) FROM audit_log").fetchone()[0])
    finally:
        conn.close()


def test_embedded_default_prints_a_working_demo_key(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state.db"
    env = {**clean_env(), "LLMGW_STATE": str(state)}
    proc = subprocess.Popen(
        llmgw_cmd("serve", "--port", str(port)),
        cwd=tmp_path,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = ""
        deadline = time.monotonic() + 30
        while "llmgw audit query" not in banner and time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            banner += line
        key = re.search(r"demo key:\s+(sk-llmgw-\S+)", banner)
        assert key, banner
        assert "curl" in banner and "from openai import OpenAI" in banner
        c = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=key.group(1), max_retries=2
        )
        for _ in range(50):  # the banner prints just before uvicorn starts accepting
            try:
                resp = c.chat.completions.create(
                    model="mock-small", messages=[{"role": "user", "content": "Hello!"}]
                )
                break
            except openai.APIConnectionError:
                time.sleep(0.1)
        assert resp.choices[0].message.content
        assert resp.model == "mock-small"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert audit_count(state) == 1


def test_invalid_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "llmgw.toml"
    config.write_text('[server]\nport = "eighty"\n')
    out = subprocess.run(
        llmgw_cmd("serve", "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
    )
    assert out.returncode == 2
    message = out.stderr.strip()
    assert str(config) in message and "server.port" in message
    assert "Traceback" not in out.stderr + out.stdout


def test_sigterm_drains_streams_and_loses_no_audit_row(tmp_path: Path) -> None:
    config = tmp_path / "llmgw.toml"
    config.write_text(SLOW_CONFIG)
    state = tmp_path / "state.db"
    key = subprocess.run(
        llmgw_cmd(
            "keys", "create", "--tenant", "t", "--name", "k", "--json", "--state", str(state)
        ),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    import json

    secret = json.loads(key)["secret"]
    port = free_port()
    proc = start_process(
        llmgw_cmd("serve", "--config", str(config), "--state", str(state), "--port", str(port)),
        tmp_path / "gw.log",
        f"http://127.0.0.1:{port}/readyz",
        env=clean_env(),
    )
    c = openai.OpenAI(base_url=f"{proc.url}/v1", api_key=secret, max_retries=0)
    started = threading.Event()
    result: dict[str, object] = {}

    def consume() -> None:
        pieces, finish = [], None
        for chunk in c.chat.completions.create(
            model="slow", messages=[{"role": "user", "content": "go"}], stream=True
        ):
            started.set()
            for ch in chunk.choices:
                pieces.append(ch.delta.content or "")
                finish = ch.finish_reason or finish
        result["text"], result["finish"] = "".join(pieces), finish

    for _ in range(100):  # quick calls whose rows must all reach the disk
        c.chat.completions.create(model="fast", messages=[{"role": "user", "content": "x"}])
    t = threading.Thread(target=consume)
    t.start()
    assert started.wait(10)
    assert proc.stop(signal.SIGTERM, timeout=30) == 0
    t.join(10)
    assert result.get("finish") == "stop", result  # the in-flight stream finished whole
    assert len(str(result["text"]).split()) == 25
    assert audit_count(state) == 101


SHORT_DRAIN_CONFIG = """
[server]
drain_timeout_s = 1

[providers.slow]
kind = "mock"

[providers.slow.mock]
tokens_per_s = 10
output_tokens = 400

[models.slow]
deployments = [{ provider = "slow", model = "mock-small" }]

[[pricing]]
model = "mock-small"
provider = "mock"
input_per_mtok = "1.00"
output_per_mtok = "4.00"

[tenants.t]
models = ["*"]
"""


def test_streams_open_past_the_drain_deadline_end_in_band_and_are_billed(tmp_path: Path) -> None:
    import json

    import httpx

    config = tmp_path / "llmgw.toml"
    config.write_text(SHORT_DRAIN_CONFIG)
    state = tmp_path / "state.db"
    secret = json.loads(
        subprocess.run(
            llmgw_cmd(
                "keys", "create", "--tenant", "t", "--name", "k", "--json", "--state", str(state)
            ),
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    )["secret"]
    port = free_port()
    log = tmp_path / "gw.log"
    proc = start_process(
        llmgw_cmd("serve", "--config", str(config), "--state", str(state), "--port", str(port)),
        log,
        f"http://127.0.0.1:{port}/readyz",
        env=clean_env(),
    )
    bodies: list[bytes] = [b"", b""]
    started = [threading.Event(), threading.Event()]

    def consume(i: int) -> None:
        body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "go"}]}
        with (
            httpx.Client(timeout=30) as client,
            client.stream(
                "POST",
                f"{proc.url}/v1/chat/completions",
                json=body,
                headers={"authorization": f"Bearer {secret}"},
            ) as resp,
        ):
            for piece in resp.iter_bytes():
                bodies[i] += piece
                if bodies[i].count(b"data:") >= 3:
                    started[i].set()

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    assert all(s.wait(15) for s in started)
    assert proc.stop(signal.SIGTERM, timeout=30) == 0
    for t in threads:
        t.join(10)
    for body in bodies:
        events = [line[6:] for line in body.decode().splitlines() if line.startswith("data: ")]
        assert events[-1] != "[DONE]"
        assert json.loads(events[-1])["error"]["code"] == "gateway_shutdown"
    assert "Traceback" not in log.read_text()
    conn = sqlite3.connect(state)
    try:
        rows = conn.execute(
            "SELECT outcome, error_class, output_tokens, cost_nanos FROM audit_log"
        ).fetchall()
    finally:
        conn.close()
    assert len(rows) == 2
    for outcome, error_class, output_tokens, cost in rows:
        assert (outcome, error_class) == ("aborted", "gateway_shutdown")
        assert output_tokens > 0 and cost > 0
