"""OpenAI chat-completions requests: the body sent to an OpenAI-compatible provider."""

from __future__ import annotations

import re
from typing import Any

from llmgw.types import ChatRequest

# Models that take ``max_completion_tokens`` and reject ``max_tokens``.
_COMPLETION_TOKENS_MODEL = re.compile(r"^(o\d|gpt-5)")


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
