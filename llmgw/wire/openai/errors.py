"""OpenAI errors: the gateway's errors as OpenAI error JSON, and provider errors classified.

Understands the error bodies of OpenAI and of compatible servers (Ollama, vLLM); see
``error_fields``. ``classify_error`` is shared with the stream decoder for in-band
``{"error": ...}`` events, which carry no HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llmgw.errors import ErrorClass, GatewayError, UpstreamError, classify_status
from llmgw.scrub import SCAN_LIMIT
from llmgw.wire.headers import retry_after_seconds

PROVIDER = "openai"


def encode_error(err: GatewayError) -> tuple[int, dict[str, Any]]:
    """Status and OpenAI error JSON for any gateway error."""
    return err.status, {
        "error": {
            "message": err.message,
            "type": err.kind,
            "param": err.param,
            "code": err.code,
        }
    }


# OpenAI error codes (or types) that say more than the HTTP status.
_CLASS_BY_CODE: dict[str, ErrorClass] = {
    "context_length_exceeded": "context_length_exceeded",
    "string_above_max_length": "context_length_exceeded",
    "content_filter": "content_filter",
    "content_policy_violation": "content_filter",
    "insufficient_quota": "auth",  # an account/billing problem: retrying will not help
    "invalid_api_key": "auth",
    "rate_limit_exceeded": "rate_limited",
}
# Classes by error ``type`` for in-band stream errors, which carry no HTTP status.
_CLASS_BY_TYPE: dict[str, ErrorClass] = {
    "invalid_request_error": "invalid_request",
    "authentication_error": "auth",
    "permission_error": "auth",
    "rate_limit_error": "rate_limited",
    "tokens": "rate_limited",
    "requests": "rate_limited",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
    "server_error": "server_error",
    "api_error": "server_error",
}


def classify_error(status: int | None, code: Any, kind: Any, message: str) -> ErrorClass:
    """Canonical class from an HTTP status (``None`` mid-stream) and OpenAI's code and type."""
    for key in (code, kind):
        if isinstance(key, str) and key in _CLASS_BY_CODE:
            return _CLASS_BY_CODE[key]
    if status is None:
        if isinstance(kind, str) and kind in _CLASS_BY_TYPE:
            return _CLASS_BY_TYPE[kind]
        return "server_error"
    return classify_status(status, message)


def error_fields(payload: Any) -> tuple[str, Any, Any]:
    """``(message, code, type)`` from an error body of OpenAI or a compatible server.

    Understands ``{"error": {"message", "type", "code"}}`` (OpenAI), ``{"error": "text"}``
    (Ollama) and ``{"message", "type", "code"}`` at the top level (vLLM).
    """
    if not isinstance(payload, dict):
        return "", None, None
    err = payload.get("error")
    if isinstance(err, str):
        return err, None, None
    source = err if isinstance(err, dict) else payload
    message = source.get("message")
    return (message if isinstance(message, str) else ""), source.get("code"), source.get("type")


def decode_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Classify an OpenAI(-compatible) error response; non-JSON bodies are tolerated."""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    message, code, kind = error_fields(payload)
    if not message:
        message = body[:SCAN_LIMIT].decode("utf-8", "replace").strip() if payload is None else ""
    message = message[:SCAN_LIMIT] or "no error message"
    return UpstreamError(
        classify_error(status, code, kind, message),
        f"{PROVIDER} {status}: {message}",
        provider=PROVIDER,
        upstream_status=status,
        retry_after=retry_after_seconds(headers),
    )
