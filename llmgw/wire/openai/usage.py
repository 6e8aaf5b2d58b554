"""OpenAI usage objects and finish reasons, shared by responses and streams (both ways)."""

from __future__ import annotations

from typing import Any

from llmgw.types import FinishReason, Usage

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",  # legacy functions API
    "content_filter": "content_filter",
}


def as_int(value: Any) -> int:
    """``value`` when it is a real int (not a bool), else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_to_openai(usage: Usage) -> dict[str, Any]:
    """OpenAI's ``usage`` object for a canonical ``Usage``."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
    }


def usage_from_openai(usage: Any) -> Usage:
    """A canonical ``Usage`` from OpenAI's ``usage`` object (missing or odd fields count 0)."""
    if not isinstance(usage, dict):
        return Usage()
    details = usage.get("prompt_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    return Usage(
        input_tokens=as_int(usage.get("prompt_tokens")),
        output_tokens=as_int(usage.get("completion_tokens")),
        cached_input_tokens=cached,
    )


def finish_reason_from_openai(reason: Any) -> FinishReason:
    """Canonical finish reason; legacy ``function_call`` is ``tool_calls``, unknown is ``stop``."""
    return _FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
