"""The client examples run as they are against a real gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import GatewayEnv

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize(
    ("script", "model"),
    [("openai_client.py", "gpt-4o-mini"), ("anthropic_client.py", "claude-haiku-4-5")],
)
def test_example_runs(gateway: GatewayEnv, script: str, model: str) -> None:
    env = {
        **os.environ,
        "LLMGW_BASE_URL": f"{gateway.url}/v1",
        "LLMGW_URL": gateway.url,
        "LLMGW_API_KEY": gateway.keys["acme"],
        "LLMGW_MODEL": model,
    }
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "answer:" in out.stdout
