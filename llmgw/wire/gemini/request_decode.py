"""Gemini ``GenerateContentRequest`` -> canonical ``ChatRequest`` (pure, no I/O).

Gemini matches a ``functionResponse`` to its ``functionCall`` by function name (and by ``id``
when the client sends one), while the canonical form links them by tool-call id. Decoding gives
every call an id (the part's ``id`` or a deterministic ``call_<n>``) and points each response at
the oldest unanswered call of that name; encoding looks the name up from the id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmgw.errors import BadRequest
from llmgw.jsontext import dumps_text
from llmgw.types import ChatRequest, Message, Tool
from llmgw.wire.gemini.schema import schema_to_json

_ROLES = ("user", "model", "function")  # "function": older clients send responses with it
_TOOL_MODES = {"AUTO": "auto", "NONE": "none", "ANY": "required"}
# generationConfig fields kept as provider-neutral ``ChatRequest.extra`` keys
EXTRA_PARAMS = (
    ("topK", "top_k"),
    ("presencePenalty", "presence_penalty"),
    ("frequencyPenalty", "frequency_penalty"),
)


def field(obj: Mapping[str, Any], name: str) -> Any:
    """``obj[name]`` under its lowerCamel name or its snake_case alias (both are valid JSON)."""
    if name in obj:
        return obj[name]
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name)
    return obj.get(snake)


# --------------------------------------------------------------------------- decode


def decode_request(body: Any, model: str) -> ChatRequest:
    """Validate a Gemini request body and translate it. The model comes from the URL.

    ``stream`` is left false: the caller knows it from the path. Raises ``BadRequest``.
    """
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    messages: list[Message] = []
    system = field(body, "systemInstruction")
    if system is not None:
        messages.append({"role": "system", "content": _system_text(system)})
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("'contents' must be a non-empty list", param="contents")
    calls = _CallBook()
    for i, content in enumerate(contents):
        messages.extend(_decode_content(content, f"contents[{i}]", calls))
    req = ChatRequest(model=model, messages=messages, include_usage=True)
    _decode_generation_config(field(body, "generationConfig"), req)
    req.tools = _decode_tools(body.get("tools"))
    req.tool_choice = _decode_tool_config(field(body, "toolConfig"))
    return req


def model_of(body: Any) -> str:
    """The model a request body names itself, for when no URL gives one.

    Over HTTP the model is in the path; the RPC form of ``GenerateContentRequest`` has it in
    the body as ``model`` (``models/<name>`` or a bare name). Raises ``BadRequest``.
    """
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model.removeprefix("models/"):
        raise BadRequest("'model' must name the model when the URL does not", param="model")
    return model.removeprefix("models/")


class _CallBook:
    """Ids of the function calls seen so far, and which of them still await a response."""

    def __init__(self) -> None:
        self.count = 0
        self.ids: set[str] = set()
        self.pending: dict[str, list[str]] = {}

    def add(self, name: str, call_id: str | None) -> str:
        call_id = call_id or f"call_{self.count}"
        self.count += 1
        self.ids.add(call_id)
        self.pending.setdefault(name, []).append(call_id)
        return call_id

    def answer(self, name: str, call_id: str | None, param: str) -> str:
        waiting = self.pending.get(name, [])
        if call_id and call_id in self.ids:
            if call_id in waiting:
                waiting.remove(call_id)
            return call_id
        if not waiting:
            raise BadRequest(f"functionResponse {name!r} has no earlier functionCall", param=param)
        return waiting.pop(0)


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    if not isinstance(system, dict):
        raise BadRequest("'systemInstruction' must be a Content object", param="systemInstruction")
    texts = []
    for j, part in enumerate(_parts(system, "systemInstruction")):
        text = part.get("text")
        if not isinstance(text, str):
            raise BadRequest(
                "systemInstruction parts must be text", param=f"systemInstruction.parts[{j}]"
            )
        texts.append(text)
    return "\n".join(texts)


def _parts(content: dict[str, Any], param: str) -> list[dict[str, Any]]:
    parts = content.get("parts")
    if isinstance(parts, dict):  # the REST front end accepts a lone Part too
        parts = [parts]
    if not isinstance(parts, list) or not parts:
        raise BadRequest("'parts' must be a non-empty list", param=f"{param}.parts")
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise BadRequest("each part must be an object", param=f"{param}.parts[{j}]")
    return parts


def _decode_content(content: Any, param: str, calls: _CallBook) -> list[Message]:
    if not isinstance(content, dict):
        raise BadRequest("each content must be an object", param=param)
    role = content.get("role") or "user"
    if role not in _ROLES:
        raise BadRequest(f"role must be 'user' or 'model', not {role!r}", param=f"{param}.role")
    parts = _parts(content, param)
    if role == "model":
        return [_decode_model_turn(parts, param, calls)]
    return _decode_user_turn(parts, param, calls)


def _decode_model_turn(parts: list[dict[str, Any]], param: str, calls: _CallBook) -> Message:
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        where = f"{param}.parts[{j}]"
        if "text" in part:
            if not isinstance(part["text"], str):
                raise BadRequest("'text' must be a string", param=f"{where}.text")
            if not part.get("thought"):
                texts.append(part["text"])
        elif (fc := field(part, "functionCall")) is not None:
            name, args = _function_call(fc, where)
            call_id = calls.add(name, fc.get("id") if isinstance(fc.get("id"), str) else None)
            tool_calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": dumps_text(args)},
                }
            )
        else:
            raise BadRequest("model parts must carry text or functionCall", param=where)
    message: Message = {"role": "assistant", "content": "".join(texts) if texts else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _function_call(fc: Any, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(fc, dict) or not isinstance(fc.get("name"), str) or not fc["name"]:
        raise BadRequest("functionCall needs a 'name'", param=f"{where}.functionCall")
    args = fc.get("args") or {}
    if not isinstance(args, dict):
        raise BadRequest("functionCall 'args' must be an object", param=f"{where}.functionCall")
    return fc["name"], args


def _decode_user_turn(parts: list[dict[str, Any]], param: str, calls: _CallBook) -> list[Message]:
    tool_messages: list[Message] = []
    user_parts: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        where = f"{param}.parts[{j}]"
        if "text" in part:
            if not isinstance(part["text"], str):
                raise BadRequest("'text' must be a string", param=f"{where}.text")
            user_parts.append({"type": "text", "text": part["text"]})
        elif (blob := field(part, "inlineData")) is not None:
            user_parts.append({"type": "image_url", "image_url": {"url": _data_url(blob, where)}})
        elif (ref := field(part, "fileData")) is not None:
            uri = field(ref, "fileUri") if isinstance(ref, dict) else None
            if not isinstance(uri, str):
                raise BadRequest("fileData needs a 'fileUri'", param=f"{where}.fileData")
            user_parts.append({"type": "image_url", "image_url": {"url": uri}})
        elif (fr := field(part, "functionResponse")) is not None:
            tool_messages.append(_tool_message(fr, where, calls))
        else:
            raise BadRequest(
                "parts must carry text, inlineData, functionCall or functionResponse", param=where
            )
    if not user_parts:
        return tool_messages
    if len(user_parts) == 1 and user_parts[0]["type"] == "text":
        return [*tool_messages, {"role": "user", "content": user_parts[0]["text"]}]
    return [*tool_messages, {"role": "user", "content": user_parts}]


def _data_url(blob: Any, where: str) -> str:
    mime = field(blob, "mimeType") if isinstance(blob, dict) else None
    data = blob.get("data") if isinstance(blob, dict) else None
    if not isinstance(mime, str) or not isinstance(data, str):
        raise BadRequest("inlineData needs 'mimeType' and 'data'", param=f"{where}.inlineData")
    return f"data:{mime};base64,{data}"


def _tool_message(fr: Any, where: str, calls: _CallBook) -> Message:
    if not isinstance(fr, dict) or not isinstance(fr.get("name"), str):
        raise BadRequest("functionResponse needs a 'name'", param=f"{where}.functionResponse")
    response = fr.get("response", {})
    call_id = calls.answer(fr["name"], fr.get("id"), f"{where}.functionResponse")
    if isinstance(response, dict) and set(response) == {"content"}:
        inner = response["content"]
        text = inner if isinstance(inner, str) else dumps_text(inner)
    else:
        text = dumps_text(response)
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _decode_generation_config(cfg: Any, req: ChatRequest) -> None:
    if cfg is None:
        return
    if not isinstance(cfg, dict):
        raise BadRequest("'generationConfig' must be an object", param="generationConfig")

    def num(name: str, kind: type | tuple[type, ...]) -> Any:
        value = field(cfg, name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise BadRequest(f"{name} has the wrong type", param=f"generationConfig.{name}")
        return value

    count = num("candidateCount", int)
    if count not in (None, 1):
        raise BadRequest(
            "only candidateCount 1 is supported", param="generationConfig.candidateCount"
        )
    req.temperature = num("temperature", (int, float))
    req.top_p = num("topP", (int, float))
    req.max_tokens = num("maxOutputTokens", int)
    req.seed = num("seed", int)
    for name, key in EXTRA_PARAMS:
        if (value := num(name, (int, float))) is not None:
            req.extra[key] = value
    stop = field(cfg, "stopSequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise BadRequest("stopSequences must be a list of strings", param="generationConfig")
        req.stop = stop
    mime = field(cfg, "responseMimeType")
    schema = field(cfg, "responseSchema")
    if schema is None:
        schema = field(cfg, "responseJsonSchema")
    if mime == "application/json":
        if isinstance(schema, dict):
            req.response_format = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema_to_json(schema)},
            }
        else:
            req.response_format = {"type": "json_object"}


def _decode_tools(tools: Any) -> list[Tool] | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        raise BadRequest("'tools' must be a list", param="tools")
    out: list[Tool] = []
    for i, tool in enumerate(tools):
        decls = field(tool, "functionDeclarations") if isinstance(tool, dict) else None
        if not isinstance(decls, list):
            raise BadRequest("only functionDeclarations tools are supported", param=f"tools[{i}]")
        for j, decl in enumerate(decls):
            where = f"tools[{i}].functionDeclarations[{j}]"
            if not isinstance(decl, dict) or not isinstance(decl.get("name"), str):
                raise BadRequest("a function declaration needs a 'name'", param=where)
            function: dict[str, Any] = {"name": decl["name"]}
            if isinstance(decl.get("description"), str):
                function["description"] = decl["description"]
            params = decl.get("parameters")
            if params is None:
                params = field(decl, "parametersJsonSchema")
            if isinstance(params, dict):
                function["parameters"] = schema_to_json(params)
            out.append({"type": "function", "function": function})
    return out or None


def _decode_tool_config(cfg: Any) -> str | dict[str, Any] | None:
    fcc = field(cfg, "functionCallingConfig") if isinstance(cfg, dict) else None
    if not isinstance(fcc, dict):
        return None
    mode = fcc.get("mode", "AUTO")
    if mode not in _TOOL_MODES and mode != "MODE_UNSPECIFIED":
        raise BadRequest(
            "mode must be AUTO, ANY or NONE", param="toolConfig.functionCallingConfig.mode"
        )
    names = field(fcc, "allowedFunctionNames")
    if mode == "ANY" and isinstance(names, list) and len(names) == 1:
        return {"type": "function", "function": {"name": names[0]}}
    return _TOOL_MODES.get(mode, "auto")
