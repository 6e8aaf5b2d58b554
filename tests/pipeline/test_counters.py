"""Every slot, probe and in-flight count an attempt takes is returned on every path.

A failure or a cancellation is injected at each step of an attempt — backing off before a
retry, waiting in a deployment's fair queue, sending, waiting for the first token, relaying,
and in the gateway's own code — with the deployment's breaker closed or half-open (a probe
out). Afterwards every counter the attempt loop touches must be back to zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmgw.errors import UpstreamError
from llmgw.providers.mock_transport import MockRequest, MockResponse, sse_event
from tests.pipeline.harness import (
    ZERO,
    Harness,
    chunk,
    completion,
    config,
    error,
    sync,
    usage_chunk,
)

PLAIN = {"model": "chat", "messages": [{"role": "user", "content": "Say hello."}]}
STREAM = {**PLAIN, "stream": True}
ONE = [{"provider": "a", "model": "up-a", "max_concurrency": 1}]


class Upstream:
    """A scripted upstream whose behaviour a test picks; ``reached`` is set once per request."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.reached = asyncio.Event()
        self.calls = 0

    async def __call__(self, request: MockRequest) -> MockResponse:
        self.calls += 1
        self.reached.set()
        b = self.behaviour
        if b == "connect_error":
            raise UpstreamError("connection", "a: cannot connect", provider="a")
        if b == "status_500":
            return error(500)
        if b == "retry_after":
            return MockResponse.json({"error": {"message": "slow down"}}, 429, {"retry-after": "2"})
        if b == "hang":
            await asyncio.sleep(3600)
        if not request.json().get("stream"):
            if b == "slow_plain":
                await asyncio.sleep(0.3)
            return MockResponse.json(completion())
        return MockResponse(200, {"content-type": "text/event-stream"}, self._pieces(b))

    async def _pieces(self, b: str) -> Any:
        if b == "silent_stream":
            await asyncio.sleep(3600)
        if b == "break_before_content":
            raise UpstreamError("connection", "a: closed", provider="a")
        yield sse_event(chunk("Hello"))
        if b == "break_after_content":
            raise UpstreamError("connection", "a: closed mid-answer", provider="a")
        for i in range(50 if b == "long_stream" else 1):
            await asyncio.sleep(0.02 if b == "long_stream" else 0)
            yield sse_event(chunk(f" w{i}"))
        yield sse_event(chunk(finish="stop"))
        yield sse_event(usage_chunk())
        yield sse_event("[DONE]")


def half_open(h: Harness) -> None:
    """Put deployment a's breaker in half-open: the next attempt on it is a probe."""
    h.gw.breakers.get("a/up-a").restore(
        {"state": "half_open", "opened_at": time.time() - 60, "cooldown_s": 1.0}
    )


async def finished(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await task


# (upstream behaviour, body, cancel once the upstream is reached?)
FAILURES = [
    ("connect_error", PLAIN, False),
    ("status_500", PLAIN, False),
    ("connect_error", STREAM, False),
    ("status_500", STREAM, False),
    ("break_before_content", STREAM, False),
    ("break_after_content", STREAM, False),
    ("ok", PLAIN, False),
    ("ok", STREAM, False),
    ("hang", PLAIN, True),
    ("silent_stream", STREAM, True),
    ("long_stream", STREAM, True),
]


@pytest.mark.parametrize("probe", [False, True], ids=["closed", "half-open"])
@pytest.mark.parametrize(("behaviour", "body", "cancel"), FAILURES)
@sync
async def test_counters_return_to_zero(
    tmp_path: Path, behaviour: str, body: dict[str, Any], cancel: bool, probe: bool
) -> None:
    upstream = Upstream(behaviour)
    async with Harness(tmp_path, config(ONE), upstream) as h:
        if probe:
            half_open(h)
        task = asyncio.ensure_future(h.chat(body))
        if cancel:
            await asyncio.wait_for(upstream.reached.wait(), 5)
            await asyncio.sleep(0.05)
            task.cancel()
        await finished(task)
        assert h.counters() == ZERO
        rows = await h.rows()
    assert len(rows) == 1  # exactly one row, however the call ended


@sync
async def test_cancelled_while_backing_off_before_a_retry(tmp_path: Path) -> None:
    upstream = Upstream("retry_after")
    async with Harness(tmp_path, config(ONE), upstream) as h:
        half_open(h)
        task = asyncio.ensure_future(h.chat(PLAIN))
        await asyncio.wait_for(upstream.reached.wait(), 5)
        await asyncio.sleep(0.2)  # the route now sleeps out the Retry-After before a retry
        assert upstream.calls == 1
        task.cancel()
        await finished(task)
        assert h.counters() == ZERO


@sync
async def test_cancelled_while_queued_for_a_deployment_slot(tmp_path: Path) -> None:
    upstream = Upstream("slow_plain")
    async with Harness(tmp_path, config(ONE), upstream) as h:
        holder = asyncio.ensure_future(h.chat(PLAIN))
        await asyncio.wait_for(upstream.reached.wait(), 5)
        waiter = asyncio.ensure_future(h.chat(PLAIN))
        await asyncio.sleep(0.05)
        assert h.counters()["slots"] == 2  # one held, one queued
        waiter.cancel()
        await finished(waiter)
        first = await holder
        assert first.status == 200
        assert h.counters() == ZERO


@pytest.mark.parametrize("where", ["encoder_start", "encoder_feed"])
@sync
async def test_a_bug_while_relaying_still_returns_everything(tmp_path: Path, where: str) -> None:
    from llmgw.wire.openai.stream import OpenAIStreamEncoder

    upstream = Upstream("ok")
    async with Harness(tmp_path, config(ONE), upstream) as h:
        original: Callable[..., Any] = getattr(
            OpenAIStreamEncoder, "start" if where == "encoder_start" else "feed"
        )

        def broken(self: Any, *args: Any) -> Any:
            raise ValueError("a bug")

        name = "start" if where == "encoder_start" else "feed"
        setattr(OpenAIStreamEncoder, name, broken)
        try:
            reply = await h.chat(STREAM)
        finally:
            setattr(OpenAIStreamEncoder, name, original)
        assert h.counters() == ZERO
        rows = await h.rows()
    assert reply.status == 200  # headers were out before the bug struck
    (row,) = rows
    assert row["outcome"] == "error"
