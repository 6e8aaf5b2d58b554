"""Fault effects at the adapter level, and the gateway's own fault injector.

The same ``Fault`` records that ``llmgw mock serve`` acts out on the wire are acted out here as
the ``UpstreamError`` an HTTP adapter would raise for them. The in-process mock provider uses
this, and so does ``FaultInjector``: ``llmgw chaos inject`` puts a fault on any deployment of a
running gateway (real providers included) for a bounded time.

=============== ==============================================================
fault           what the gateway sees
=============== ==============================================================
outage          ``overloaded`` (an upstream answering 503)
status N        ``UpstreamError(classify_status(N))``
rate_limit      ``rate_limited`` with ``retry_after``
reset           ``connection``
no_response     ``timeout`` after ``seconds`` (the gateway's own timeouts usually fire first)
stall           the stream pauses ``seconds`` after ``after_tokens`` tokens
cut, malformed  ``connection`` / ``server_error`` after ``after_tokens`` tokens
context_length  ``context_length_exceeded``
content_filter  ``content_filter`` (the injector) / an empty filtered answer (the mock)
=============== ==============================================================
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import AsyncGenerator, Awaitable
from dataclasses import dataclass
from typing import Any

from llmgw.errors import UpstreamError, classify_status
from llmgw.mock.faults import STREAM_KINDS, Fault
from llmgw.providers.base import Provider
from llmgw.types import ChatRequest, ChatResponse, Chunk


def fault_error(provider: str, error_class: Any, message: str, **kw: Any) -> UpstreamError:
    return UpstreamError(error_class, f"{provider}: {message}", provider=provider, **kw)


async def request_fault(fault: Fault, provider: str) -> Fault | None:
    """Raise what a request-level fault produces; return the fault if it acts on the stream."""
    kind = fault.kind
    if kind == "status":
        status = fault.http_status
        if status < 400:
            return None
        raise fault_error(
            provider, classify_status(status), f"injected status {status}", upstream_status=status
        )
    if kind == "rate_limit":
        raise fault_error(
            provider,
            "rate_limited",
            "injected rate limit",
            upstream_status=429,
            retry_after=fault.retry_after_s,
        )
    if kind == "reset":
        raise fault_error(provider, "connection", "connection reset (injected)")
    if kind == "no_response":
        await asyncio.sleep(fault.wait_s)
        raise fault_error(provider, "timeout", f"no response in {fault.wait_s:g}s (injected)")
    if kind == "context_length":
        raise fault_error(
            provider,
            "context_length_exceeded",
            "prompt is longer than the context window (injected)",
            upstream_status=400,
        )
    return fault


async def strike(fault: Fault, provider: str) -> None:
    """What a stream-level fault does once its token count is reached."""
    if fault.kind == "stall":
        await asyncio.sleep(fault.wait_s)
    elif fault.kind == "cut":
        raise fault_error(provider, "connection", "stream ended before the answer was complete")
    elif fault.kind == "malformed":
        raise fault_error(provider, "server_error", "malformed stream chunk")


@dataclass(slots=True)
class Injected:
    id: str
    deployment: str  # a deployment id or "*"
    fault: Fault
    until: float  # wall-clock time it ends

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deployment": self.deployment,
            **self.fault.to_dict(),
            "until": self.until,
            "remaining_s": max(0.0, round(self.until - time.time(), 3)),
        }


class FaultInjector:
    """Faults put on deployments of a running gateway, each for a bounded time."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._faults: dict[str, Injected] = {}
        self._ids = itertools.count(1)
        self._rng = rng or random.Random()

    def add(self, deployment: str, fault: Fault, for_s: float) -> Injected:
        entry = Injected(f"fault-{next(self._ids)}", deployment, fault, time.time() + for_s)
        self._faults[entry.id] = entry
        return entry

    def remove(self, fault_id: str) -> bool:
        return self._faults.pop(fault_id, None) is not None

    def clear(self) -> int:
        n = len(self._faults)
        self._faults.clear()
        return n

    def active(self) -> list[Injected]:
        now = time.time()
        for key in [k for k, f in self._faults.items() if f.until <= now]:
            del self._faults[key]
        return list(self._faults.values())

    @property
    def armed(self) -> bool:
        """Any fault injected (cheap: checked on every call)."""
        return bool(self._faults)

    def pick(self, deployment: str) -> Fault | None:
        """The fault striking this call on ``deployment`` (exact id beats ``*``), if any."""
        if not self._faults:
            return None
        chosen: Injected | None = None
        for entry in self.active():
            if entry.deployment == deployment or (entry.deployment == "*" and chosen is None):
                chosen = entry
        if chosen is None:
            return None
        fault = chosen.fault
        if fault.probability < 1.0 and self._rng.random() >= fault.probability:
            return None
        return fault


class FaultyProvider:
    """A provider with the injector's faults in front of it (only while any are active)."""

    def __init__(self, inner: Provider, injector: FaultInjector) -> None:
        self.inner = inner
        self.name = inner.name
        self.kind = inner.kind
        self._injector = injector

    def complete(self, req: ChatRequest) -> Awaitable[ChatResponse]:
        """The inner provider's own coroutine unless a fault is armed (no extra frame)."""
        if not self._injector.armed:
            return self.inner.complete(req)
        return self._complete_with_faults(req)

    async def _complete_with_faults(self, req: ChatRequest) -> ChatResponse:
        fault = self._injector.pick(f"{self.name}/{req.model}")
        if fault is not None:
            fault = await request_fault(fault, self.name)
            if fault is not None and fault.kind == "content_filter":
                raise fault_error(self.name, "content_filter", "blocked by the content filter")
            if fault is not None and fault.kind in ("cut", "malformed"):
                await strike(fault, self.name)
            if fault is not None and fault.kind == "stall":
                await asyncio.sleep(fault.wait_s)
        return await self.inner.complete(req)

    def stream(self, req: ChatRequest) -> AsyncGenerator[list[Chunk], None]:
        if not self._injector.armed:
            return self.inner.stream(req)
        return self._stream_with_faults(req)

    async def _stream_with_faults(self, req: ChatRequest) -> AsyncGenerator[list[Chunk], None]:
        fault = self._injector.pick(f"{self.name}/{req.model}")
        if fault is not None:
            fault = await request_fault(fault, self.name)
            if fault is not None and fault.kind == "content_filter":
                raise fault_error(self.name, "content_filter", "blocked by the content filter")
        pending = fault if fault is not None and fault.kind in STREAM_KINDS else None
        tokens = 0
        async for batch in self.inner.stream(req):
            if pending is None:
                yield batch
                continue
            out: list[Chunk] = []
            for chunk in batch:
                token = bool(chunk.text or chunk.tool_calls)
                if pending is not None and pending.strikes_now(token, tokens):
                    if out:
                        yield out
                        out = []
                    await strike(pending, self.name)
                    pending = None
                tokens += token
                out.append(chunk)
            if out:
                yield out

    async def aclose(self) -> None:
        await self.inner.aclose()
