"""The audit record: one row per call the gateway answered, whatever the outcome.

``AuditRecord`` is built on the event loop at the end of a call and handed to
``llmgw.audit.writer.AuditWriter``; the writer thread turns it into an ``audit_log`` row with
``to_row`` (column order in ``COLUMNS``). Almost every field has a default so that a rejection
(no key, no provider, no usage) is a short constructor call.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, get_args

import orjson

from llmgw.errors import GatewayError, UpstreamError
from llmgw.types import Outcome, Retention

OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)  # ok, degraded, error, rejected, aborted

# Crockford base32 (no I, L, O, U; sorts in the same order as the value), two digits at a time
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS: tuple[str, ...] = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_SHIFTS: tuple[int, ...] = tuple(range(110, -1, -10))
# Request ids must be unique, not secret: a seeded PRNG is 10x cheaper than os.urandom.
_random_bits = random.Random().getrandbits  # seeded from os.urandom once


def new_request_id() -> str:
    """A unique, time-ordered request id: ``req_`` + 26 Crockford base32 characters.

    ULID layout: 48 bits of unix milliseconds then 80 random bits, written as 26 base32
    digits (130 bits, the top two zero), ten bits per table lookup. About 2 µs.
    """
    value = (time.time_ns() // 1_000_000) << 80 | _random_bits(80)
    pairs = _PAIRS
    return "req_" + pairs[value >> 120] + "".join([pairs[(value >> s) & 1023] for s in _SHIFTS])


@dataclass(slots=True, frozen=True)
class AuditRecord:
    """One call on the record.

    ``attempt_log`` holds one dict per upstream attempt: ``provider``, ``model``,
    ``error_class`` (None on success), ``status`` and ``latency_ms``. ``cost_nanos`` is in
    units of 1e-9 USD. ``request_body`` / ``response_body`` are JSON text, or None when the
    tenant's ``retention`` keeps metadata only.
    """

    id: str = field(default_factory=new_request_id)
    ts: float = field(default_factory=time.time)
    tenant: str = ""
    key_id: str | None = None
    api: str | None = None
    requested_model: str | None = None
    provider: str | None = None
    served_model: str | None = None
    attempts: int = 0
    attempt_log: tuple[dict[str, Any], ...] = ()
    status: int = 200
    outcome: Outcome = "ok"
    error_class: str | None = None
    error_message: str | None = None
    ttft_ms: float | None = None
    latency_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    usage_estimated: bool = False
    cost_nanos: int = 0
    stream: bool = False
    request_body: str | None = None
    response_body: str | None = None
    retention: Retention = "full"

    def to_row(self) -> tuple[Any, ...]:
        """The ``audit_log`` values in ``COLUMNS`` order (JSON attempt log, bools as 0/1)."""
        return (
            self.id,
            self.ts,
            self.tenant,
            self.key_id,
            self.api,
            self.requested_model,
            self.provider,
            self.served_model,
            self.attempts,
            orjson.dumps(list(self.attempt_log)).decode(),
            self.status,
            self.outcome,
            self.error_class,
            self.error_message,
            self.ttft_ms,
            self.latency_ms,
            self.input_tokens,
            self.output_tokens,
            self.cached_tokens,
            int(self.usage_estimated),
            int(self.cost_nanos),
            int(self.stream),
            self.request_body,
            self.response_body,
            self.retention,
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AuditRecord:
        """Rebuild a record from an ``audit_log`` row (as a dict; extra keys are ignored)."""
        log = row.get("attempt_log") or "[]"
        if isinstance(log, str):
            log = orjson.loads(log)
        values = {name: row[name] for name in COLUMNS if name in row}
        values["attempt_log"] = tuple(log)
        values["usage_estimated"] = bool(row.get("usage_estimated"))
        values["stream"] = bool(row.get("stream"))
        return cls(**values)


def error_text(error: GatewayError | None, retention: str) -> str | None:
    """A call's ``error_message`` under the tenant's ``retention``.

    ``"metadata"`` keeps no upstream text: an upstream failure is recorded as its provider,
    status and class only (``UpstreamError.summary``); the gateway's own messages stay. Other
    retentions keep the message, whose secrets ``UpstreamError`` has already redacted; the
    writer also runs a ``"redacted"`` row's message through the audit redactor.
    """
    if error is None:
        return None
    if retention == "metadata" and isinstance(error, UpstreamError):
        return error.summary
    return error.message


COLUMNS: tuple[str, ...] = (
    "id",
    "ts",
    "tenant",
    "key_id",
    "api",
    "requested_model",
    "provider",
    "served_model",
    "attempts",
    "attempt_log",
    "status",
    "outcome",
    "error_class",
    "error_message",
    "ttft_ms",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "usage_estimated",
    "cost_nanos",
    "stream",
    "request_body",
    "response_body",
    "retention",
)

INSERT_SQL = (
    f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
)
