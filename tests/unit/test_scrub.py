"""Secrets never travel back: upstream error text is bounded and its keys redacted, whoever
builds the error (codecs, the transport, adapters), and the audit keeps it by retention."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from llmgw.audit.record import AuditRecord, error_text
from llmgw.audit.verify import verify
from llmgw.audit.writer import AuditWriter
from llmgw.errors import AuthenticationFailed, UpstreamError
from llmgw.providers.http import remember_credentials
from llmgw.providers.transport import network_error
from llmgw.scrub import MESSAGE_LIMIT, PLACEHOLDER, SCAN_LIMIT, remember_secret, scrub
from llmgw.store.db import open_db
from llmgw.wire import anthropic, gemini, openai
from llmgw.wire.sse import SseEvent

OPENAI_KEY = "sk-proj-" + "Ab3" * 20
ANTHROPIC_KEY = "sk-ant-api03-" + "xY9_" * 20
GOOGLE_KEY = "AIzaSyD" + "q1W2e3R4t5" * 3 + "ab"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
LLMGW_KEY = "sk-llmgw-" + "Zz0-" * 11
PLAIN_KEY = (
    "plain-upstream-credential-7f3a9c"  # no recognisable shape: only its value gives it away
)

ALL = (OPENAI_KEY, ANTHROPIC_KEY, GOOGLE_KEY, AWS_KEY, LLMGW_KEY, PLAIN_KEY)


@pytest.fixture(autouse=True)
def configured_key() -> None:
    remember_secret(PLAIN_KEY)


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"Incorrect API key provided: Bearer {OPENAI_KEY}.", "Incorrect API key provided: Bearer"),
        (f"invalid x-api-key: {ANTHROPIC_KEY}", "invalid x-api-key: "),
        (f"GET /v1beta/models?key={GOOGLE_KEY}&alt=sse failed", "&alt=sse failed"),
        (f"aws access key {AWS_KEY} is not valid", "is not valid"),
        (f"the gateway key {LLMGW_KEY} leaked", "leaked"),
        (f'{{"api_key": "{PLAIN_KEY}"}}', '{"api_key": "'),
        (f"authorization: Bearer {PLAIN_KEY}", "authorization: Bearer"),
        (f"api-key={'q' * 24}; password: hunter2hunter2", "api-key="),
        (f"credential {PLAIN_KEY} refused", "credential "),
    ],
)
def test_every_key_shape_is_redacted(text: str, kept: str) -> None:
    out = scrub(text)
    assert PLACEHOLDER in out and kept in out
    for secret in (*ALL, "q" * 24, "hunter2hunter2"):
        assert secret not in out


def test_ordinary_error_text_is_left_alone() -> None:
    for text in (
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 130001 tokens.",
        "The input token count (1048576) exceeds the maximum number of tokens allowed (1048575).",
        "max_tokens: 4096 > 2048, which is the maximum allowed",
        "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM)",
    ):
        assert scrub(text) == text


def test_configured_values_are_redacted_in_any_form() -> None:
    remember_credentials("", {"authorization": "Basic dXNlcjpzM2NyZXQtcGFzcw==", "x-trace": "a"})
    assert scrub("got Basic dXNlcjpzM2NyZXQtcGFzcw==") == f"got Basic {PLACEHOLDER}"
    assert scrub("dXNlcjpzM2NyZXQtcGFzcw%3D%3D in a url") == f"{PLACEHOLDER} in a url"
    remember_secret("short")  # too short to redact verbatim: it would hit plain words
    assert scrub("a short answer") == "a short answer"


def test_message_is_bounded_and_a_key_across_the_bound_is_replaced_not_halved() -> None:
    err = UpstreamError("auth", "x" * (MESSAGE_LIMIT - 20) + f" Bearer {OPENAI_KEY} " + "y" * 10**6)
    assert len(err.message) <= MESSAGE_LIMIT and str(err) == err.message
    assert OPENAI_KEY[:12] not in err.message and "Bearer [REDACTED" in err.message
    # a key cut where reading stops is dropped whole, even when redaction shortens the text
    keys = " ".join([f"Bearer {OPENAI_KEY}"] * 50)
    cut = keys[: SCAN_LIMIT - 30] + " sk-proj-Ab3Ab3Ab3"
    message = UpstreamError("auth", cut + "Ab3" * 30).message
    assert "sk-proj" not in message and "Ab3" not in message


def echo_body(kind: str, key: str) -> bytes:
    text = f"Incorrect API key provided: {key}"
    if kind == "anthropic":
        payload: object = {
            "type": "error",
            "error": {"type": "authentication_error", "message": text},
        }
    elif kind == "gemini":
        payload = {"error": {"code": 400, "message": text, "status": "INVALID_ARGUMENT"}}
    else:
        payload = {"error": {"message": text, "type": "invalid_request_error", "code": None}}
    return orjson.dumps(payload)


@pytest.mark.parametrize("codec", [openai.CODEC, anthropic.CODEC, gemini.CODEC])
@pytest.mark.parametrize("key", [f"Bearer {OPENAI_KEY}", ANTHROPIC_KEY, GOOGLE_KEY, PLAIN_KEY])
def test_every_codec_redacts_decoded_errors(codec: object, key: str) -> None:
    kind = {openai.CODEC: "openai", anthropic.CODEC: "anthropic", gemini.CODEC: "gemini"}[codec]
    for body in (echo_body(kind, key), f"<html>{key}</html>".encode(), key.encode() * 5000):
        err = codec.decode_error(401, body, {})  # type: ignore[attr-defined]
        assert isinstance(err, UpstreamError) and len(err.message) <= MESSAGE_LIMIT
        for secret in ALL:
            assert secret not in err.message
        assert err.error_class == "auth" or kind == "gemini"


def test_stream_error_events_are_redacted() -> None:
    decoder = openai.CODEC.StreamDecoder()
    event = SseEvent(
        event=None, data=orjson.dumps({"error": {"message": f"bad key {OPENAI_KEY}"}}).decode()
    )
    with pytest.raises(UpstreamError) as info:
        decoder.feed(event)
    assert OPENAI_KEY not in info.value.message


def test_network_errors_are_redacted() -> None:
    exc = aiohttp.ClientConnectionError(f"proxy said: x-api-key: {PLAIN_KEY}")
    err = network_error(exc, "up")
    assert err.error_class == "connection" and PLAIN_KEY not in err.message
    os_err = network_error(OSError(f"cannot reach https://h/v1?key={GOOGLE_KEY}"), "up")
    assert GOOGLE_KEY not in os_err.message


def test_audit_error_text_follows_retention() -> None:
    err = UpstreamError("auth", "openai 401: you sent a card 4111 1111 1111 1111", provider="a")
    err.upstream_status = 401
    assert error_text(err, "metadata") == "a 401: auth"
    assert error_text(err, "full") == err.message
    assert error_text(err, "redacted") == err.message  # the writer redacts it
    assert error_text(AuthenticationFailed("invalid API key"), "metadata") == "invalid API key"
    assert error_text(None, "full") is None


def test_writer_redacts_the_error_message_of_redacted_rows_and_the_chain_holds(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.db"
    message = "openai 400: card 4111 1111 1111 1111 rejected, mail ops@example.com"
    w = AuditWriter(state)
    for retention in ("full", "redacted", "metadata"):
        w.submit(
            AuditRecord(
                tenant="acme",
                outcome="error",
                status=400,
                error_class="invalid_request",
                error_message=message,
                retention=retention,
            )
        )
    assert w.close()
    conn = open_db(state)
    try:
        conn.row_factory = sqlite3.Row
        stored = {
            r["retention"]: r["error_message"]
            for r in conn.execute("SELECT retention, error_message FROM audit_log")
        }
        assert verify(conn, None).ok
    finally:
        conn.close()
    assert stored["full"] == message
    assert "4111" not in stored["redacted"] and "ops@example.com" not in stored["redacted"]
    assert "[REDACTED:card]" in stored["redacted"]


def test_scrubbing_is_cheap() -> None:
    text = "Incorrect API key provided: Bearer " + OPENAI_KEY + " " + "words " * 150
    start = time.perf_counter()
    for _ in range(1000):
        UpstreamError("auth", text)
    assert time.perf_counter() - start < 1.0  # well under 1 ms each, even on a loaded machine
