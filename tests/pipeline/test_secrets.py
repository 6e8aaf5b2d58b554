"""An upstream that quotes the key it was sent: neither the tenant nor the audit log sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from llmgw.providers.mock_transport import MockRequest, MockResponse
from tests.pipeline.harness import Harness, config, sync

HELLO = {"model": "chat", "messages": [{"role": "user", "content": "Say hello."}]}
KEY_ENV = "LLMGW_TEST_SECRET_UPSTREAM_KEY"
SHAPED_KEY = "sk-proj-" + "T3st" * 12
PLAIN_KEY = "opaque-provider-credential-5b1e"  # no key shape: only its value gives it away


def echo(request: MockRequest) -> MockResponse:
    """An OpenAI-style 401 quoting the credentials it got, as careless providers do."""
    sent = request.headers.get("authorization", "")
    message = f"Incorrect API key provided: {sent}. You can find your API key at ..."
    return MockResponse.json({"error": {"message": message, "type": "invalid_request_error"}}, 401)


def echo_in_stream(request: MockRequest) -> MockResponse:
    """A stream whose first event is an in-band error quoting the credentials."""
    if not request.json().get("stream"):
        return echo(request)
    sent = request.headers.get("authorization", "")
    return MockResponse.sse([{"error": {"message": f"bad key {sent}", "type": "server_error"}}])


def secret_config(retention: str) -> dict[str, Any]:
    cfg = config([{"provider": "a", "model": "up-a"}])
    cfg["providers"]["a"]["api_key_env"] = KEY_ENV
    cfg["tenants"]["acme"]["retention"] = retention
    return cfg


def assert_no_key(key: str, *texts: Any) -> None:
    for text in texts:
        blob = text if isinstance(text, str | bytes) else orjson.dumps(text)
        blob = blob.decode() if isinstance(blob, bytes) else blob
        assert key not in blob
        assert key[8:20] not in blob  # not even a part of it


@pytest.mark.parametrize("retention", ["full", "redacted", "metadata"])
@pytest.mark.parametrize("key", [SHAPED_KEY, PLAIN_KEY])
@sync
async def test_echoed_key_reaches_neither_tenant_nor_audit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retention: str, key: str
) -> None:
    monkeypatch.setenv(KEY_ENV, key)
    async with Harness(tmp_path, secret_config(retention), echo) as h:
        plain = await h.chat(HELLO)
        anthropic = await h.chat(
            {**HELLO, "max_tokens": 20}, path="/v1/messages", key=h.key, headers={}
        )
        streamed = await h.chat({**HELLO, "stream": True})
        rows = await h.rows()
    assert h.transport.requests[0].headers["authorization"] == f"Bearer {key}"  # it was sent
    assert (plain.status, anthropic.status, streamed.status) == (502, 502, 502)
    assert "Incorrect API key provided: Bearer [REDACTED:key]" in plain.json()["error"]["message"]
    assert "[REDACTED:key]" in anthropic.json()["error"]["message"]
    assert_no_key(key, plain.body, anthropic.body, streamed.body)
    assert len(rows) == 3
    for row in rows:
        assert (row["retention"], row["error_class"], row["outcome"]) == (
            retention,
            "auth",
            "error",
        )
        assert_no_key(key, row)
        if retention == "metadata":
            assert row["error_message"] == "a 401: auth"  # no upstream text at all
        else:
            assert "Incorrect API key provided: Bearer [REDACTED:key]" in row["error_message"]


@pytest.mark.parametrize("retention", ["full", "redacted", "metadata"])
@sync
async def test_key_echoed_in_a_stream_error_event_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retention: str
) -> None:
    monkeypatch.setenv(KEY_ENV, PLAIN_KEY)
    async with Harness(tmp_path, secret_config(retention), echo_in_stream) as h:
        reply = await h.chat({**HELLO, "stream": True})
        rows = await h.rows()
    assert_no_key(PLAIN_KEY, reply.body, *rows)
    assert rows[0]["outcome"] == "error"


@sync
async def test_upstream_error_text_is_bounded(tmp_path: Path) -> None:
    def chatty(request: MockRequest) -> MockResponse:
        message = "trouble " * 100_000
        return MockResponse.json({"error": {"message": message, "type": "server_error"}}, 500)

    async with Harness(tmp_path, secret_config("full"), chatty) as h:
        reply = await h.chat(HELLO)
        rows = await h.rows()
    assert reply.status == 502
    assert len(reply.json()["error"]["message"]) <= 1000
    assert len(rows[0]["error_message"]) <= 1000
