"""Clients that stop reading, and a gateway that stops past its drain time: the stream is
ended, the upstream closed, every slot returned, the call billed for what was produced and
recorded as ``aborted`` with real tokens."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from llmgw.providers.mock_transport import MockRequest, MockResponse, sse_event
from tests.pipeline.harness import ZERO, Harness, chunk, config, sync

STREAM = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "Go on."}]}
ONE = [{"provider": "a", "model": "up-a", "max_concurrency": 2}]


def endless(stopped: asyncio.Event) -> Any:
    def handler(request: MockRequest) -> MockResponse:
        async def pieces() -> Any:
            try:
                for i in range(10_000):
                    yield sse_event(chunk(f"w{i} "))
                    await asyncio.sleep(0.005)
            finally:
                stopped.set()

        return MockResponse(200, {"content-type": "text/event-stream"}, pieces())

    return handler


@sync
async def test_a_client_that_stops_reading_is_cut_off_and_pays_for_what_was_produced(
    tmp_path: Path,
) -> None:
    stopped = asyncio.Event()
    cfg = config(ONE)
    cfg["server"] = {"write_timeout_s": 0.3}
    async with Harness(tmp_path, cfg, endless(stopped)) as h:
        t0 = time.perf_counter()
        reply = await h.chat(STREAM, stall_after=5)
        took = time.perf_counter() - t0
        await asyncio.wait_for(stopped.wait(), 5)  # the upstream call was cancelled
        rows = await h.rows()
        assert h.counters() == ZERO
    assert took < 5
    assert reply.status == 200 and len(reply.chunks) == 5
    (row,) = rows
    assert (row["outcome"], row["error_class"]) == ("aborted", "client_write_timeout")
    assert row["output_tokens"] > 0 and row["cost_nanos"] > 0


@sync
async def test_a_stream_open_at_shutdown_ends_with_an_error_event_and_real_tokens(
    tmp_path: Path,
) -> None:
    stopped = asyncio.Event()
    async with Harness(tmp_path, config(ONE), endless(stopped)) as h:
        seen = asyncio.Event()
        task = asyncio.ensure_future(h.chat(STREAM, disconnect_after=None))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if h.gw.health.get("a/up-a").in_flight:
                seen.set()
                break
        assert seen.is_set()
        await asyncio.sleep(0.2)  # some chunks reach the client
        task.cancel()  # what the server does to calls still open at its drain deadline
        with contextlib.suppress(asyncio.CancelledError):
            await task
        rows = await h.rows()
        assert h.counters() == ZERO
    (row,) = rows
    assert (row["outcome"], row["error_class"]) == ("aborted", "gateway_shutdown")
    assert row["output_tokens"] > 0 and row["cost_nanos"] > 0
