"""OpenAI chat-completions requests: validation into ``ChatRequest`` and encoding back.

Public through ``llmgw.wire.openai`` (``decode_request``, ``encode_request``). Validation mirrors
what the OpenAI API rejects and raises ``errors.BadRequest`` whose ``param`` names the field the
way OpenAI does (``messages[2].content``, ``tools[0].function.name``).

This runs on every request, so it uses plain ``dict``/``isinstance`` checks, and a message that
is already canonical (the usual ``{"role": "user", "content": "hi"}``) is kept as the caller's
own dict, not copied.
"""

from __future__ import annotations

import re
from typing import Any

from llmgw.errors import BadRequest
from llmgw.types import ChatRequest, Message

# Request keys that ``ChatRequest`` names; every other key goes to ``ChatRequest.extra``.
_NAMED_KEYS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "seed",
        "n",
        "user",
    }
)
_MAX_STOP = 4
_TOOL_CHOICE_MODES = frozenset({"none", "auto", "required"})
_RESPONSE_FORMATS = frozenset({"text", "json_object", "json_schema"})
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
# Models that take ``max_completion_tokens`` and reject ``max_tokens``.
_COMPLETION_TOKENS_MODEL = re.compile(r"^(o\d|gpt-5)")


def _bad(message: str, param: str | None) -> BadRequest:
    return BadRequest(message, param=param)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------------------------- messages


def _text_of_parts(parts: list[Any], param: str, allow_refusal: bool = False) -> str:
    """Join a list of text parts into one string (system, tool and assistant content)."""
    texts: list[str] = []
    for j, part in enumerate(parts):
        kind = part.get("type") if isinstance(part, dict) else None
        key = "text" if kind == "text" else "refusal" if allow_refusal and kind == "refusal" else ""
        if not key:
            raise _bad(f"content parts here must be of type 'text', got {kind!r}", f"{param}[{j}]")
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
                f"unsupported content part type {kind!r} (expected 'text' or 'image_url')",
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


def _message(msg: Any, i: int) -> Message:
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
        f"invalid role {role!r} (expected system, developer, user, assistant or tool)",
        f"{param}.role",
    )


# ---------------------------------------------------------------------------------- options


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list) or not tools:
        raise _bad("'tools' must be a non-empty array", "tools")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise _bad("only tools of type 'function' are supported", f"tools[{i}].type")
        fn = tool.get("function")
        if not isinstance(fn, dict):
            raise _bad("'function' must be an object", f"tools[{i}].function")
        name = fn.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise _bad(
                "function name is required: 1-64 letters, digits, '_' or '-'",
                f"tools[{i}].function.name",
            )
        params = fn.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise _bad("'parameters' must be an object", f"tools[{i}].function.parameters")
    return tools


def _tool_choice(choice: Any, has_tools: bool) -> str | dict[str, Any]:
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICE_MODES:
            raise _bad(
                "'tool_choice' must be 'none', 'auto', 'required' or an object", "tool_choice"
            )
        if choice == "required" and not has_tools:
            raise _bad("'tool_choice' is only allowed when 'tools' are specified", "tool_choice")
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str) and fn["name"]:
            if not has_tools:
                raise _bad(
                    "'tool_choice' is only allowed when 'tools' are specified", "tool_choice"
                )
            return choice
        raise _bad("'tool_choice.function.name' must be a string", "tool_choice.function.name")
    raise _bad("'tool_choice' must be 'none', 'auto', 'required' or an object", "tool_choice")


def _response_format(fmt: Any) -> dict[str, Any]:
    if not isinstance(fmt, dict) or fmt.get("type") not in _RESPONSE_FORMATS:
        raise _bad(
            "'response_format.type' must be 'text', 'json_object' or 'json_schema'",
            "response_format.type",
        )
    if fmt["type"] == "json_schema":
        schema = fmt.get("json_schema")
        if not isinstance(schema, dict) or not isinstance(schema.get("name"), str):
            raise _bad(
                "'response_format.json_schema' must be an object with a 'name'",
                "response_format.json_schema",
            )
    return fmt


def _stop(stop: Any) -> list[str] | None:
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if len(stop) > _MAX_STOP:
            raise _bad(f"'stop' takes at most {_MAX_STOP} sequences", "stop")
        return stop or None
    raise _bad("'stop' must be a string or an array of strings", "stop")


