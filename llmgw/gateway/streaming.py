"""Streamed calls: fail over until the first chunk, then relay chunks as they arrive.

Response headers are held back until a deployment has produced its first chunk, so an upstream
that fails before answering is replaced transparently. After that, an upstream failure ends the
stream with an in-band error event in the caller's format: a broken stream never looks like a
complete answer. A client that disconnects stops the upstream call at once; the call is recorded
as ``aborted`` with the tokens produced so far.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import orjson

from llmgw.errors import UpstreamError
from llmgw.gateway.asgi import SSE_HEADERS, Receive, Scope, Send
from llmgw.gateway.calls import (
    Call,
    admitted_tokens,
    estimate_usage,
    note_attempt,
    price_of,
    record,
    remember,
    served_by,
)
from llmgw.gateway.resume import Source, combined, resume
from llmgw.gateway.route import AtCapacity, Hop, Route
from llmgw.gateway.runtime import Gateway
from llmgw.routing.policy import RoutePlan
from llmgw.types import ChatResponse, Chunk, StreamMeta, ToolCallDelta, Usage


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


async def stream_call(
    gw: Gateway, call: Call, plan: RoutePlan, scope: Scope, receive: Receive, send: Send
) -> None:
    req = call.request
    assert req is not None
    timeouts = gw.settings.routing.timeouts
    route = Route.start(gw, plan)
    err: UpstreamError | None = None
    while (hop := await route.next(err)) is not None:
        started = time.perf_counter()
        held = contextlib.AsyncExitStack()  # the deployment's capacity, held for the stream
        chunks = hop.provider.stream(req.with_model(hop.deployment.model))
        try:
            await held.enter_async_context(
                hop.slot(gw, call.tenant, call.weight, admitted_tokens(call))
            )
            first = await first_content(chunks, route.remaining(timeouts.ttft_s), hop)
        except AtCapacity as exc:  # our own gate: no judgement on the upstream
            hop.abandoned()
            note_attempt(call, hop.deployment, hop.provider, started, exc)
            err = exc
            continue
        except UpstreamError as exc:
            err = exc
        except BaseException:
            hop.abandoned()
            await chunks.aclose()
            await held.aclose()
            raise
        else:
            note_attempt(call, hop.deployment, hop.provider, started, None)
            served_by(call, hop, plan)
            call.ttft_ms = call.elapsed_ms()
            async with held:
                await relay(gw, call, route, hop, started, first, chunks, receive, send)
            return
        await chunks.aclose()
        await held.aclose()
        hop.failed(err, time.perf_counter() - started)
        note_attempt(call, hop.deployment, hop.provider, started, err)
    raise route.exhausted_error(err)


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


async def relay(
    gw: Gateway,
    call: Call,
    route: Route,
    hop: Hop,
    started: float,
    first: list[Chunk],
    chunks: AsyncIterator[list[Chunk]],
    receive: Receive,
    send: Send,
) -> None:
    """Send the stream to the client; the one place a streamed call is settled and recorded."""
    req = call.request
    assert req is not None and call.deployment is not None
    answer = Assembled()
    encoder = call.codec.StreamEncoder(
        StreamMeta(
            id=call.request_id,
            model=call.deployment.model,
            created=int(call.ts),
            # only the Anthropic format announces input tokens before the first chunk
            input_tokens=estimate_usage(call, "", None).input_tokens
            if call.api == "anthropic"
            else 0,
        ),
        req.include_usage,
    )
    await send(
        {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *call.headers()]}
    )
    outcome, error = "ok", None

    def encode(batch: list[Chunk]) -> bytes:
        out = []
        for chunk in batch:
            if chunk.usage is not None and answer.carry is not None:
                chunk = Chunk(
                    chunk.text,
                    chunk.tool_calls,
                    chunk.finish_reason,
                    combined(answer.carry, chunk.usage),
                )
            answer.add(chunk)
            out.append(encoder.feed(chunk))
        return b"".join(out)

    timeouts = gw.settings.routing.timeouts
    src = Source(hop, chunks, started)

    async def pump() -> None:
        await send_body(send, encoder.start() + encode(first))
        while True:
            try:
                batch = await next_batch(src, route.remaining(timeouts.idle_s))
            except StopAsyncIteration:
                return
            except UpstreamError as err:
                if answer.tool_calls or not gw.settings.routing.stream_resume:
                    raise
                answer.carry = estimate_usage(call, answer.text, None)
                resumed = await resume(call, route, src, err, answer.text, timeouts.ttft_s)
                if resumed is None:
                    src.hop = None  # already judged failed by resume()
                    raise
                new_src, batch = resumed
                src.hop, src.chunks, src.started = new_src.hop, new_src.chunks, new_src.started
            data = encode(batch)
            if data:
                await send_body(send, data)

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(wait_disconnect(receive))
    try:
        await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
        if not pumping.done():  # the client left first
            pumping.cancel()
            outcome = "aborted"
            await asyncio.gather(pumping, return_exceptions=True)
        else:
            exc = pumping.exception()
            if isinstance(exc, UpstreamError):
                outcome, error = "error", exc
                await send_body(send, encoder.error(exc), more=False)
            elif exc is not None:
                raise exc
            else:
                tail = b""
                if answer.usage is None:  # the upstream reported none: count what was produced
                    answer.usage = estimate_usage(call, answer.text, answer.tool_list())
                    tail = encoder.feed(Chunk(usage=answer.usage))
                await send_body(send, tail + encoder.finish(), more=False)
    finally:
        watching.cancel()
        await src.chunks.aclose()  # type: ignore[attr-defined]
        latency = time.perf_counter() - src.started
        if src.hop is None:  # the break was already judged while trying to resume
            pass
        elif error is not None:  # broken mid-answer: the deployment failed this call
            src.hop.failed(error, latency)
            call.attempt_log[-1]["error_class"] = error.error_class
        else:
            src.hop.succeeded(latency, (call.ttft_ms or 0.0) / 1000.0)
        settle_stream(gw, call, answer)
        record(gw, call, status=200, outcome=outcome, error=error)
        remember(
            gw,
            call,
            answer.text,
            answer.finish_reason,
            bool(answer.tool_calls),
            resumed=answer.carry is not None,
        )


async def next_batch(src: Source, wait_s: float) -> list[Chunk]:
    """The source's next batch; a silence longer than ``wait_s`` is a ``timeout`` failure."""
    try:
        async with asyncio.timeout(wait_s):
            return await anext(src.chunks)
    except TimeoutError:
        name = src.hop.provider.name if src.hop else "upstream"
        raise UpstreamError(
            "timeout", f"{name}: stream stalled (no chunk for {wait_s:.3g}s)", provider=name
        ) from None


async def send_body(send: Send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def settle_stream(gw: Gateway, call: Call, answer: Assembled) -> None:
    """Usage from the provider when it reported it, else counted from what was produced."""
    usage = answer.usage
    if usage is None or (usage.input_tokens == 0 and usage.output_tokens == 0):
        usage = estimate_usage(call, answer.text, answer.tool_list())  # type: ignore[arg-type]
    call.usage = usage
    call.cost_nanos = price_of(gw, call, usage)
    if call.retention != "metadata":  # "redacted" bodies are redacted by the writer
        resp = ChatResponse(
            id=call.request_id,
            model=call.deployment.model if call.deployment else "",
            content=answer.text or None,
            finish_reason=answer.finish_reason or "stop",  # type: ignore[arg-type]
            tool_calls=answer.tool_list(),  # type: ignore[arg-type]
            usage=usage,
            created=int(call.ts),
        )
        call.response_body = orjson.dumps(call.codec.encode_response(resp)).decode()
