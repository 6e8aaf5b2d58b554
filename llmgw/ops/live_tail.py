"""The live call tail: body-free call lines and SSE subscribers that never block."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, NamedTuple

from llmgw.audit.record import AuditRecord
from llmgw.settings.tenancy import in_subtree

SUBSCRIBER_QUEUE = 512  # events buffered per SSE subscriber before the oldest are dropped


class Subscriber:
    """One SSE listener: a bounded queue that drops its oldest events when full (and counts
    them), so a slow reader never holds up ``observe``."""

    __slots__ = ("closed", "missed", "queue", "tenant", "wake")

    def __init__(self, tenant: str | None, size: int = SUBSCRIBER_QUEUE) -> None:
        self.tenant = tenant
        self.queue: deque[dict[str, Any]] = deque(maxlen=size)
        self.missed = 0
        self.closed = False
        self.wake = asyncio.Event()

    def offer(self, event: dict[str, Any]) -> None:
        if self.tenant is not None and not in_subtree(event["tenant"], self.tenant):
            return
        if len(self.queue) == self.queue.maxlen:
            self.missed += 1
        self.queue.append(event)
        self.wake.set()

    def drain(self) -> tuple[list[dict[str, Any]], int]:
        """The queued events and how many were dropped since the last drain."""
        items = list(self.queue)
        self.queue.clear()
        missed, self.missed = self.missed, 0
        self.wake.clear()
        return items, missed

    def close(self) -> None:
        self.closed = True
        self.wake.set()


MODEL_CHARS = 200  # a requested model name is kept up to this many characters


class CallLine(NamedTuple):
    """What the live views keep of one finished call: its summary fields and nothing else.

    Never a body, an error message or the attempt log, so a ring of these costs a few hundred
    bytes per call whatever the call carried (the audit writer alone holds a call's bodies,
    until they are committed). The requested model is the one free-form string a caller
    controls; it is cut to ``MODEL_CHARS``.
    """

    id: str
    ts: float
    tenant: str
    api: str | None
    model: str | None
    provider: str | None
    served_model: str | None
    status: int
    outcome: str
    error_class: str | None
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_nanos: int
    stream: bool
    attempts: int

    @classmethod
    def of(cls, rec: AuditRecord) -> CallLine:
        model = rec.requested_model
        if model is not None and len(model) > MODEL_CHARS:
            model = model[:MODEL_CHARS] + "…"
        return tuple.__new__(  # 4x cheaper than cls(...): this runs once per call
            cls,
            (
                rec.id,
                rec.ts,
                rec.tenant,
                rec.api,
                model,
                rec.provider,
                rec.served_model,
                rec.status,
                rec.outcome,
                rec.error_class,
                rec.latency_ms,
                rec.ttft_ms,
                rec.input_tokens,
                rec.output_tokens,
                rec.cached_tokens,
                rec.cost_nanos,
                rec.stream,
                rec.attempts,
            ),
        )

    def summary(self) -> dict[str, Any]:
        """The body-free view of a call used by the tail, the SSE stream and the tenant views."""
        return {
            "id": self.id,
            "ts": self.ts,
            "tenant": self.tenant,
            "api": self.api,
            "model": self.model,
            "provider": self.provider,
            "served_model": self.served_model,
            "status": self.status,
            "outcome": self.outcome,
            "error_class": self.error_class,
            "latency_ms": self.latency_ms,
            "ttft_ms": self.ttft_ms,
            "tokens": {
                "input": self.input_tokens,
                "output": self.output_tokens,
                "cached": self.cached_tokens,
            },
            "cost_nanos": self.cost_nanos,
            "stream": self.stream,
            "attempts": self.attempts,
        }


def call_summary(rec: AuditRecord) -> dict[str, Any]:
    """The summary of ``rec`` (see ``CallLine.summary``)."""
    return CallLine.of(rec).summary()
