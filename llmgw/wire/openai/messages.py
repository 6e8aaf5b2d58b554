"""OpenAI chat messages: validation, and translation to canonical messages (``decode_message``).

Validation mirrors what the OpenAI API rejects; ``BadRequest.param`` names the field the way
OpenAI does (``messages[2].content``, ``messages[1].tool_calls[0].function.name``).

This runs for every message of every request, so it uses plain ``dict``/``isinstance`` checks,
and a message that is already canonical (the usual ``{"role": "user", "content": "hi"}``) is
returned as the caller's own dict, not copied.
"""

from __future__ import annotations

from typing import Any

from llmgw.errors import BadRequest
from llmgw.types import Message
from llmgw.wire.limits import shown


def _bad(message: str, param: str | None) -> BadRequest:
    return BadRequest(message, param=param)


def _text_of_parts(parts: list[Any], param: str, allow_refusal: bool = False) -> str:
    """Join a list of text parts into one string (system, tool and assistant content)."""
    texts: list[str] = []
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        key = "text" if kind == "text" else "refusal" if allow_refusal and kind == "refusal" else ""
        if not key:
            raise _bad(
                f"content parts here must be of type 'text', got {shown(kind)}", f"{param}[{j}]"
            )
        text = part.get(key)
        if not isinstance(text, str):
            raise _bad(f"'{key}' must be a string", f"{param}[{j}].{key}")
        texts.append(text)
    return "".join(texts)


def _check_user_parts(parts: list[Any], param: str) -> None:
    if not parts:
        raise _bad("content must not be an empty array", param)
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise _bad("content part must be an object", f"{param}[{j}]")
        kind = part.get("type")
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _bad("'text' must be a string", f"{param}[{j}].text")
        elif kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise _bad("'image_url.url' must be a string", f"{param}[{j}].image_url.url")
        else:
            raise _bad(
                f"unsupported content part type {shown(kind)} (expected 'text' or 'image_url')",
                f"{param}[{j}].type",
            )


def _check_tool_calls(calls: Any, param: str) -> None:
    if not isinstance(calls, list) or not calls:
        raise _bad("'tool_calls' must be a non-empty array", param)
    for j, call in enumerate(calls):
        where = f"{param}[{j}]"
        if not isinstance(call, dict):
            raise _bad("tool call must be an object", where)
        if not isinstance(call.get("id"), str):
            raise _bad("tool call 'id' must be a string", f"{where}.id")
        if call.get("type") != "function":
            raise _bad("tool call 'type' must be 'function'", f"{where}.type")
        fn = call.get("function")
        if not isinstance(fn, dict):
            raise _bad("tool call 'function' must be an object", f"{where}.function")
        if not isinstance(fn.get("name"), str):
            raise _bad("'function.name' must be a string", f"{where}.function.name")
        if not isinstance(fn.get("arguments"), str):
            raise _bad("'function.arguments' must be a string", f"{where}.function.arguments")


def _system_message(msg: dict[str, Any], param: str) -> Message:
    content = msg.get("content")
    if isinstance(content, list):
        content = _text_of_parts(content, f"{param}.content")
    elif not isinstance(content, str):
        raise _bad("system content must be a string or an array of text parts", f"{param}.content")
    if msg.get("role") == "system" and content is msg.get("content"):
        return msg
    out = dict(msg)
    out["role"] = "system"
    out["content"] = content
    return out


def _assistant_message(msg: dict[str, Any], param: str) -> Message:
    content = msg.get("content")
    tool_calls = msg.get("tool_calls")
    if tool_calls is not None:
        _check_tool_calls(tool_calls, f"{param}.tool_calls")
    if content is None:
        if tool_calls is None:
            raise _bad("assistant content is required unless 'tool_calls' is given", param)
        return msg
    if isinstance(content, str):
        return msg
    if isinstance(content, list):
        out = dict(msg)
        out["content"] = _text_of_parts(content, f"{param}.content", allow_refusal=True)
        return out
    raise _bad("assistant content must be a string, an array of text parts or null", param)


def _tool_message(msg: dict[str, Any], param: str) -> Message:
    if not isinstance(msg.get("tool_call_id"), str):
        raise _bad("tool messages need a 'tool_call_id' string", f"{param}.tool_call_id")
    content = msg.get("content")
    if isinstance(content, str):
        return msg
    if isinstance(content, list):
        out = dict(msg)
        out["content"] = _text_of_parts(content, f"{param}.content")
        return out
    raise _bad("tool content must be a string or an array of text parts", f"{param}.content")


def decode_message(msg: Any, i: int) -> Message:
    """One message in canonical form (the caller's dict itself when already canonical)."""
    param = f"messages[{i}]"
    if not isinstance(msg, dict):
        raise _bad("each message must be an object", param)
    role = msg.get("role")
    if role == "user":
        content = msg.get("content")
        if isinstance(content, str):
            return msg
        if isinstance(content, list):
            _check_user_parts(content, f"{param}.content")
            return msg
        raise _bad("user content must be a string or an array of parts", f"{param}.content")
    if role == "assistant":
        return _assistant_message(msg, param)
    if role == "system" or role == "developer":
        return _system_message(msg, param)
    if role == "tool":
        return _tool_message(msg, param)
    if role == "function":
        raise _bad("role 'function' is deprecated and not supported; use 'tool'", f"{param}.role")
    raise _bad(
        f"invalid role {shown(role)} (expected system, developer, user, assistant or tool)",
        f"{param}.role",
    )
