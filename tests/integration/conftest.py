"""A real gateway process in front of a real mock upstream, with keys for a few tenants."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Proc, free_port, llmgw_cmd, start_process

CONFIG = """
[server]
drain_timeout_s = 5

[audit]
flush_interval_s = 0.01

[providers.up-openai]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"
api_key_env = "LLMGW_TEST_UPSTREAM_KEY"

[providers.up-anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:{mock}"
api_key_env = "LLMGW_TEST_UPSTREAM_KEY"

[providers.up-gemini]
kind = "gemini"
base_url = "http://127.0.0.1:{mock}"
api_key_env = "LLMGW_TEST_UPSTREAM_KEY"

[providers.local]
kind = "mock"

[providers.up-impatient]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"
read_timeout_s = 0.5

[models."gpt-4o-mini"]
deployments = [{{ provider = "up-openai", model = "gpt-4o-mini" }}]

[models."claude-haiku-4-5"]
aliases = ["haiku"]
deployments = [{{ provider = "up-anthropic", model = "claude-haiku-4-5" }}]

[models."gemini-2.5-flash"]
deployments = [{{ provider = "up-gemini", model = "gemini-2.5-flash" }}]

[models.local-small]
deployments = [{{ provider = "local", model = "mock-small" }}]

[models.failover]
deployments = [
  {{ provider = "up-openai", model = "broken-503" }},
  {{ provider = "up-anthropic", model = "claude-haiku-4-5" }},
]

[models.hard-fail]
deployments = [{{ provider = "up-openai", model = "broken-400" }}]

[models.all-down]
deployments = [{{ provider = "up-openai", model = "broken-503" }}]

[models.too-long]
deployments = [{{ provider = "up-openai", model = "too-long" }}]

[models.cut]
deployments = [{{ provider = "up-openai", model = "cut-model" }}]

[models.silent]
deployments = [{{ provider = "up-impatient", model = "silent" }}]

[models.echo-auth]
deployments = [{{ provider = "up-openai", model = "echo-auth" }}]

[models.echo-auth-anthropic]
deployments = [{{ provider = "up-anthropic", model = "echo-auth" }}]

[models.echo-auth-gemini]
deployments = [{{ provider = "up-gemini", model = "echo-auth" }}]

[tenants.acme]
models = ["*"]
retention = "full"

[tenants."acme/search"]
models = ["gpt-4o-mini", "claude-haiku-4-5"]
retention = "metadata"

[tenants.globex]
models = ["*"]

[tenants.vault-redacted]
models = ["echo-auth", "echo-auth-anthropic", "echo-auth-gemini"]
retention = "redacted"

[tenants.vault-metadata]
models = ["echo-auth", "echo-auth-anthropic", "echo-auth-gemini"]
retention = "metadata"
"""

UPSTREAM_KEY = "upstream-secret-not-the-client-key"


@dataclass
class GatewayEnv:
    proc: Proc
    url: str
    state: Path
    config: Path
    keys: dict[str, str]  # tenant -> secret


def create_key(state: Path, tenant: str, name: str) -> str:
    out = subprocess.run(
        llmgw_cmd(
            "keys", "create", "--tenant", tenant, "--name", name, "--json", "--state", str(state)
        ),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return str(json.loads(out.stdout)["secret"])


def list_keys(state: Path, tenant: str) -> list[dict[str, object]]:
    out = subprocess.run(
        llmgw_cmd("keys", "list", "--tenant", tenant, "--json", "--state", str(state)),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    keys: list[dict[str, object]] = json.loads(out.stdout)
    return keys


@pytest.fixture(scope="session")
def gateway(mock_upstream: Proc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayEnv]:
    home = tmp_path_factory.mktemp("gateway")
    mock_port = mock_upstream.url.rsplit(":", 1)[1]
    config = home / "llmgw.toml"
    config.write_text(CONFIG.format(mock=mock_port))
    state = home / "state.db"
    keys = {t: create_key(state, t, "tests") for t in ("acme", "acme/search", "globex")}
    port = free_port()
    proc = start_process(
        llmgw_cmd("serve", "--config", str(config), "--state", str(state), "--port", str(port)),
        home / "gateway.log",
        f"http://127.0.0.1:{port}/readyz",
        env={"LLMGW_TEST_UPSTREAM_KEY": UPSTREAM_KEY},
    )
    yield GatewayEnv(proc, f"http://127.0.0.1:{port}", state, config, keys)
    proc.stop()
