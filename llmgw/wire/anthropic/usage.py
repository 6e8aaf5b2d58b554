"""Anthropic usage, stop reasons and message ids, shared by responses and streams (both ways).

Usage: Anthropic's ``input_tokens`` leaves out tokens read from or written to the prompt cache;
canonical ``input_tokens`` counts every prompt token (OpenAI semantics), with cache reads also
in ``cached_input_tokens``.
"""

from __future__ import annotations

from typing import Any

from llmgw.types import FinishReason, Usage

_FINISH_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_from_anthropic(usage: Any) -> Usage:
    """A canonical ``Usage`` from Anthropic's ``usage`` (cache reads and writes count as input)."""
    if not isinstance(usage, dict):
        return Usage()
    cached = _int(usage.get("cache_read_input_tokens"))
    written = _int(usage.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=_int(usage.get("input_tokens")) + cached + written,
        output_tokens=_int(usage.get("output_tokens")),
        cached_input_tokens=cached,
    )


def usage_to_anthropic(usage: Usage) -> dict[str, int]:
    """Anthropic's ``usage`` object for a canonical ``Usage``."""
    cached = min(usage.cached_input_tokens, usage.input_tokens)
    return {
        "input_tokens": usage.input_tokens - cached,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def finish_reason_from_anthropic(reason: Any) -> FinishReason:
    """Canonical finish reason for a ``stop_reason``; unknown reasons are ``stop``."""
    return _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def stop_reason_to_anthropic(reason: FinishReason) -> str:
    """Anthropic's ``stop_reason`` for a canonical finish reason."""
    return _STOP_REASONS.get(reason, "end_turn")


def message_id(raw_id: str) -> str:
    """A Message id: Anthropic's start with ``msg_``, so other ids get that prefix."""
    return raw_id if raw_id.startswith("msg_") else f"msg_{raw_id}"
