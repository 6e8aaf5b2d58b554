"""Anthropic Messages API codec (``POST /v1/messages``).

The module offers the codec contract of ``llmgw.wire``:

* requests: ``decode_request`` (in ``anthropic_request_decode``) and ``encode_request`` with
  ``DEFAULT_MAX_TOKENS`` (in ``anthropic_request_encode``);
* responses: ``decode_response`` / ``encode_response`` (here);
* streams: ``StreamDecoder`` / ``StreamEncoder`` (in ``anthropic_stream``, loaded on first use
  so that module can import the helpers below without an import cycle);
* errors: ``encode_error`` / ``decode_error`` (here), plus ``classify_error`` shared with the
  stream decoder for in-band ``error`` events;
* ``usage_from_anthropic`` / ``usage_to_anthropic`` and the stop-reason maps for both directions.

Usage: Anthropic's ``input_tokens`` leaves out tokens read from or written to the prompt cache;
canonical ``input_tokens`` counts every prompt token (OpenAI semantics), with cache reads also
in ``cached_input_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from llmgw.errors import ErrorClass, GatewayError, UpstreamError, classify_status
from llmgw.types import ChatResponse, FinishReason, ToolCall, Usage
from llmgw.wire.anthropic_request_decode import compact_json, decode_request
from llmgw.wire.anthropic_request_encode import DEFAULT_MAX_TOKENS, encode_request, parse_arguments
from llmgw.wire.openai import retry_after_seconds

if TYPE_CHECKING:
    from llmgw.wire.anthropic_stream import StreamDecoder, StreamEncoder

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "PROVIDER",
    "StreamDecoder",
    "StreamEncoder",
    "classify_error",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
    "finish_reason_from_anthropic",
    "message_id",
    "stop_reason_to_anthropic",
    "usage_from_anthropic",
    "usage_to_anthropic",
]

PROVIDER = "anthropic"
_MAX_MESSAGE = 500

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def __getattr__(name: str) -> Any:
    """Load the stream classes on first use (``anthropic_stream`` imports this module)."""
    if name in ("StreamDecoder", "StreamEncoder"):
        from llmgw.wire import anthropic_stream

        return getattr(anthropic_stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------- usage


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_anthropic(usage: Any) -> Usage:
    """A canonical ``Usage`` from Anthropic's ``usage`` (cache reads and writes count as input)."""
    if not isinstance(usage, dict):
        return Usage()
    cached = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=_int(usage.get("input_tokens")) + cached + written,
        output_tokens=_int(usage.get("output_tokens")),
        cached_input_tokens=cached,
    )


def usage_to_anthropic(usage: Usage) -> dict[str, int]:
    """Anthropic's ``usage`` object for a canonical ``Usage``."""
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    return {
        "input_tokens": usage.input_tokens - cached,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def finish_reason_from_anthropic(reason: Any) -> FinishReason:
    """Canonical finish reason for a ``stop_reason``; unknown reasons are ``stop``."""
    return _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def stop_reason_to_anthropic(reason: FinishReason) -> str:
    """Anthropic's ``stop_reason`` for a canonical finish reason."""
    return _STOP_REASONS.get(reason, "end_turn")


def message_id(raw_id: str) -> str:
    """A Message id: Anthropic's start with ``msg_``, so other ids get that prefix."""
    return raw_id if raw_id.startswith("msg_") else f"msg_{raw_id}"


# --------------------------------------------------------------------------------- responses


def _malformed(what: str) -> UpstreamError:
    return UpstreamError(
        "server_error", f"{PROVIDER}: malformed response ({what})", provider=PROVIDER
    )


def decode_response(body: Any) -> ChatResponse:
    """A ``ChatResponse`` from a Message object: text blocks joined, ``tool_use`` as tool calls.

    ``thinking`` and other blocks without a canonical form are skipped. Raises
    ``UpstreamError`` (``server_error``) when the body is not a Message.
    """
    if not isinstance(body, dict):
        raise _malformed("body is not an object")
    content = body.get("content")
    if not isinstance(content, list):
        raise _malformed("content is not an array")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in content:
        if not isinstance(block, dict):
            raise _malformed("content block is not an object")
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name") or ""),
                        "arguments": compact_json(block.get("input") or {}),
                    },
                }
            )
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content="".join(texts) if texts else None,
        finish_reason=finish_reason_from_anthropic(body.get("stop_reason")),
        tool_calls=calls or None,
        usage=usage_from_anthropic(body.get("usage")),
    )


def encode_response(resp: ChatResponse) -> dict[str, Any]:
    """A full Message object for a ``ChatResponse`` (a refusal with no content becomes text)."""
    content: list[dict[str, Any]] = []
    text = resp.content if resp.content else resp.refusal
    if text:
        content.append({"type": "text", "text": text})
    for call in resp.tool_calls or []:
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": fn.get("name") or "",
                "input": parse_arguments(fn.get("arguments")),
            }
        )
    return {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": stop_reason_to_anthropic(resp.finish_reason),
        "stop_sequence": None,
        "usage": usage_to_anthropic(resp.usage),
    }


# ------------------------------------------------------------------------------------ errors

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
        message = body.decode("utf-8", "replace").strip()
    message = message[:_MAX_MESSAGE] or "no error message"
    return UpstreamError(
        classify_error(status, kind, message),
        f"{PROVIDER} {status}: {message}",
        provider=PROVIDER,
        upstream_status=status,
        retry_after=retry_after_seconds(headers),
    )