def _max_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is None:
            continue
        if not _is_int(value) or value < 1:
            raise _bad(f"'{key}' must be a positive integer", key)
        return value
    return None


def _ranged(body: dict[str, Any], key: str, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if not _is_number(value) or not 0 <= value <= high:
        raise _bad(f"'{key}' must be a number between 0 and {high:g}", key)
    return float(value)


def _include_usage(body: dict[str, Any], stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not stream:
        raise _bad("'stream_options' is only allowed when 'stream' is true", "stream_options")
    if not isinstance(options, dict):
        raise _bad("'stream_options' must be an object", "stream_options")
    include = options.get("include_usage", False)
    if not isinstance(include, bool):
        raise _bad("'include_usage' must be a boolean", "stream_options.include_usage")
    return include


def decode_request(body: Any) -> ChatRequest:
    """Validate an OpenAI chat-completions body and translate it to a ``ChatRequest``.

    ``developer`` messages become ``system``; text-part arrays in system, assistant and tool
    messages become one string. Keys the record does not name (``presence_penalty``,
    ``logit_bias``, ``parallel_tool_calls``, unknown ones...) go to ``extra`` untouched.
    Raises ``BadRequest`` naming the offending field.
    """
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object", None)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _bad("'model' must be a non-empty string", "model")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise _bad("'messages' must be a non-empty array", "messages")
    messages = [_message(m, i) for i, m in enumerate(raw_messages)]

    stream = body.get("stream")
    if stream is None:
        stream = False
    elif not isinstance(stream, bool):
        raise _bad("'stream' must be a boolean", "stream")

    n = body.get("n")
    if n is not None:
        if not _is_int(n) or n < 1:
            raise _bad("'n' must be a positive integer", "n")
        if n > 1:
            raise _bad("n > 1 is not supported", "n")

    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise _bad("'seed' must be an integer", "seed")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("'user' must be a string", "user")

    tools = body.get("tools")
    if tools is not None:
        tools = _tools(tools)
    tool_choice = body.get("tool_choice")
    if tool_choice is not None:
        tool_choice = _tool_choice(tool_choice, tools is not None)
    response_format = body.get("response_format")
    if response_format is not None:
        response_format = _response_format(response_format)
    stop = body.get("stop")
    if stop is not None:
        stop = _stop(stop)

    return ChatRequest(
        model=model,
        messages=messages,
        stream=stream,
        max_tokens=_max_tokens(body),
        temperature=_ranged(body, "temperature", 2.0),
        top_p=_ranged(body, "top_p", 1.0),
        stop=stop,
        tools=tools,
        tool_choice=tool_choice,
        response_format=response_format,
        seed=seed,
        user=user,
        include_usage=_include_usage(body, stream),
        extra={k: v for k, v in body.items() if k not in _NAMED_KEYS},
    )


def uses_max_completion_tokens(model: str) -> bool:
    """True for model names (o-series, gpt-5...) that take ``max_completion_tokens``."""
    return _COMPLETION_TOKENS_MODEL.match(model) is not None


def encode_request(req: ChatRequest) -> dict[str, Any]:
    """The body to send to an OpenAI-compatible provider.

    Fields that are ``None`` are left out, and ``n`` is sent only when it is not 1.
    ``max_tokens`` goes out as ``max_completion_tokens`` for o-series and gpt-5 model names
    (they reject ``max_tokens``) and as ``max_tokens`` for every other model, because many
    OpenAI-compatible servers know only that name. A streamed request always asks for
    ``stream_options.include_usage`` since the gateway needs exact usage. ``extra`` is merged
    first, so a named field always wins over a stray extra key of the same name.
    """
    body: dict[str, Any] = dict(req.extra) if req.extra else {}
    body["model"] = req.model
    body["messages"] = req.messages
    if req.stream:
        body["stream"] = True
        options = body.get("stream_options")
        options = dict(options) if isinstance(options, dict) else {}
        options["include_usage"] = True
        body["stream_options"] = options
    if req.max_tokens is not None:
        key = "max_completion_tokens" if uses_max_completion_tokens(req.model) else "max_tokens"
        body[key] = req.max_tokens
    for key in ("temperature", "top_p", "stop", "tools", "tool_choice", "response_format"):
        value = getattr(req, key)
        if value is not None:
            body[key] = value
    if req.seed is not None:
        body["seed"] = req.seed
    if req.n != 1:
        body["n"] = req.n
    if req.user is not None:
        body["user"] = req.user
    return body
