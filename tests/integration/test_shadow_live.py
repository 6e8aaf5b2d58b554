"""Shadow traffic through a real gateway: mirrored in the background, stored as a run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import openai

from tests.conftest import free_port, llmgw_cmd, start_process
from tests.integration.conftest import create_key

CONFIG = """
[providers.live]
kind = "mock"

[providers.cand]
kind = "mock"

[providers.cand.mock]
output_tokens = 7

[models.live]
deployments = [{ provider = "live", model = "mock-small" }]

[models.candidate]
deployments = [{ provider = "cand", model = "mock-large" }]

[tenants.acme]
models = ["live"]

[tenants.acme.routing]
shadow_model = "candidate"
shadow_sample = 1.0
"""


def test_live_calls_are_mirrored_to_the_candidate(tmp_path: Path) -> None:
    config = tmp_path / "llmgw.toml"
    config.write_text(CONFIG)
    state = tmp_path / "state.db"
    key = create_key(state, "acme", "k")
    port = free_port()
    proc = start_process(
        llmgw_cmd("serve", "--config", str(config), "--state", str(state), "--port", str(port)),
        tmp_path / "gw.log",
        f"http://127.0.0.1:{port}/readyz",
    )
    try:
        c = openai.OpenAI(base_url=f"{proc.url}/v1", api_key=key, max_retries=0)
        ids = []
        for i in range(5):
            raw = c.chat.completions.with_raw_response.create(
                model="live", messages=[{"role": "user", "content": f"question {i}"}]
            )
            assert raw.headers["x-llmgw-model"] == "mock-small"  # the client's answer is live's
            ids.append(raw.headers["x-request-id"])
    finally:
        assert proc.stop() == 0  # shutdown waits for mirrors in flight
    conn = sqlite3.connect(state)
    try:
        rows = conn.execute(
            "SELECT original_id, output_tokens FROM replay_results WHERE run = 'shadow:candidate'"
        ).fetchall()
    finally:
        conn.close()
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert all(r[1] == 7 for r in rows)  # answered by the candidate
