"""Cache keys: what makes two calls the same call. Pure.

The exact key is the SHA-256 of the call's scope, the resolved public model, every message
(system prompt and full history) and every parameter that can change the answer. Parameters
that only change the delivery (``stream``, ``include_usage``, ``user``) are left out, so a
streamed call and a plain one share an entry.

The semantic cache splits a call in two: its *context* (scope, model, parameters, system
prompt and every message before the last) must match exactly, and only its *question* (the
last message, a user's plain text) may be a paraphrase. ``context_key`` hashes the first part.
"""

from __future__ import annotations

import hashlib
from typing import Any

from llmgw.jsontext import dumps
from llmgw.types import ChatRequest, Message

_VERSION = b"llmgw-cache-v1\0"


def _params(req: ChatRequest) -> dict[str, Any]:
    """Everything but the messages that changes what the model answers."""
    return {
        "max_tokens": req.max_tokens,
        "temperature": req.temperature,
        "top_p": req.top_p,
        "stop": req.stop,
        "tools": req.tools,
        "tool_choice": req.tool_choice,
        "response_format": req.response_format,
        "seed": req.seed,
        "n": req.n,
        "extra": req.extra,
    }


def _digest(kind: bytes, scope: str, model: str, params: dict[str, Any], messages: Any) -> str:
    payload = dumps([scope, model, params, messages], sort_keys=True)
    return hashlib.sha256(_VERSION + kind + payload).hexdigest()


def exact_key(scope: str, model: str, req: ChatRequest) -> str:
    """The exact-match key of a call in ``scope`` to public model ``model``."""
    return _digest(b"exact\0", scope, model, _params(req), req.messages)


def context_key(scope: str, model: str, req: ChatRequest) -> str:
    """The semantic partition of a call: everything except its last message."""
    return _digest(b"context\0", scope, model, _params(req), req.messages[:-1])


def question_of(req: ChatRequest) -> str | None:
    """The last message's text when it is a user's plain-text question, else None.

    Only such a question may be matched by meaning: images, tool results and assistant
    prefills are matched exactly or not at all.
    """
    if not req.messages:
        return None
    last: Message = req.messages[-1]
    if last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                return None
            parts.append(str(part.get("text", "")))
        text = "\n".join(parts)
    else:
        return None
    text = text.strip()
    return text or None


def deterministic(req: ChatRequest) -> bool:
    """Temperature 0 or a fixed seed: the caller asked for a repeatable answer."""
    return req.temperature == 0 or req.seed is not None
