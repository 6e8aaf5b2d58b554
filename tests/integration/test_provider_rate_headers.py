"""The gateway reads providers' own rate-limit headers and stops sending when they say so."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.conftest import Proc, free_port, llmgw_cmd, start_process
from tests.integration.conftest import create_key

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [
        {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hello"}}
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class NearlyOut(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible upstream that says: no requests left for the next 30 s."""

    calls = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        NearlyOut.calls += 1
        body = json.dumps(ANSWER).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("x-ratelimit-limit-requests", "100")
        self.send_header("x-ratelimit-remaining-requests", "0")
        self.send_header("x-ratelimit-reset-requests", "30s")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, str]]:
    home: Path = tmp_path_factory.mktemp("ratehdr")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NearlyOut)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    config = home / "llmgw.toml"
    config.write_text(f"""
[limits]
queue_timeout_s = 0.5

[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:{upstream.server_address[1]}/v1"

[models.m]
deployments = [{{ provider = "up", model = "up" }}]

[tenants.t]
models = ["*"]
""")
    state = home / "state.db"
    key = create_key(state, "t", "k")
    port = free_port()
    proc = start_process(
        llmgw_cmd("serve", "--config", str(config), "--state", str(state), "--port", str(port)),
        home / "gw.log",
        f"http://127.0.0.1:{port}/readyz",
    )
    yield proc, key
    proc.stop()
    upstream.shutdown()


def test_an_exhausted_provider_is_not_called_until_its_reset(
    gateway: tuple[Proc, str],
) -> None:
    proc, key = gateway
    c = openai.OpenAI(base_url=f"{proc.url}/v1", api_key=key, max_retries=0)
    assert c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "deployment_at_capacity"
    assert int(info.value.response.headers["retry-after"]) >= 1
    assert NearlyOut.calls == 1  # the second call never reached the provider
