"""Pieces of a Gemini candidate shared by responses and streams: parts, finish reasons, usage.

A ``GenerateContentResponse`` carries ``candidates[0].content.parts`` (``text`` and
``functionCall`` parts), the candidate's ``finishReason`` and ``usageMetadata``; these helpers
read and write them in both directions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from llmgw.jsontext import dumps_text
from llmgw.types import FinishReason, ToolCall, Usage
from llmgw.wire.limits import loads_bounded

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
            "arguments": dumps_text(args if isinstance(args, dict) else {}),
        },
    }


def function_call_part(call: ToolCall) -> dict[str, Any]:
    """The ``functionCall`` part for a canonical tool call (the id rides along for clients)."""
    function = call.get("function") or {}
    try:
        args = loads_bounded(function.get("arguments") or "{}")
    except ValueError:
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
