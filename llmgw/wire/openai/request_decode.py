"""OpenAI chat-completions requests: validation into ``ChatRequest`` (``decode_request``).

Validation mirrors what the OpenAI API rejects and raises ``errors.BadRequest`` whose ``param``
names the field the way OpenAI does (``tools[0].function.name``); messages are checked and
translated in ``messages``.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

from llmgw.errors import BadRequest
from llmgw.types import ChatRequest
from llmgw.wire.limits import MAX_TOKENS, is_int64, one_of
from llmgw.wire.openai.messages import decode_message

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


def _bad(message: str, param: str | None) -> BadRequest:
    return BadRequest(message, param=param)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
    if not isinstance(fmt, dict) or not one_of(fmt.get("type"), _RESPONSE_FORMATS):
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
        if value > MAX_TOKENS:
            raise _bad(f"'{key}' must be at most {MAX_TOKENS}", key)
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
    messages = [decode_message(m, i) for i, m in enumerate(raw_messages)]

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
    if seed is not None and not is_int64(seed):
        raise _bad("'seed' must be a 64-bit signed integer", "seed")
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
