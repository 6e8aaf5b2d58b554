"""A real gateway writes chained rows; edits made with sqlite3 are caught by ``audit verify``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Proc, free_port, llmgw_cmd, start_process
from tests.integration.conftest import create_key

CONFIG = """
[audit]
flush_interval_s = 0.01

[providers.local]
kind = "mock"

[models.local-small]
deployments = [{ provider = "local", model = "mock-small" }]

[tenants.acme]
models = ["*"]
retention = "redacted"
"""
SECRET = "sk-proj-THISLOOKSSECRET0123456789abcdef"
EMAIL = "jane.doe@example.org"
ROWS = 6


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        llmgw_cmd(*args),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LLMGW_AUDIT_KEY": "test-key", **(env or {})},
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Proc]]:
    home = tmp_path_factory.mktemp("tamper")
    (home / "llmgw.toml").write_text(CONFIG)
    state = home / "state.db"
    key = create_key(state, "acme", "t")
    port = free_port()
    proc = start_process(
        llmgw_cmd(
            "serve",
            "--config",
            str(home / "llmgw.toml"),
            "--state",
            str(state),
            "--port",
            str(port),
            "--log-level",
            "debug",
        ),
        home / "gateway.log",
        f"http://127.0.0.1:{port}/readyz",
    )
    try:
        for i in range(ROWS):
            r = httpx.post(
                f"{proc.url}/v1/chat/completions",
                headers={"authorization": f"Bearer {key}"},
                json={
                    "model": "local-small",
                    "messages": [{"role": "user", "content": f"use {SECRET} mail {EMAIL} {i}"}],
                },
                timeout=10,
            )
            assert r.status_code == 200, r.text
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with sqlite3.connect(state) as conn:
                if conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] >= ROWS:
                    break
            time.sleep(0.02)
    finally:
        proc.stop()
    yield state, proc


def copy(state: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "state.db"
    with sqlite3.connect(state) as src, sqlite3.connect(dst) as out:
        src.backup(out)
    return dst


def edit(path: Path, *sql: str) -> None:
    conn = sqlite3.connect(path)
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_intact_log_verifies(written: tuple[Path, Proc], tmp_path: Path) -> None:
    out = cli("audit", "verify", "--json", "--state", str(copy(written[0], tmp_path)))
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout)["rows"] == ROWS


def test_secrets_never_reach_logs_or_redacted_rows(written: tuple[Path, Proc]) -> None:
    state, proc = written
    logs = proc.output()
    assert "INFO" in logs  # logging is on (the run is at --log-level debug)
    assert SECRET not in logs and EMAIL not in logs
    with sqlite3.connect(state) as conn:
        bodies = " ".join(r[0] or "" for r in conn.execute("SELECT request_body FROM audit_log"))
    # placeholders appear once the pipeline passes bodies of "redacted" rows to the writer
    # (covered at the writer level in tests/unit/test_chain.py)
    assert SECRET not in bodies and EMAIL not in bodies


@pytest.mark.parametrize(
    ("sql", "kind", "seq"),
    [
        (["UPDATE audit_log SET cost_nanos = cost_nanos + 1 WHERE seq = 3"], "altered", 3),
        (["DELETE FROM audit_log WHERE seq = 3"], "removed", 4),
        ([f"DELETE FROM audit_log WHERE seq = {ROWS}"], "removed", ROWS),
        (
            [
                "CREATE TEMP TABLE t AS SELECT * FROM audit_log WHERE seq IN (2, 3)",
                "DELETE FROM audit_log WHERE seq IN (2, 3)",
                "INSERT INTO audit_log SELECT CASE seq WHEN 2 THEN 3 ELSE 2 END, id, ts, tenant,"
                " key_id, api, requested_model, provider, served_model, attempts, attempt_log,"
                " status, outcome, error_class, error_message, ttft_ms, latency_ms,"
                " input_tokens, output_tokens, cached_tokens, usage_estimated, cost_nanos,"
                " stream, request_body, response_body, retention, prev_hash, hash FROM t",
            ],
            "reordered",
            2,
        ),
    ],
    ids=["update-cost", "delete-row", "delete-last", "swap-rows"],
)
def test_tampering_is_caught(
    written: tuple[Path, Proc], tmp_path: Path, sql: list[str], kind: str, seq: int
) -> None:
    path = copy(written[0], tmp_path)
    edit(path, *sql)
    out = cli("audit", "verify", "--state", str(path))
    assert out.returncode == 1
    assert f"{kind}: seq {seq}" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_prune_then_verify(written: tuple[Path, Proc], tmp_path: Path) -> None:
    path = copy(written[0], tmp_path)
    dry = cli("audit", "prune", "--older-than", "0s", "--state", str(path))
    assert dry.returncode == 0 and "would delete" in dry.stdout
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == ROWS
        cut = conn.execute("SELECT ts FROM audit_log WHERE seq = 4").fetchone()[0]
    done = cli("audit", "prune", "--older-than", str(cut), "--yes", "--state", str(path))
    assert done.returncode == 0, done.stderr
    ok = cli("audit", "verify", "--json", "--state", str(path))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["checkpoint"] == 1
    wrong_key = cli("audit", "verify", "--state", str(path), env={"LLMGW_AUDIT_KEY": "other"})
    assert wrong_key.returncode == 1 and "bad signature" in wrong_key.stderr
    edit(path, "UPDATE audit_checkpoints SET pruned = pruned + 1")
    forged = cli("audit", "verify", "--state", str(path))
    assert forged.returncode == 1 and "checkpoint" in forged.stderr
