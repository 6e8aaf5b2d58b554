"""Google Gemini codec (Generative Language API ``v1beta``), pure translation.

Implements the contract in ``llmgw.wire``. Gemini specifics:

- the model is in the URL (``request_path``), so ``decode_request(body, model)`` takes it apart
  from the body and ``encode_request`` leaves it out;
- a stream (``streamGenerateContent?alt=sse``) is a run of ``data:`` events, each a whole
  ``GenerateContentResponse``; there is no ``[DONE]``: the event with a ``finishReason`` ends it;
- errors are ``{"error": {"code", "message", "status"}}`` with Google RPC status names.

Requests live in ``gemini_request_decode`` / ``gemini_request_encode``, streams in
``gemini_stream`` and schemas in ``gemini_schema``; import everything from this module.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from llmgw.errors import ErrorClass, GatewayError, UpstreamError, classify_status
from llmgw.types import ChatResponse, FinishReason, ToolCall, Usage
from llmgw.wire.gemini_request_decode import decode_request
from llmgw.wire.gemini_request_encode import encode_request

if TYPE_CHECKING:
    from llmgw.wire.gemini_stream import StreamDecoder, StreamEncoder

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
    "request_path",
]

PROVIDER = "gemini"

FINISH_FROM_GEMINI: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
FINISH_TO_GEMINI: dict[str, str] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}


def __getattr__(name: str) -> Any:
    # The stream classes import this module's helpers, so they load on first use.
    if name in ("StreamDecoder", "StreamEncoder"):
        from llmgw.wire import gemini_stream

        return getattr(gemini_stream, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def request_path(model: str, stream: bool) -> str:
    """The URL path for ``model`` (relative to e.g. https://generativelanguage.googleapis.com)."""
    name = quote(model.removeprefix("models/"), safe="-._~@")
    if stream:
        return f"/v1beta/models/{name}:streamGenerateContent?alt=sse"
    return f"/v1beta/models/{name}:generateContent"


# --------------------------------------------------------------------------- shared pieces


def new_call_id() -> str:
    """A tool-call id for a function call that came without one."""
    return "call_" + uuid.uuid4().hex[:24]


def finish_reason(gemini: str | None, has_tool_calls: bool) -> FinishReason:
    """Canonical finish reason for a Gemini ``finishReason`` (``None``: not finished yet)."""
    reason = FINISH_FROM_GEMINI.get(gemini or "STOP", "stop")
    return "tool_calls" if reason == "stop" and has_tool_calls else reason


def decode_usage(meta: Any) -> Usage:
    """``usageMetadata`` -> ``Usage``; thinking tokens count as output."""
    if not isinstance(meta, dict):
        return Usage()

    def count(key: str) -> int:
        value = meta.get(key)
        return value if isinstance(value, int) else 0

    return Usage(
        input_tokens=count("promptTokenCount"),
        output_tokens=count("candidatesTokenCount") + count("thoughtsTokenCount"),
        cached_input_tokens=count("cachedContentTokenCount"),
    )


def encode_usage(usage: Usage) -> dict[str, int]:
    meta = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": usage.total_tokens,
    }
    if usage.cached_input_tokens:
        meta["cachedContentTokenCount"] = usage.cached_input_tokens
    return meta


def tool_call_from_part(fc: dict[str, Any]) -> ToolCall:
    """A canonical tool call for a ``functionCall`` part (arguments as compact JSON)."""
    call_id = fc.get("id")
    args = fc.get("args")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else new_call_id(),
        "type": "function",
        "function": {
            "name": str(fc.get("name", "")),
            "arguments": orjson.dumps(args if isinstance(args, dict) else {}).decode(),
        },
    }


def function_call_part(call: ToolCall) -> dict[str, Any]:
    """The ``functionCall`` part for a canonical tool call (the id rides along for clients)."""
    function = call.get("function") or {}
    try:
        args = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        args = {}
    fc: dict[str, Any] = {"name": function.get("name", ""), "args": args}
    if call.get("id"):
        fc["id"] = call["id"]
    return {"functionCall": fc}


def candidate_parts(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """Parts and ``finishReason`` of the first candidate (empty and ``None`` when absent)."""
    candidates = body.get("candidates")
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return [], None
    first = candidates[0]
    content = first.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    reason = first.get("finishReason")
    good = [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []
    return good, reason if isinstance(reason, str) else None


def is_blocked(body: Mapping[str, Any]) -> bool:
    """True when the prompt itself was blocked (no candidates, a ``blockReason``)."""
    feedback = body.get("promptFeedback")
    return not body.get("candidates") and isinstance(feedback, dict) and "blockReason" in feedback


# --------------------------------------------------------------------------- responses


def decode_response(body: Any) -> ChatResponse:
    """A ``GenerateContentResponse`` in canonical form (first candidate only)."""
    if not isinstance(body, dict):
        raise UpstreamError("server_error", "gemini: malformed response", provider=PROVIDER)
    if isinstance(body.get("error"), dict):
        raise error_from_json(body, int(body["error"].get("code") or 500), {})
    parts, reason = candidate_parts(body)
    texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    calls = [tool_call_from_part(p["functionCall"]) for p in parts if _is_call(p)]
    if is_blocked(body):
        finish: FinishReason = "content_filter"
    else:
        finish = finish_reason(reason, bool(calls))
    response_id = body.get("responseId")
    return ChatResponse(
        id=response_id if isinstance(response_id, str) else "gemini-" + uuid.uuid4().hex,
        model=str(body.get("modelVersion") or ""),
        content="".join(texts) if texts or not calls else None,
        finish_reason=finish,
        tool_calls=calls or None,
        usage=decode_usage(body.get("usageMetadata")),
        created=int(time.time()),
    )


def _is_call(part: dict[str, Any]) -> bool:
    return isinstance(part.get("functionCall"), dict)


def encode_response(resp: ChatResponse) -> dict[str, Any]:
    """A ``GenerateContentResponse`` with one candidate."""
    parts: list[dict[str, Any]] = []
    if resp.content:
        parts.append({"text": resp.content})
    parts.extend(function_call_part(call) for call in resp.tool_calls or [])
    candidate = {
        "content": {"role": "model", "parts": parts or [{"text": ""}]},
        "finishReason": FINISH_TO_GEMINI.get(resp.finish_reason, "STOP"),
        "index": 0,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": encode_usage(resp.usage),
        "modelVersion": resp.model,
        "responseId": resp.id,
    }


# --------------------------------------------------------------------------- errors

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
        text = body.decode("utf-8", "replace").strip()[:500] or "no error body"
        data = {"error": {"message": text}}
    return error_from_json(data, status, headers)


def error_from_json(data: dict[str, Any], status: int, headers: Mapping[str, str]) -> UpstreamError:
    """An ``UpstreamError`` for a parsed ``{"error": {...}}`` body."""
    error = data["error"]
    message = str(error.get("message") or "")
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
