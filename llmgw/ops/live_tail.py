"""The live call tail: body-free call summaries and SSE subscribers that never block."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

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


def call_summary(rec: AuditRecord) -> dict[str, Any]:
    """The body-free view of a call used by the tail, the SSE stream and the tenant views."""
    return {
        "id": rec.id,
        "ts": rec.ts,
        "tenant": rec.tenant,
        "api": rec.api,
        "model": rec.requested_model,
        "provider": rec.provider,
        "served_model": rec.served_model,
        "status": rec.status,
        "outcome": rec.outcome,
        "error_class": rec.error_class,
        "latency_ms": rec.latency_ms,
        "ttft_ms": rec.ttft_ms,
        "tokens": {
            "input": rec.input_tokens,
            "output": rec.output_tokens,
            "cached": rec.cached_tokens,
        },
        "cost_nanos": rec.cost_nanos,
        "stream": rec.stream,
        "attempts": rec.attempts,
    }
