"""The error tree: statuses, classes and what is retryable."""

from __future__ import annotations

import pytest

from llmgw.errors import (
    ERROR_CLASSES,
    RETRYABLE,
    UPSTREAM_STATUS,
    AuthenticationFailed,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UpstreamError,
    classify_status,
)


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (429, "", "rate_limited"),
        (401, "", "auth"),
        (403, "", "auth"),
        (408, "", "timeout"),
        (504, "", "timeout"),
        (503, "", "overloaded"),
        (529, "", "overloaded"),
        (500, "", "server_error"),
        (502, "", "server_error"),
        (400, "This model's maximum context length is 8192 tokens", "context_length_exceeded"),
        (400, "blocked by the content filter", "content_filter"),
        (400, "unknown parameter", "invalid_request"),
        (404, "", "invalid_request"),
    ],
)
def test_classify_status(status: int, message: str, expected: str) -> None:
    assert classify_status(status, message) == expected


def test_every_class_has_a_status() -> None:
    assert set(UPSTREAM_STATUS) == set(ERROR_CLASSES)
    assert set(ERROR_CLASSES) >= RETRYABLE


def test_upstream_error_carries_class_status_and_retry_after() -> None:
    err = UpstreamError("rate_limited", "slow down", provider="p", retry_after=2.5)
    assert err.status == 429 and err.retryable and err.retry_after == 2.5
    assert err.code == "rate_limited" and err.kind == "rate_limit_error"
    assert not UpstreamError("content_filter", "no").retryable
    assert UpstreamError("auth", "bad upstream key").status == 502  # not the caller's fault


def test_client_errors_have_their_statuses() -> None:
    assert [
        e("x").status
        for e in (BadRequest, PayloadTooLarge, AuthenticationFailed, PermissionDenied, NotFound)
    ] == [400, 413, 401, 403, 404]
