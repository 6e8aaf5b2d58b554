"""Pieces of a streamed answer shared by streaming and resuming: reading and assembling.

``first_content`` waits for a stream's first batch with content (the response waits for it),
``next_batch`` reads on with a stall timeout, and ``Assembled`` keeps the answer as it streams
past (text, tool calls, finish reason, usage) for accounting, the audit row and the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from llmgw.errors import GatewayError, UpstreamError
from llmgw.gateway.asgi import Receive, Send
from llmgw.routing.attempts import Lease
from llmgw.routing.route import Hop
from llmgw.types import ChatRequest, Chunk, ToolCallDelta, Usage


@dataclass(slots=True)
class Source:
    """Where the relayed chunks come from now, and the attempt (lease) that produces them."""

    lease: Lease
    chunks: AsyncIterator[list[Chunk]]

    @property
    def hop(self) -> Hop:
        return self.lease.hop


class Assembled:
    """The answer as it streams past: text, tool calls, finish reason, usage."""

    __slots__ = ("carry", "finish_reason", "parts", "tool_calls", "usage")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.tool_calls: dict[int, dict[str, object]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.carry: Usage | None = None  # what a broken attempt used before a resume

    def add(self, chunk: Chunk) -> None:
        if chunk.text:
            self.parts.append(chunk.text)
        if chunk.tool_calls:
            for delta in chunk.tool_calls:
                self._tool(delta)
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage

    def _tool(self, delta: ToolCallDelta) -> None:
        call = self.tool_calls.get(delta.index)
        if call is None:
            call = self.tool_calls[delta.index] = {
                "id": delta.id or "",
                "type": "function",
                "function": {"name": delta.name or "", "arguments": ""},
            }
        fn = call["function"]
        assert isinstance(fn, dict)
        if delta.id:
            call["id"] = delta.id
        if delta.name:
            fn["name"] = delta.name
        fn["arguments"] += delta.arguments

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def tool_list(self) -> list[dict[str, object]] | None:
        return [self.tool_calls[i] for i in sorted(self.tool_calls)] or None


async def first_content(
    chunks: AsyncIterator[list[Chunk]], timeout_s: float, hop: Hop
) -> list[Chunk]:
    """Batches up to and including the first with content; the response waits for it."""
    got: list[Chunk] = []
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                batch = await anext(chunks)
                got.extend(batch)
                if any(c.text or c.tool_calls or c.finish_reason for c in batch):
                    return got
    except StopAsyncIteration:
        raise UpstreamError(
            "server_error", f"{hop.provider.name}: empty stream", provider=hop.provider.name
        ) from None
    except TimeoutError:
        raise UpstreamError(
            "timeout",
            f"{hop.provider.name}: no first token within {timeout_s:.3g}s",
            provider=hop.provider.name,
        ) from None


async def next_batch(src: Source, wait_s: float) -> list[Chunk]:
    """The source's next batch; a silence longer than ``wait_s`` is a ``timeout`` failure."""
    try:
        async with asyncio.timeout(wait_s):
            return await anext(src.chunks)
    except TimeoutError:
        name = src.hop.provider.name
        raise UpstreamError(
            "timeout", f"{name}: stream stalled (no chunk for {wait_s:.3g}s)", provider=name
        ) from None


class ClientTooSlow(Exception):
    """The client read nothing for ``server.write_timeout_s``: it is cut off."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"client read nothing for {timeout_s:g}s")
        self.error = GatewayError(
            f"the client read nothing for {timeout_s:g}s; the stream was cut off",
            code="client_write_timeout",
        )


def shutting_down() -> GatewayError:
    """The in-band error of a stream cut short because the gateway is stopping."""
    err = GatewayError(
        "the gateway is shutting down; this answer was cut short", code="gateway_shutdown"
    )
    err.status = 503
    err.kind = "api_error"
    return err


class Writer:
    """A streamed response's writes, each bounded by the write timeout.

    The ASGI server holds a ``send`` while the socket's buffers are full, so a client that
    stops reading would otherwise hold its upstream call and every slot for as long as it
    likes. A write that does not complete within ``timeout_s`` raises ``ClientTooSlow``."""

    __slots__ = ("_send", "started", "timeout_s")

    def __init__(self, send: Send, timeout_s: float) -> None:
        self._send = send
        self.timeout_s = timeout_s
        self.started = False

    async def _write(self, message: dict[str, object]) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._send(message)
        except TimeoutError:
            raise ClientTooSlow(self.timeout_s) from None

    async def start(self, headers: list[tuple[bytes, bytes]]) -> None:
        await self._write({"type": "http.response.start", "status": 200, "headers": headers})
        self.started = True

    async def body(self, data: bytes, more: bool = True) -> None:
        await self._write({"type": "http.response.body", "body": data, "more_body": more})

    async def last_words(self, data: bytes, within_s: float = 1.0) -> None:
        """A final event on the way out (shutdown): best effort, briefly, never raising."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(min(within_s, self.timeout_s)):
                await self._send({"type": "http.response.body", "body": data, "more_body": False})


async def wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def aclose(chunks: AsyncIterator[list[Chunk]]) -> None:
    """Close a provider's stream (async generators hold the upstream connection)."""
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


async def open_stream(
    hop: Hop, req: ChatRequest, timeout_s: float
) -> tuple[AsyncIterator[list[Chunk]], list[Chunk]]:
    """Start ``req`` on ``hop`` and wait for its first content; the stream is closed on any
    failure (including cancellation) before the exception propagates."""
    chunks = hop.provider.stream(req)
    try:
        first = await first_content(chunks, timeout_s, hop)
    except BaseException:
        await aclose(chunks)
        raise
    return chunks, first
