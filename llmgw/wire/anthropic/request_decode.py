"""Anthropic Messages requests: validation into ``ChatRequest`` (``decode_request``).

Validation mirrors what the Messages API rejects and raises ``errors.BadRequest`` whose ``param``
names the field the way Anthropic does (``messages.1.content.0.source.media_type``).

Translation to the canonical (OpenAI-semantics) messages:

* ``system`` (a string or text blocks) becomes one leading system message;
* ``text`` and ``image`` blocks become content parts (an image becomes an ``image_url`` part:
  base64 sources as ``data:`` URLs, URL sources as they are); a user message that is one text
  block becomes a plain string;
* assistant ``tool_use`` blocks become ``tool_calls`` whose arguments are compact JSON of
  ``input``; ``thinking`` and ``redacted_thinking`` blocks have no canonical form and are dropped;
* each user ``tool_result`` block becomes a ``{"role": "tool"}`` message, placed before the rest
  of that user turn; its text blocks are joined, images in it are dropped, and ``is_error`` is
  noted by an ``"Error: "`` prefix.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from llmgw.errors import BadRequest
from llmgw.jsontext import dumps_text
from llmgw.types import ChatRequest, Message, ToolCall
from llmgw.wire.limits import MAX_TOKENS, is_int64, one_of, shown

# Request keys handled here; every other key goes to ``ChatRequest.extra``.
_NAMED_KEYS = frozenset(
    {
        "model",
        "max_tokens",
        "messages",
        "system",
        "stop_sequences",
        "temperature",
        "top_p",
        "top_k",
        "tools",
        "tool_choice",
        "metadata",
        "stream",
    }
)
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


def _bad(message: str, param: str) -> BadRequest:
    return BadRequest(f"{param}: {message}", param=param)


def _required(value: Any, problem: str) -> str:
    """Anthropic's wording for a missing field, else what is wrong with it."""
    return "Field required" if value is None else problem


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text (the canonical form of tool-call arguments); any depth
    a request may have, integers beyond 64 bits too."""
    return dumps_text(value)


# ------------------------------------------------------------------------------------ blocks


def _text_block(block: dict[str, Any], param: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        raise _bad("'text' must be a string", f"{param}.text")
    return text


def _image_part(block: dict[str, Any], param: str) -> dict[str, Any]:
    source = block.get("source")
    where = f"{param}.source"
    if not isinstance(source, dict):
        raise _bad("'source' must be an object", where)
    kind = source.get("type")
    if kind == "base64":
        media_type = source.get("media_type")
        if not one_of(media_type, _IMAGE_TYPES):
            allowed = ", ".join(sorted(_IMAGE_TYPES))
            raise _bad(f"media_type must be one of {allowed}", f"{where}.media_type")
        data = source.get("data")
        if not isinstance(data, str) or not data:
            raise _bad("'data' must be a non-empty base64 string", f"{where}.data")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        link = source.get("url")
        if not isinstance(link, str) or not link:
            raise _bad("'url' must be a non-empty string", f"{where}.url")
        url = link
    else:
        raise _bad("source type must be 'base64' or 'url'", f"{where}.type")
    return {"type": "image_url", "image_url": {"url": url}}


def _tool_result(block: dict[str, Any], param: str) -> Message:
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise _bad("'tool_use_id' must be a non-empty string", f"{param}.tool_use_id")
    content = block.get("content", "")
    if isinstance(content, list):
        texts: list[str] = []
        for j, inner in enumerate(content):
            where = f"{param}.content.{j}"
            kind = inner.get("type") if isinstance(inner, dict) else None
            if kind == "text":
                texts.append(_text_block(inner, where))
            elif kind == "image":
                _image_part(inner, where)  # validated, but a tool message holds text only
            else:
                raise _bad(f"unsupported tool_result content type {shown(kind)}", f"{where}.type")
        text = "\n".join(texts)
    elif isinstance(content, str):
        text = content
    else:
        raise _bad("'content' must be a string or an array of blocks", f"{param}.content")
    is_error = block.get("is_error")
    if is_error is not None and not isinstance(is_error, bool):
        raise _bad("'is_error' must be a boolean", f"{param}.is_error")
    if is_error:
        text = f"Error: {text}"
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}


def _tool_call(block: dict[str, Any], param: str) -> ToolCall:
    call_id = block.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise _bad("'id' must be a non-empty string", f"{param}.id")
    name = block.get("name")
    if not isinstance(name, str) or not name:
        raise _bad("'name' must be a non-empty string", f"{param}.name")
    tool_input = block.get("input")
    if not isinstance(tool_input, dict):
        raise _bad("'input' must be an object", f"{param}.input")
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": compact_json(tool_input)},
    }


# ---------------------------------------------------------------------------------- messages


def _user_messages(content: Any, param: str) -> list[Message]:
    """A user turn: its tool results as tool messages, then the rest as one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[Message] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        where = f"{param}.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": _text_block(block, where)})
        elif kind == "image":
            parts.append(_image_part(block, where))
        elif kind == "tool_result":
            tools.append(_tool_result(block, where))
        else:
            raise _bad(f"unsupported content block type {shown(kind)} in a user message", where)
    if not parts:
        return tools
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*tools, {"role": "user", "content": parts[0]["text"]}]
    return [*tools, {"role": "user", "content": parts}]


