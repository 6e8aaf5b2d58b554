"""Anthropic Messages requests: a ``ChatRequest`` as the body for a provider (``encode_request``).

What the Messages API has no place for:

* ``response_format`` (JSON mode) is not supported by Anthropic and is dropped;
* ``seed``, ``n`` and extras other than ``top_k``, ``thinking`` and ``metadata`` are dropped;
  of ``metadata`` only ``user_id`` is kept (``req.user`` wins);
* ``temperature`` above 1 (OpenAI allows up to 2) is lowered to 1, Anthropic's maximum;
* ``tool_choice`` without tools is dropped, as Anthropic rejects it.
"""

from __future__ import annotations

from typing import Any

from llmgw.types import ChatRequest, Message
from llmgw.wire.limits import loads_bounded

DEFAULT_MAX_TOKENS = 4096
_FORWARDED_EXTRAS = ("top_k", "thinking")

Block = dict[str, Any]


def _text(content: Any) -> str:
    """The text of canonical content (a string or a list of parts; non-text parts skipped)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _image_block(url: str) -> Block:
    """An image block: ``data:`` URLs become base64 sources, other URLs URL sources."""
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if encoding == "base64" and data:
            source = {"type": "base64", "media_type": media_type or "image/png", "data": data}
            return {"type": "image", "source": source}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> str | list[Block]:
    if not isinstance(content, list):
        return content if isinstance(content, str) else ""
    blocks: list[Block] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str):
                blocks.append(_image_block(url))
    return blocks


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments (JSON text) as an object; anything that is not one (or nests deeper
    than a request may, ``limits.MAX_DEPTH``) becomes ``{}``."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = loads_bounded(arguments)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _assistant_blocks(msg: Message) -> str | list[Block]:
    text = _text(msg.get("content"))
    calls = msg.get("tool_calls") or []
    if not calls:
        return text
    blocks: list[Block] = [{"type": "text", "text": text}] if text else []
    for call in calls:
        fn = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or "",
                "name": fn.get("name") or "",
                "input": parse_arguments(fn.get("arguments")),
            }
        )
    return blocks


def _append(out: list[dict[str, Any]], role: str, content: str | list[Block]) -> None:
    """Add a turn; a turn of the same role as the last one is merged into it."""
    if not content:
        return
    if out and out[-1]["role"] == role:
        previous = out[-1]["content"]
        if isinstance(previous, str):
            previous = [{"type": "text", "text": previous}]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        out[-1]["content"] = previous + content
        return
    out.append({"role": role, "content": content})


def _messages(messages: list[Message]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            text = _text(msg.get("content"))
            if text:
                system.append(text)
        elif role == "user":
            _append(out, "user", _user_blocks(msg.get("content")))
        elif role == "assistant":
            _append(out, "assistant", _assistant_blocks(msg))
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": msg.get("tool_call_id") or "",
                "content": _text(msg.get("content")),
            }
            _append(out, "user", [result])
    return system, out


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function") or {}
    out: dict[str, Any] = {"name": fn.get("name") or ""}
    if fn.get("description"):
        out["description"] = fn["description"]
    out["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
    return out


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return {"type": "tool", "name": fn["name"]}
    return None


def encode_request(req: ChatRequest) -> dict[str, Any]:
    """The Messages API body for ``req`` (``req.model`` is the provider's model name)."""
    system, messages = _messages(req.messages)
    body: dict[str, Any] = {
        "model": req.model,
        "max_tokens": req.max_tokens if req.max_tokens is not None else DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if system:
        body["system"] = "\n".join(system)
    if req.temperature is not None:
        body["temperature"] = min(req.temperature, 1.0)
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        body["stop_sequences"] = list(req.stop)
    if req.tools:
        body["tools"] = [_tool(t) for t in req.tools]
        choice = _tool_choice(req.tool_choice)
        if req.extra.get("parallel_tool_calls") is False:
            choice = choice or {"type": "auto"}
            if choice["type"] != "none":
                choice["disable_parallel_tool_use"] = True
        if choice is not None:
            body["tool_choice"] = choice
    for key in _FORWARDED_EXTRAS:
        if req.extra.get(key) is not None:
            body[key] = req.extra[key]
    metadata = req.extra.get("metadata")
    user_id = req.user or (metadata.get("user_id") if isinstance(metadata, dict) else None)
    if isinstance(user_id, str) and user_id:
        body["metadata"] = {"user_id": user_id}
    if req.stream:
        body["stream"] = True
    return body
