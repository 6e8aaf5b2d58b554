"""Replay and diff end to end: real traffic recorded by a real gateway, replayed elsewhere.

Two ``llmgw mock serve`` upstreams: the one behind the recorded traffic answers 12 tokens, the
candidate's 14 (the same prompt gives the same words, so plain answers come out near-equal);
a third model on the first mock is content-filtered. The mock never answers JSON, so the
JSON-mode originals are rewritten on the record to what a JSON-honouring model would have
said: the contract check then has something to hold the candidate to.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
import typer
from typer.testing import CliRunner

from llmgw.cli import audit_replay
from tests.conftest import Proc, free_port, llmgw_cmd, start_process
from tests.integration.audit_rows import audit_row
from tests.integration.conftest import create_key

CONFIG = """
[audit]
flush_interval_s = 0.01

[providers.a]
kind = "openai"
base_url = "http://127.0.0.1:{mock_a}/v1"

[providers.b]
kind = "openai"
base_url = "http://127.0.0.1:{mock_b}/v1"

[models.primary]
deployments = [{{ provider = "a", model = "primary-m" }}]

[models.cand]
deployments = [{{ provider = "b", model = "cand-m" }}]

[models.filtered]
deployments = [{{ provider = "a", model = "cand-filter" }}]

[[pricing]]
model = "cand-m"
input_per_mtok = 1000
output_per_mtok = 2000

