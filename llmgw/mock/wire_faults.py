"""How each fault looks on each wire format (pure): error objects and trimmed stream tails.

The mock server answers error faults with the format's own error body, built by the format's
``encode_error`` from the ``GatewayError`` made here, so that every SDK classifies them as it
would a real provider's answer:

* ``status N``: an error of that status with the type each API uses for it;
* ``rate_limit``: 429 (OpenAI code ``rate_limit_exceeded``; Gemini ``RESOURCE_EXHAUSTED`` with
  a ``RetryInfo`` detail), the server adds ``Retry-After``;
* ``context_length``: 400 with the provider's real wording (OpenAI code
  ``context_length_exceeded``; Anthropic ``prompt is too long: N tokens > M maximum``; Gemini
  ``The input token count (N) exceeds the maximum number of tokens allowed (M).``);
* ``echo_auth``: its status (401) with a message quoting the request's credential headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from llmgw.errors import GatewayError
from llmgw.mock.faults import Fault

# Context windows quoted in the context-length errors.
CONTEXT_WINDOW: dict[str, int] = {"openai": 128_000, "anthropic": 200_000, "gemini": 1_048_575}

# OpenAI-style error "type" for a status (Anthropic and Gemini derive theirs from the status).
_KIND_BY_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_CODE_BY_STATUS: dict[int, str] = {
    401: "invalid_api_key",
    404: "model_not_found",
    429: "rate_limit_exceeded",
}


class MockError(GatewayError):
    """A ``GatewayError`` with any status, code and type (what a fault answers with)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str,
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, param=param)
        self.status = status
        self.kind = kind
        self.code = code  # type: ignore[assignment]  # OpenAI sends null codes
        self.retry_after = retry_after


def status_error(status: int, message: str | None = None) -> MockError:
    """An error answer with ``status`` (and ``message``, else a standard one)."""
    kind = _KIND_BY_STATUS.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return MockError(
        status,
        message or f"mock fault: upstream answered {status}",
        kind=kind,
        code=_CODE_BY_STATUS.get(status),
    )


def rate_limit_error(retry_after: float) -> MockError:
    return MockError(
        429,
        f"mock fault: rate limit reached, retry after {retry_after:g}s",
        kind="rate_limit_error",
        code="rate_limit_exceeded",
        retry_after=retry_after,
    )


def context_length_error(fmt: str, input_tokens: int) -> MockError:
    """The provider's own 400 for a prompt longer than its context window."""
    limit = CONTEXT_WINDOW.get(fmt, CONTEXT_WINDOW["openai"])
    count = limit + max(1, input_tokens)
    if fmt == "anthropic":
        message = f"prompt is too long: {count} tokens > {limit} maximum"
        return MockError(400, message, kind="invalid_request_error")
    if fmt == "gemini":
        message = (
            f"The input token count ({count}) exceeds the maximum number of tokens allowed "
            f"({limit})."
        )
        return MockError(400, message, kind="invalid_request_error")
    message = (
        f"This model's maximum context length is {limit} tokens. However, your messages "
        f"resulted in {count} tokens. Please reduce the length of the messages."
    )
    return MockError(
        400, message, kind="invalid_request_error", code="context_length_exceeded", param="messages"
    )


# Headers that carry a key in each provider's API (and Azure's).
CREDENTIAL_HEADERS: tuple[str, ...] = ("authorization", "x-api-key", "x-goog-api-key", "api-key")


def echo_auth_error(status: int, headers: Mapping[str, str]) -> MockError:
    """An error quoting the credentials the request carried, as careless providers do."""
    by_name = {name.lower(): value for name, value in headers.items()}
    sent = [f"{name}: {by_name[name]}" for name in CREDENTIAL_HEADERS if name in by_name]
    return status_error(status, f"Incorrect API key provided: {'; '.join(sent) or 'none'}")


def fault_error(
    fault: Fault, fmt: str, input_tokens: int, headers: Mapping[str, str] | None = None
) -> MockError | None:
    """The error a request-level fault answers with (None for faults that answer otherwise);
    ``headers`` are the request's (``echo_auth`` quotes them)."""
    if fault.kind == "status" and fault.http_status >= 400:
        return status_error(fault.http_status)
    if fault.kind == "echo_auth":
        return echo_auth_error(fault.http_status, headers or {})
    if fault.kind == "rate_limit":
        return rate_limit_error(fault.retry_after_s)
    if fault.kind == "context_length":
        return context_length_error(fmt, input_tokens)
    return None


def retry_after_header(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds when whole, else the decimal."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def drop_terminal(fmt: str, tail: bytes) -> bytes:
    """A stream's closing bytes without its end marker (the ``no_done`` fault).

    OpenAI loses ``data: [DONE]``, Anthropic its ``message_stop`` event, and Gemini the
    ``finishReason`` of its last event (content and usage stay).
    """
    events = [e for e in tail.split(b"\n\n") if e]
    kept: list[bytes] = []
    for event in events:
        if fmt == "openai" and event == b"data: [DONE]":
            continue
        if fmt == "anthropic" and event.startswith(b"event: message_stop"):
            continue
        if fmt == "gemini" and b'"finishReason"' in event:
            event = _without_finish_reason(event)
        kept.append(event + b"\n\n")
    return b"".join(kept)


def _without_finish_reason(event: bytes) -> bytes:
    prefix = b"data: "
    if not event.startswith(prefix):
        return event
    body: Any = orjson.loads(event[len(prefix) :])
    for candidate in body.get("candidates") or ():
        if isinstance(candidate, dict):
            candidate.pop("finishReason", None)
    return prefix + orjson.dumps(body)


def malformed_event(fmt: str) -> bytes:
    """An SSE event whose data is truncated, invalid JSON (the ``malformed`` fault)."""
    data = b'data: {"id": "mock-malformed", "delta": {"text": "lorem\n\n'
    if fmt == "anthropic":
        return b"event: content_block_delta\n" + data
    return data
