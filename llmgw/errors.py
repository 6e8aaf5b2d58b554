"""The one exception tree of llmgw.

Every error a caller can see is one of these; the inbound codec turns it into that API's error
JSON (``Codec.encode_error`` of ``llmgw.wire.openai.CODEC`` / ``llmgw.wire.anthropic.CODEC``)
with ``status``. Nothing else reaches a client: an unexpected exception becomes ``InternalError``.

::

    GatewayError                      status  code
    ├── BadRequest                    400     invalid_request
    │   └── PayloadTooLarge           413     request_too_large
    ├── AuthenticationFailed          401     invalid_api_key
    ├── PermissionDenied              403     model_not_allowed
    ├── NotFound                      404     model_not_found / not_found
    ├── LimitExceeded                 429     rate_limit_exceeded / budget_exceeded / ...
    ├── InternalError                 500     internal_error
    └── UpstreamError                 (by class, see UPSTREAM_STATUS)
            class: rate_limited | overloaded | server_error | timeout | connection | auth
                   | invalid_request | context_length_exceeded | content_filter

``UpstreamError.error_class`` is the canonical failure class that routing decides on (retry,
fail over, return). Provider adapters classify every failure into one of them. An
``UpstreamError`` message may quote what a provider said: its constructor bounds it and redacts
every secret in it (``llmgw.scrub``), whoever builds it.
"""

from __future__ import annotations

from typing import Literal

from llmgw.scrub import upstream_message

ErrorClass = Literal[
    "rate_limited",
    "overloaded",
    "server_error",
    "timeout",
    "connection",
    "auth",
    "invalid_request",
    "context_length_exceeded",
    "content_filter",
]

ERROR_CLASSES: tuple[ErrorClass, ...] = (
    "rate_limited",
    "overloaded",
    "server_error",
    "timeout",
    "connection",
    "auth",
    "invalid_request",
    "context_length_exceeded",
    "content_filter",
)

# Status the gateway answers with when an upstream failure reaches the caller.
UPSTREAM_STATUS: dict[str, int] = {
    "rate_limited": 429,
    "overloaded": 503,
    "server_error": 502,
    "timeout": 504,
    "connection": 502,
    "auth": 502,  # the provider rejected *our* credentials: not the caller's fault
    "invalid_request": 400,
    "context_length_exceeded": 400,
    "content_filter": 400,
}

# Classes that a later attempt (same or other deployment) may fix.
RETRYABLE: frozenset[str] = frozenset(
    {"rate_limited", "overloaded", "server_error", "timeout", "connection"}
)


class GatewayError(Exception):
    """Base of every error llmgw answers with."""

    status: int = 500
    code: str = "internal_error"
    kind: str = "api_error"  # OpenAI-style error "type"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.param = param
        self.retry_after: float | None = None


class BadRequest(GatewayError):
    status = 400
    code = "invalid_request"
    kind = "invalid_request_error"


class PayloadTooLarge(BadRequest):
    status = 413
    code = "request_too_large"


class AuthenticationFailed(GatewayError):
    status = 401
    code = "invalid_api_key"
    kind = "authentication_error"


class PermissionDenied(GatewayError):
    status = 403
    code = "model_not_allowed"
    kind = "permission_error"


class NotFound(GatewayError):
    status = 404
    code = "model_not_found"
    kind = "not_found_error"


class LimitExceeded(GatewayError):
    """A tenant limit refused the call before any upstream was asked.

    ``code`` says which: ``rate_limit_exceeded`` (requests or tokens per minute, with
    ``retry_after``), ``concurrency_limit_exceeded``, ``budget_exceeded`` (a hard money budget;
    distinct so clients can tell "slow down" from "out of money"), or ``limits_unavailable``
    (503: the shared limits backend is unreachable and the route fails closed).
    """

    status = 429
    code = "rate_limit_exceeded"
    kind = "rate_limit_error"


class InternalError(GatewayError):
    status = 500
    code = "internal_error"
    kind = "api_error"


class UpstreamError(GatewayError):
    """A provider call failed. ``error_class`` says how; routing decides on it.

    ``message`` is kept bounded (``llmgw.scrub.MESSAGE_LIMIT``) with API keys and bearer tokens
    redacted, so upstream text can go back to the tenant and into the audit log.
    """

    def __init__(
        self,
        error_class: ErrorClass,
        message: str,
        *,
        provider: str | None = None,
        upstream_status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(upstream_message(message), code=error_class)
        self.error_class: ErrorClass = error_class
        self.status = UPSTREAM_STATUS[error_class]
        self.kind = _KIND_BY_CLASS.get(error_class, "api_error")
        self.provider = provider
        self.upstream_status = upstream_status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.error_class in RETRYABLE

    @property
    def summary(self) -> str:
        """The failure without anything the provider said: ``provider status: class``."""
        where = self.provider or "upstream"
        if self.upstream_status is not None:
            where = f"{where} {self.upstream_status}"
        return f"{where}: {self.error_class}"


_KIND_BY_CLASS: dict[str, str] = {
    "rate_limited": "rate_limit_error",
    "overloaded": "overloaded_error",
    "invalid_request": "invalid_request_error",
    "context_length_exceeded": "invalid_request_error",
    "content_filter": "invalid_request_error",
    "timeout": "timeout_error",
}


def classify_status(status: int, message: str = "") -> ErrorClass:
    """Canonical class for an upstream HTTP status (and, for 400s, its message).

    Codecs refine this with the provider's own error codes; this is the fallback.
    """
    text = message.lower()
    if status == 429:
        return "rate_limited"
    if status in (401, 403):
        return "auth"
    if status == 408 or status == 504:
        return "timeout"
    if status in (503, 529):
        return "overloaded"
    if status >= 500:
        return "server_error"
    if "context length" in text or "context_length" in text or "too many tokens" in text:
        return "context_length_exceeded"
    if "content filter" in text or "content_filter" in text or "safety" in text:
        return "content_filter"
    return "invalid_request"