def _assistant_message(content: Any, param: str) -> Message:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[ToolCall] = []
    for j, block in enumerate(content):
        where = f"{param}.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(_text_block(block, where))
        elif kind == "tool_use":
            calls.append(_tool_call(block, where))
        elif not one_of(kind, _DROPPED_BLOCKS):
            raise _bad(
                f"unsupported content block type {shown(kind)} in an assistant message", where
            )
    message: Message = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _messages(raw: Any) -> list[Message]:
    if not isinstance(raw, list) or not raw:
        raise _bad(_required(raw, "must be a non-empty array of messages"), "messages")
    out: list[Message] = []
    last = len(raw) - 1
    for i, msg in enumerate(raw):
        param = f"messages.{i}"
        if not isinstance(msg, dict):
            raise _bad("message must be an object", param)
        role = msg.get("role")
        if role not in ("user", "assistant"):
            raise _bad("role must be 'user' or 'assistant'", f"{param}.role")
        content = msg.get("content")
        where = f"{param}.content"
        if not isinstance(content, str | list):
            raise _bad("content must be a string or an array of content blocks", where)
        if not content and not (role == "assistant" and i == last):
            raise _bad("messages must have non-empty content", where)
        if role == "user":
            out.extend(_user_messages(content, where))
        else:
            out.append(_assistant_message(content, where))
    return out


def _system(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw or None
    if not isinstance(raw, list):
        raise _bad("system must be a string or an array of text blocks", "system")
    texts: list[str] = []
    for j, block in enumerate(raw):
        where = f"system.{j}"
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _bad("system blocks must be of type 'text'", f"{where}.type")
        texts.append(_text_block(block, where))
    return "\n".join(texts) or None


# ------------------------------------------------------------------------------ tools, params


def _tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise _bad("tools must be an array", "tools")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(raw):
        param = f"tools.{i}"
        if not isinstance(tool, dict):
            raise _bad("tool must be an object", param)
        if tool.get("type", "custom") != "custom":
            raise _bad(
                f"tool type {shown(tool.get('type'))} is not supported here", f"{param}.type"
            )
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _bad("name must match ^[a-zA-Z0-9_-]{1,128}$", f"{param}.name")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            raise _bad("'input_schema' must be an object", f"{param}.input_schema")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        description = tool.get("description")
        if description is not None:
            if not isinstance(description, str):
                raise _bad("description must be a string", f"{param}.description")
            function["description"] = description
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(raw: Any, extra: dict[str, Any]) -> str | dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _bad("tool_choice must be an object", "tool_choice")
    kind = raw.get("type")
    if raw.get("disable_parallel_tool_use") is True:
        extra["parallel_tool_calls"] = False
    if kind in ("auto", "none"):
        return str(kind)
    if kind == "any":
        return "required"
    if kind == "tool":
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise _bad("'name' is required for tool_choice type 'tool'", "tool_choice.name")
        return {"type": "function", "function": {"name": name}}
    raise _bad("type must be one of 'auto', 'any', 'tool', 'none'", "tool_choice.type")


def _unit_interval(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not _is_number(value) or not 0 <= value <= 1:
        raise _bad("must be a number between 0 and 1", key)
    return float(value)


def _stop_sequences(raw: Any) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
        raise _bad("must be an array of non-empty strings", "stop_sequences")
    return list(raw) or None


def _user(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _bad("metadata must be an object", "metadata")
    user_id = raw.get("user_id")
    if user_id is not None and not isinstance(user_id, str):
        raise _bad("user_id must be a string", "metadata.user_id")
    return user_id or None


def decode_request(body: Any) -> ChatRequest:
    """Validate a Messages API request body and translate it to a ``ChatRequest``.

    ``top_k``, ``thinking`` and any key the record does not name go to ``extra``;
    ``tool_choice.disable_parallel_tool_use`` becomes ``extra["parallel_tool_calls"] = False``.
    A streamed request asks for usage, since this format always reports it.
    """
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad(_required(model, "must be a non-empty string"), "model")
    max_tokens = body.get("max_tokens")
    if not _is_int(max_tokens) or max_tokens < 1:
        raise _bad(_required(max_tokens, "must be a positive integer"), "max_tokens")
    if max_tokens > MAX_TOKENS:
        raise _bad(f"must be at most {MAX_TOKENS}", "max_tokens")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _bad("must be a boolean", "stream")
    messages = _messages(body.get("messages"))
    system = _system(body.get("system"))
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    extra = {k: v for k, v in body.items() if k not in _NAMED_KEYS}
    top_k = body.get("top_k")
    if top_k is not None:
        if not is_int64(top_k) or top_k < 0:
            raise _bad("must be a non-negative 64-bit integer", "top_k")
        extra["top_k"] = top_k
    tools = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice"), extra)
    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        max_tokens=max_tokens,
        temperature=_unit_interval(body, "temperature"),
        top_p=_unit_interval(body, "top_p"),
        stop=_stop_sequences(body.get("stop_sequences")),
        tools=tools,
        tool_choice=tool_choice,
        user=_user(body.get("metadata")),
        include_usage=stream,
        extra=extra,
    )
