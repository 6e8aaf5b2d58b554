"""Anthropic errors: the gateway's errors as Anthropic error JSON, provider errors classified.

``classify_error`` and ``error_fields`` are shared with the stream decoder for in-band
``error`` events, which carry no HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llmgw.errors import ErrorClass, GatewayError, UpstreamError, classify_status
from llmgw.scrub import SCAN_LIMIT
from llmgw.wire.headers import retry_after_seconds

PROVIDER = "anthropic"

_TYPE_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status."""
    if status in _TYPE_BY_STATUS:
        return _TYPE_BY_STATUS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def encode_error(err: GatewayError) -> tuple[int, dict[str, Any]]:
    """Status and Anthropic error JSON for any gateway error (the status stays ``err.status``)."""
    return err.status, {
        "type": "error",
        "error": {"type": error_type(err.status), "message": err.message},
    }


# Error types that say more than the HTTP status (and all a stream error carries).
_CLASS_BY_TYPE: dict[str, ErrorClass] = {
    "invalid_request_error": "invalid_request",
    "request_too_large": "invalid_request",
    "not_found_error": "invalid_request",
    "authentication_error": "auth",
    "permission_error": "auth",
    "billing_error": "auth",  # an account problem: retrying will not help
    "rate_limit_error": "rate_limited",
    "overloaded_error": "overloaded",
    "timeout_error": "timeout",
    "api_error": "server_error",
}
_REFINED: frozenset[str] = frozenset(
    {"authentication_error", "permission_error", "billing_error", "rate_limit_error"}
)


def classify_error(status: int | None, kind: Any, message: str) -> ErrorClass:
    """Canonical class from an HTTP status (``None`` mid-stream) and Anthropic's error type."""
    if "prompt is too long" in message.lower():
        return "context_length_exceeded"
    if kind == "overloaded_error" or status == 529:
        return "overloaded"
    if isinstance(kind, str) and (kind in _REFINED or status is None):
        return _CLASS_BY_TYPE.get(kind, "server_error")
    if status is None:
        return "server_error"
    return classify_status(status, message)


def error_fields(payload: Any) -> tuple[str, Any]:
    """``(message, type)`` from ``{"type": "error", "error": {"type", "message"}}``."""
    if not isinstance(payload, dict):
        return "", None
    err = payload.get("error")
    if isinstance(err, str):
        return err, None
    source = err if isinstance(err, dict) else payload
    message = source.get("message")
    return (message if isinstance(message, str) else ""), source.get("type")


def decode_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Classify an Anthropic error response; non-JSON bodies are tolerated."""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    message, kind = error_fields(payload)
    if not message and payload is None:
        message = body[:SCAN_LIMIT].decode("utf-8", "replace").strip()
    message = message[:SCAN_LIMIT] or "no error message"
    return UpstreamError(
        classify_error(status, kind, message),
        f"{PROVIDER} {status}: {message}",
        provider=PROVIDER,
        upstream_status=status,
        retry_after=retry_after_seconds(headers),
    )
