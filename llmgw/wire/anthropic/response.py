"""Anthropic Message objects: decoded into ``ChatResponse`` and encoded from it."""

from __future__ import annotations

from typing import Any

from llmgw.errors import UpstreamError
from llmgw.types import ChatResponse, ToolCall
from llmgw.wire.anthropic.errors import PROVIDER
from llmgw.wire.anthropic.request_decode import compact_json
from llmgw.wire.anthropic.request_encode import parse_arguments
from llmgw.wire.anthropic.usage import (
    finish_reason_from_anthropic,
    message_id,
    stop_reason_to_anthropic,
    usage_from_anthropic,
    usage_to_anthropic,
)


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
