"""OpenAI ``chat.completion`` objects: decoded into ``ChatResponse`` and encoded from it."""

from __future__ import annotations

from typing import Any

from llmgw.errors import UpstreamError
from llmgw.types import ChatResponse, ToolCall
from llmgw.wire.openai.errors import PROVIDER
from llmgw.wire.openai.usage import (
    as_int,
    finish_reason_from_openai,
    usage_from_openai,
    usage_to_openai,
)


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
        created=as_int(body.get("created")),
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