[tenants.acme]
models = ["*"]
retention = "full"
"""

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        },
    }
]
JSON_ANSWER = '{"answer": "yes", "score": 3}'


@dataclass
class Env:
    state: Path
    config: Path
    ids: dict[str, list[str]]  # kind of call -> recorded request ids


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("replay")(audit_replay.replay)
    app.command("diff")(audit_replay.diff)
    app.command("runs")(audit_replay.runs)
    return app


def cli(env: Env, *args: str) -> tuple[int, str]:
    common = ["--state", str(env.state)]
    if args[0] == "replay":
        common += ["--config", str(env.config)]
    result = CliRunner().invoke(_cli(), [*args, *common])
    return result.exit_code, result.output


def _record(client: openai.OpenAI, state: Path) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {"plain": [], "short": [], "json": [], "tools": [], "stream": []}

    def call(kind: str, **kw: object) -> None:
        create: Any = client.chat.completions.with_raw_response.create
        raw = create(model="primary", **kw)
        if kw.get("stream"):
            for _ in raw.parse():
                pass
        ids[kind].append(raw.headers["x-request-id"])

    for i in range(4):
        call("plain", messages=[{"role": "user", "content": f"tell me about topic {i}"}])
    for i in range(2):
        call("short", messages=[{"role": "user", "content": f"short {i}"}], max_tokens=5)
    for i in range(2):
        call(
            "json",
            messages=[{"role": "user", "content": f"json please {i}"}],
            response_format={"type": "json_object"},
        )
    for i in range(2):
        call("tools", messages=[{"role": "user", "content": f"weather {i}"}], tools=TOOLS)
    call("stream", messages=[{"role": "user", "content": "stream it"}], stream=True)
    for request_id in (i for group in ids.values() for i in group):
        audit_row(state, request_id)
    return ids


def _as_json_answers(state: Path, ids: list[str]) -> None:
    conn = sqlite3.connect(state)
    try:
        for request_id in ids:
            (body,) = conn.execute(
                "SELECT response_body FROM audit_log WHERE id = ?", (request_id,)
            ).fetchone()
            data = json.loads(body)
            data["choices"][0]["message"]["content"] = JSON_ANSWER
            conn.execute(
                "UPDATE audit_log SET response_body = ? WHERE id = ?",
                (json.dumps(data), request_id),
            )
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("replay")
    procs: list[Proc] = []
    try:
        ports = []
        for name, tokens, faults in (
            ("a", "12", ["--fault", "cand-filter=content_filter"]),
            ("b", "14", []),
        ):
            port = free_port()
            args = ["mock", "serve", "--port", str(port), "--output-tokens", tokens, *faults]
            procs.append(
                start_process(
                    llmgw_cmd(*args), home / f"mock-{name}.log", f"http://127.0.0.1:{port}/healthz"
                )
            )
            ports.append(port)
        config = home / "llmgw.toml"
        config.write_text(CONFIG.format(mock_a=ports[0], mock_b=ports[1]))
        state = home / "state.db"
        key = create_key(state, "acme", "t")
        port = free_port()
        procs.append(
            start_process(
                llmgw_cmd(
                    "serve", "--config", str(config), "--state", str(state), "--port", str(port)
                ),
                home / "gw.log",
                f"http://127.0.0.1:{port}/readyz",
            )
        )
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
        ids = _record(client, state)
        _as_json_answers(state, ids["json"])
        yield Env(state, config, ids)
    finally:
        for proc in reversed(procs):
            proc.stop()


def _report(env: Env, tmp_path: Path, a: str, b: str, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / f"{a}-{b}.json"
    code, output = cli(env, "diff", a, b, "--json", str(out), *extra)
    assert code in (0, 1), output
    return code, json.loads(out.read_text())


def test_replay_then_diff_against_the_record(env: Env, tmp_path: Path) -> None:
    code, out = cli(env, "replay", "--target", "cand", "--tenant", "acme", "--name", "r1", "--yes")
    assert code == 0, out
    assert "11 sent, 0 failed" in out
    code, report = _report(env, tmp_path, "original", "r1")
    counts = report["counts"]
    assert report["pairs"] == 11
    assert counts["identical"] == 4  # max_tokens=5 answers and tool calls
    assert counts["equivalent"] == 5  # 12 vs 14 words, the stream replayed as a plain call
    assert counts["different"] == 2 and counts["json_broken"] == 2
    assert counts["tool_calls_changed"] == 0 and counts["refusal"] == 0
    broken = {i["original_id"] for i in report["items"] if "json_broken" in i["findings"]}
    assert broken == set(env.ids["json"])
    # the candidate is priced, the original mock models are not
    assert report["totals"]["b"]["cost_nanos"] > 0 == report["totals"]["a"]["cost_nanos"]
    markdown = tmp_path / "r1.md"
    code, _ = cli(env, "diff", "original", "r1", "--markdown", str(markdown))
    assert code == 0 and "| json_broken | 2 |" in markdown.read_text()
    assert cli(env, "diff", "original", "r1", "--fail-on", "different>10%")[0] == 1
    assert cli(env, "diff", "original", "r1", "--fail-on", "different>20%,refusal>0")[0] == 0
    assert cli(env, "diff", "original", "r1", "--fail-on", "differentish>1")[0] == 2
    assert cli(env, "diff", "original", "nope")[0] == 2


def test_content_filtered_candidate_breaks_contracts(env: Env, tmp_path: Path) -> None:
    code, out = cli(env, "replay", "--target", "filtered", "--name", "r2", "--yes")
    assert code == 0, out
    code, report = _report(env, tmp_path, "original", "r2", "--fail-on", "tool_calls_changed>0")
    assert code == 1
    counts = report["counts"]
    assert counts["refusal"] == 11 and counts["finish_changed"] == 11
    assert counts["tool_calls_changed"] == 2


def test_max_cost_stops_and_resume_finishes(env: Env) -> None:
    code, out = cli(
        env, "replay", "--target", "cand", "--name", "capped", "--max-cost", "0.1", "--yes",
        "--concurrency", "2",
    )  # fmt: skip
    assert code == 1, out
    conn = sqlite3.connect(env.state)
    try:
        first = dict(
            conn.execute("SELECT original_id, finished_at FROM replay_results WHERE run = 'capped'")
        )
        (status,) = conn.execute("SELECT status FROM replay_runs WHERE name = 'capped'").fetchone()
        (spent,) = conn.execute(
            "SELECT SUM(cost_nanos) FROM replay_results WHERE run = 'capped'"
        ).fetchone()
    finally:
        conn.close()
    assert status == "stopped" and 0 < len(first) < 11
    assert spent <= 100_000_000  # $0.10
    code, out = cli(env, "replay", "--resume", "capped", "--max-cost", "100", "--yes")
    assert code == 0, out
    assert f"{len(first)} already done" in out
    conn = sqlite3.connect(env.state)
    try:
        rows = dict(
            conn.execute("SELECT original_id, finished_at FROM replay_results WHERE run = 'capped'")
        )
    finally:
        conn.close()
    assert len(rows) == 11
    assert all(rows[i] == first[i] for i in first)  # the done ones were not sent again
    code, out = cli(env, "runs", "--json")
    listed = {r["name"]: r for r in json.loads(out)}
    assert listed["capped"]["status"] == "done" and listed["capped"]["results"] == 11
    assert cli(env, "replay", "--target", "cand", "--name", "capped", "--yes")[0] == 2
    assert cli(env, "replay", "--target", "no-such-model", "--yes")[0] == 2


@pytest.mark.parametrize(
    ("cost", "text"),
    [
        ("ten", "--max-cost: bad amount 'ten': expected a plain decimal"),
        ("0.0000000001", "--max-cost: bad amount '0.0000000001': finer than a nano-dollar"),
        ("0", "--max-cost must be more than 0"),
        ("-$1", "--max-cost must be more than 0"),
    ],
)
def test_bad_max_cost_is_a_one_line_exit_2(cost: str, text: str) -> None:
    result = CliRunner().invoke(_cli(), ["replay", "--target", "x", "--max-cost", cost])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert text in " ".join(result.output.split()) and "Traceback" not in result.output
