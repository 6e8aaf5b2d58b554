"""Gemini errors: ``{"error": {"code", "message", "status"}}`` with Google RPC status names.

``error_from_json`` is shared with responses and the stream decoder, since Gemini may send an
error object as a 200 body or as a stream event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from llmgw.errors import ErrorClass, GatewayError, UpstreamError, classify_status
from llmgw.scrub import SCAN_LIMIT

PROVIDER = "gemini"

_RPC_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_CLASS_BY_RPC: dict[str, ErrorClass] = {
    "RESOURCE_EXHAUSTED": "rate_limited",
    "UNAVAILABLE": "overloaded",
    "INTERNAL": "server_error",
    "UNKNOWN": "server_error",
    "DEADLINE_EXCEEDED": "timeout",
    "UNAUTHENTICATED": "auth",
    "PERMISSION_DENIED": "auth",
    "NOT_FOUND": "invalid_request",
}

_TOKEN_LIMIT = re.compile(
    r"exceeds the maximum number of tokens|input token count|context length|too many tokens",
    re.IGNORECASE,
)
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def encode_error(err: GatewayError) -> tuple[int, dict[str, Any]]:
    """Status and Gemini error JSON for ``err`` (a ``RetryInfo`` detail when it has a delay)."""
    status = err.status
    body: dict[str, Any] = {
        "code": status,
        "message": err.message,
        "status": _RPC_STATUS.get(status, "INTERNAL"),
    }
    if err.retry_after is not None:
        delay = f"{err.retry_after:g}s"
        body["details"] = [{"@type": _RETRY_INFO, "retryDelay": delay}]
    return status, {"error": body}


def decode_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Classify a Gemini error response (also a body wrapped in a JSON array)."""
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, list) and data:
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        text = body[:SCAN_LIMIT].decode("utf-8", "replace").strip() or "no error body"
        data = {"error": {"message": text}}
    return error_from_json(data, status, headers)


def error_from_json(data: dict[str, Any], status: int, headers: Mapping[str, str]) -> UpstreamError:
    """An ``UpstreamError`` for a parsed ``{"error": {...}}`` body."""
    error = data["error"]
    message = str(error.get("message") or "")[:SCAN_LIMIT]
    rpc = error.get("status") if isinstance(error.get("status"), str) else ""
    details = error.get("details") if isinstance(error.get("details"), list) else []
    error_class = _classify(status, rpc, message, details)
    return UpstreamError(
        error_class,
        f"gemini {status}: {message}",
        provider=PROVIDER,
        upstream_status=status,
        retry_after=_retry_after(headers, details),
    )


def _classify(status: int, rpc: str, message: str, details: list[Any]) -> ErrorClass:
    reasons = {d.get("reason") for d in details if isinstance(d, dict)}
    if "API_KEY_INVALID" in reasons or "API key not valid" in message:
        return "auth"  # Gemini answers a bad key with 400 INVALID_ARGUMENT
    if rpc in _CLASS_BY_RPC:
        return _CLASS_BY_RPC[rpc]
    if rpc in ("INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE") or status == 400:
        return "context_length_exceeded" if _TOKEN_LIMIT.search(message) else "invalid_request"
    if status == 404:
        return "invalid_request"
    return classify_status(status, message)


def _retry_after(headers: Mapping[str, str], details: list[Any]) -> float | None:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                break  # an HTTP date: fall back to the body
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == _RETRY_INFO:
            delay = str(detail.get("retryDelay", ""))
            try:
                return max(0.0, float(delay.removesuffix("s")))
            except ValueError:
                return None
    return None
