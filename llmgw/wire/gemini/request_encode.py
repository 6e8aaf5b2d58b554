"""Canonical ``ChatRequest`` -> Gemini ``GenerateContentRequest`` body and URL path (pure).

The model is not in the body but in the URL (``request_path``).

System messages become ``systemInstruction``; assistant turns ``model`` turns; tool messages
``functionResponse`` parts named after the assistant tool call they answer (Gemini matches
responses to calls by name). Consecutive turns of one role are merged, as Gemini wants user and
model turns to alternate.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from typing import Any
from urllib.parse import quote

from llmgw.errors import BadRequest
from llmgw.types import ChatRequest, Message, Tool
from llmgw.wire.gemini.request_decode import EXTRA_PARAMS
from llmgw.wire.gemini.schema import clean_schema
from llmgw.wire.limits import loads_bounded


def request_path(model: str, stream: bool) -> str:
    """The URL path for ``model`` (relative to e.g. https://generativelanguage.googleapis.com)."""
    name = quote(model.removeprefix("models/"), safe="-._~@")
    if stream:
        return f"/v1beta/models/{name}:streamGenerateContent?alt=sse"
    return f"/v1beta/models/{name}:generateContent"


def encode_request(req: ChatRequest) -> dict[str, Any]:
    """The Gemini body for ``req`` (the model goes in the URL, see ``request_path``)."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool-call id -> function name
    for i, msg in enumerate(req.messages):
        role = msg.get("role")
        if role == "system":
            system.extend(p for p in _content_parts(msg.get("content"), i) if "text" in p)
            continue
        if role == "assistant":
            gemini_role, parts = "model", _assistant_parts(msg, i, names)
        elif role == "tool":
            gemini_role, parts = "user", [_function_response(msg, i, names)]
        elif role == "user":
            gemini_role, parts = "user", _content_parts(msg.get("content"), i)
        else:
            raise BadRequest(f"unknown role {role!r}", param=f"messages[{i}].role")
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    if not contents:
        raise BadRequest("Gemini needs at least one user or assistant message", param="messages")
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if req.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in req.tools]}]
    if req.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": _tool_config(req.tool_choice)}
    config = _generation_config(req)
    if config:
        body["generationConfig"] = config
    return body


def _content_parts(content: Any, i: int) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequest("content must be a string or a list", param=f"messages[{i}].content")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_image_part(url, i))
        else:
            raise BadRequest(f"unsupported content part {kind!r}", param=f"messages[{i}].content")
    return parts


def _image_part(url: Any, i: int) -> dict[str, Any]:
    if not isinstance(url, str):
        raise BadRequest("image_url needs a 'url'", param=f"messages[{i}].content")
    if url.startswith("data:"):
        head, sep, data = url[5:].partition(",")
        mime, _, encoding = head.partition(";")
        if not sep or encoding != "base64":
            raise BadRequest("image data URLs must be base64", param=f"messages[{i}].content")
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("image data is not base64", param=f"messages[{i}].content") from exc
        return {"inlineData": {"mimeType": mime or "image/png", "data": data}}
    mime = mimetypes.guess_type(url)[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _assistant_parts(msg: Message, i: int, names: dict[str, str]) -> list[dict[str, Any]]:
    parts = _content_parts(msg.get("content"), i)
    for j, call in enumerate(msg.get("tool_calls") or []):
        where = f"messages[{i}].tool_calls[{j}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise BadRequest("a tool call needs a function name", param=where)
        try:
            args = loads_bounded(function.get("arguments") or "{}")
        except ValueError as exc:
            raise BadRequest(
                f"tool call arguments are not usable JSON: {exc}", param=where
            ) from None
        if not isinstance(args, dict):
            raise BadRequest("tool call arguments must be a JSON object", param=where)
        names[str(call.get("id"))] = function["name"]
        parts.append({"functionCall": {"name": function["name"], "args": args}})
    return parts


def _function_response(msg: Message, i: int, names: dict[str, str]) -> dict[str, Any]:
    call_id = msg.get("tool_call_id")
    if call_id not in names:
        raise BadRequest(
            f"tool message answers unknown tool call {call_id!r}",
            param=f"messages[{i}].tool_call_id",
        )
    content = msg.get("content")
    if isinstance(content, list):  # text parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    text = content if isinstance(content, str) else ""
    try:
        parsed = loads_bounded(text)
    except ValueError:  # not JSON, or too deep to encode again: sent as text
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"content": text}
    return {"functionResponse": {"name": names[call_id], "response": response}}


def _declaration(tool: Tool) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise BadRequest("tools must be function tools with a name", param="tools")
    decl: dict[str, Any] = {"name": function["name"]}
    if function.get("description"):
        decl["description"] = function["description"]
    params = function.get("parameters")
    if isinstance(params, dict):
        cleaned = clean_schema(params)
        # Gemini rejects an OBJECT schema without properties: a no-argument function has none.
        if cleaned.get("type") != "object" or cleaned.get("properties"):
            decl["parameters"] = cleaned
    return decl


def _tool_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise BadRequest("tool_choice needs a function name", param="tool_choice")
        return {"mode": "ANY", "allowedFunctionNames": [name]}
    modes = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
    if choice not in modes:
        raise BadRequest(f"unknown tool_choice {choice!r}", param="tool_choice")
    return {"mode": modes[choice]}


def _generation_config(req: ChatRequest) -> dict[str, Any]:
    config: dict[str, Any] = {}
    pairs = (
        ("temperature", req.temperature),
        ("topP", req.top_p),
        ("maxOutputTokens", req.max_tokens),
        ("stopSequences", req.stop),
        ("seed", req.seed),
        ("candidateCount", req.n if req.n != 1 else None),
    )
    config.update((k, v) for k, v in pairs if v is not None)
    config.update((name, req.extra[key]) for name, key in EXTRA_PARAMS if key in req.extra)
    fmt = req.response_format or {}
    if fmt.get("type") == "json_object":
        config["responseMimeType"] = "application/json"
    elif fmt.get("type") == "json_schema":
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            config["responseSchema"] = clean_schema(schema)
    return config
