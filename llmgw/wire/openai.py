"""OpenAI chat-completions codec (also spoken by vLLM, Ollama and other compatible servers).

The module offers the codec contract of ``llmgw.wire``:

* requests: ``decode_request`` / ``encode_request`` (implemented in ``openai_request``);
* responses: ``decode_response`` / ``encode_response`` (here);
* streams: ``StreamDecoder`` / ``StreamEncoder`` (implemented in ``openai_stream``, loaded on
  first use so that module can import the helpers below without an import cycle);
* errors: ``encode_error`` / ``decode_error`` (here), plus ``classify_error`` shared with the
  stream decoder for in-band ``{"error": ...}`` events;
* ``usage_to_openai`` / ``usage_from_openai`` shared by both directions.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from llmgw.errors import ErrorClass, GatewayError, UpstreamError, classify_status
from llmgw.types import ChatResponse, FinishReason, ToolCall, Usage
from llmgw.wire.openai_request import decode_request, encode_request

if TYPE_CHECKING:
    from llmgw.wire.openai_stream import StreamDecoder, StreamEncoder

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "classify_error",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
    "finish_reason_from_openai",
    "usage_from_openai",
    "usage_to_openai",
]

PROVIDER = "openai"
_MAX_MESSAGE = 500

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",  # legacy functions API
    "content_filter": "content_filter",
}


def __getattr__(name: str) -> Any:
    """Load the stream classes on first use (``openai_stream`` imports this module)."""
    if name in ("StreamDecoder", "StreamEncoder"):
        from llmgw.wire import openai_stream

        return getattr(openai_stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------- usage


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` object for a canonical ``Usage``."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_openai(usage: Any) -> Usage:
    """A canonical ``Usage`` from OpenAI's ``usage`` object (missing or odd fields count 0)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("prompt_tokens_details")
    cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(
        input_tokens=_int(usage.get("prompt_tokens")),
        output_tokens=_int(usage.get("completion_tokens")),
        cached_input_tokens=cached,
    )


def finish_reason_from_openai(reason: Any) -> FinishReason:
    """Canonical finish reason; legacy ``function_call`` is ``tool_calls``, unknown is ``stop``."""
    return _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


# --------------------------------------------------------------------------------- responses


def _malformed(what: str) -> UpstreamError:
    return UpstreamError("server_error", f"openai: malformed response ({what})", provider=PROVIDER)


def decode_response(body: Any) -> ChatResponse:
    """A ``ChatResponse`` from a ``chat.completion`` object (its first choice).

    A legacy ``function_call`` becomes a single tool call. Raises ``UpstreamError``
    (``server_error``) when the body is not a chat completion.
    """
    if not isinstance(body, dict):
        raise _malformed("body is not an object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise _malformed("no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise _malformed("choice has no message")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise _malformed("message content is not a string")
    tool_calls: list[ToolCall] | None = message.get("tool_calls") or None
    if tool_calls is not None and not isinstance(tool_calls, list):
        raise _malformed("tool_calls is not an array")
    legacy = message.get("function_call")
    if tool_calls is None and isinstance(legacy, dict):
        tool_calls = [
            {
                "id": f"call_{legacy.get('name', '')}",
                "type": "function",
                "function": {
                    "name": legacy.get("name", ""),
                    "arguments": legacy.get("arguments", ""),
                },
            }
        ]
    refusal = message.get("refusal")
    return ChatResponse(
        id=str(body.get("id") or ""),
        model=str(body.get("model") or ""),
        content=content,
        finish_reason=finish_reason_from_openai(choice.get("finish_reason")),
        tool_calls=tool_calls,
        usage=usage_from_openai(body.get("usage")),
        created=_int(body.get("created")),
        refusal=refusal if isinstance(refusal, str) else None,
    )


def encode_response(resp: ChatResponse) -> dict[str, Any]:
    """A full ``chat.completion`` object for a ``ChatResponse``."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": resp.content,
        "refusal": resp.refusal,
        "annotations": [],
    }
    if resp.tool_calls:
        message["tool_calls"] = resp.tool_calls
    return {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created,
        "model": resp.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": resp.finish_reason,
            }
        ],
        "usage": usage_to_openai(resp.usage),
    }


# ------------------------------------------------------------------------------------ errors


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


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, val in headers.items():
        if key.lower() == name:
            return val
    return None


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def decode_error(status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Classify an OpenAI(-compatible) error response; non-JSON bodies are tolerated."""
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    message, code, kind = error_fields(payload)
    if not message:
        message = body.decode("utf-8", "replace").strip() if payload is None else ""
    message = message[:_MAX_MESSAGE] or "no error message"
    return UpstreamError(
        classify_error(status, code, kind, message),
        f"{PROVIDER} {status}: {message}",
        provider=PROVIDER,
        upstream_status=status,
        retry_after=retry_after_seconds(headers),
    )
