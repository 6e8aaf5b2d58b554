"""Streamed calls: fail over until the first chunk, then relay chunks as they arrive.

Response headers are held back until a deployment has produced its first chunk, so an upstream
that fails before answering is replaced transparently. After that, an upstream failure resumes
the answer on another deployment where one can continue it (``llmgw.gateway.resume``), else
ends the stream with an in-band error event in the caller's format: a broken stream never
looks like a complete answer. A client that disconnects stops the upstream call at once; the
call is recorded as ``aborted`` with the tokens produced so far.

The attempt that produces the relayed chunks is an open ``Lease`` for the whole stream: its
deployment slot, breaker admission and in-flight count are given back in ``relay``'s
``finally``, however the stream ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from llmgw.errors import GatewayError, InternalError, UpstreamError
from llmgw.gateway.asgi import SSE_HEADERS, ClientGone, Receive, Send
from llmgw.gateway.call import (
    Call,
    estimate_usage,
    record,
    record_durable,
    remember,
    settle,
)
from llmgw.gateway.resume import combined, resume
from llmgw.gateway.runtime import Gateway
from llmgw.gateway.stream_parts import (
    Assembled,
    ClientTooSlow,
    Source,
    Writer,
    aclose,
    next_batch,
    open_stream,
    shutting_down,
    wait_disconnect,
)
from llmgw.jsontext import dumps_text
from llmgw.routing.attempts import attempt
from llmgw.routing.policy import RoutePlan
from llmgw.routing.route import Hop, Route
from llmgw.types import ChatResponse, Chunk, Outcome, StreamMeta
from llmgw.wire.codec import StreamEncoder

log = logging.getLogger("llmgw.gateway")


async def stream_call(
    gw: Gateway, call: Call, plan: RoutePlan, receive: Receive, send: Send
) -> None:
    req = call.request
    assert req is not None
    ttft_s = gw.settings.routing.timeouts.ttft_s
    route = Route.start(gw.routing, plan)

    async def work(hop: Hop) -> tuple[AsyncIterator[list[Chunk]], list[Chunk]]:
        return await open_stream(hop, req.with_model(hop.deployment.model), route.remaining(ttft_s))

    lease, (chunks, first) = await attempt(
        route,
        work,
        tenant=call.tenant,
        weight=call.weight,
        tokens=call.admitted_tokens(),
        note=call.note_attempt,
    )
    src = Source(lease, chunks)
    try:
        call.served_by(lease.hop, plan)
        call.ttft_ms = call.elapsed_ms()
    except BaseException:
        await lease.close()
        await aclose(src.chunks)
        raise
    await relay(gw, call, route, src, first, receive, send)


async def relay(
    gw: Gateway,
    call: Call,
    route: Route,
    src: Source,
    first: list[Chunk],
    receive: Receive,
    send: Send,
) -> None:
    """Send the stream to the client; the one place a streamed call is settled and recorded.

    However the stream ends — answered, broken upstream, client gone, client too slow to read
    (``server.write_timeout_s``), the gateway stopping past its drain time, or a bug — the
    upstream stream is closed, the attempt's lease ended, the call billed for what was
    produced and recorded once.
    """
    req = call.request
    assert req is not None and call.deployment is not None
    answer = Assembled()
    outcome: Outcome = "ok"
    error: GatewayError | None = None
    out = Writer(send, gw.settings.server.write_timeout_s)
    encoder: StreamEncoder | None = None
    try:
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
        await out.start([*SSE_HEADERS, *call.headers()])
        pumping = asyncio.ensure_future(pump(gw, call, route, src, first, answer, encoder, out))
        watching = asyncio.ensure_future(wait_disconnect(receive))
        try:
            await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watching.cancel()
            if not pumping.done():  # the client left first (or we are being cancelled)
                pumping.cancel()
                outcome = "aborted"
                await asyncio.gather(pumping, return_exceptions=True)
        if outcome == "ok":
            exc = pumping.exception()
            if isinstance(exc, ClientTooSlow):
                outcome, error = "aborted", exc.error
            elif isinstance(exc, UpstreamError):
                outcome, error = "error", exc
                await out.body(encoder.error(exc), more=False)
            elif exc is not None:  # a bug: end the stream in-band, keep the row, log the trace
                log.error("relaying %s failed", call.request_id, exc_info=exc)
                outcome = "error"
                error = InternalError(
                    f"internal error ({type(exc).__name__}); request id {call.request_id}"
                )
                await out.body(encoder.error(error), more=False)
            else:
                tail = b""
                if answer.usage is None:  # the upstream reported none: count what was produced
                    answer.usage = estimate_usage(call, answer.text, answer.tool_list())
                    tail = encoder.feed(Chunk(usage=answer.usage))
                await commit_before_end(gw, call, answer, encoder, out)  # strict: row first
                await out.body(tail + encoder.finish(), more=False)
    except ClientTooSlow as slow:  # a final write stalled
        outcome, error = "aborted", slow.error
    except BaseException as exc:
        if isinstance(exc, asyncio.CancelledError) and outcome in ("ok", "aborted"):
            # the server stops past its drain time: say so in-band, bill what was delivered
            outcome, error = "aborted", shutting_down()
            if encoder is not None and out.started:
                await out.last_words(encoder.error(error))
        elif outcome == "ok" and error is None:  # escaped before the stream's end was judged
            if isinstance(exc, ClientGone):
                outcome = "aborted"
            else:
                outcome = "error"
                error = InternalError(f"internal error ({type(exc).__name__})")
        raise
    finally:
        await aclose(src.chunks)
        lease = src.lease
        if isinstance(error, UpstreamError):
            if lease.open:  # broken mid-answer (not already judged while trying to resume)
                lease.failed(error)
                call.attempt_log[-1]["error_class"] = error.error_class
        elif outcome in ("ok", "aborted"):  # the upstream was fine; the client side ended it
            lease.succeeded((call.ttft_ms or 0.0) / 1000.0)
        await lease.close()  # abandoned if not judged above; the slot goes back
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


async def pump(
    gw: Gateway,
    call: Call,
    route: Route,
    src: Source,
    first: list[Chunk],
    answer: Assembled,
    encoder: StreamEncoder,
    out: Writer,
) -> None:
    """Relay batches until the upstream ends; a break resumes where a deployment can."""
    timeouts = gw.settings.routing.timeouts

    def encode(batch: list[Chunk]) -> bytes:
        pieces = []
        for chunk in batch:
            if chunk.usage is not None and answer.carry is not None:
                chunk = Chunk(
                    chunk.text,
                    chunk.tool_calls,
                    chunk.finish_reason,
                    combined(answer.carry, chunk.usage),
                )
            answer.add(chunk)
            pieces.append(encoder.feed(chunk))
        return b"".join(pieces)

    await out.body(encoder.start() + encode(first))
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
                raise
            new_src, batch = resumed
            src.lease, src.chunks = new_src.lease, new_src.chunks
        data = encode(batch)
        if data:
            await out.body(data)


async def commit_before_end(
    gw: Gateway, call: Call, answer: Assembled, encoder: StreamEncoder, out: Writer
) -> None:
    """Settle and record a stream that ended well, before its final event is sent; with
    ``[audit] durability = "strict"``, wait until the row is committed. If it cannot be, the
    stream ends with an in-band error instead of its final event, and ``InternalError`` is
    raised. ``relay``'s ``finally`` then finds the call settled and recorded."""
    settle_stream(gw, call, answer)
    try:
        await record_durable(gw, call, status=200, outcome="ok", error=None)
    except InternalError as err:
        await out.body(encoder.error(err), more=False)
        raise


def settle_stream(gw: Gateway, call: Call, answer: Assembled) -> None:
    """Usage from the provider when it reported it, else counted from what was produced.

    Nothing to do once the call is recorded (``commit_before_end`` settled it already)."""
    if call.recorded:
        return
    usage = settle(gw, call, answer.usage, answer.text, answer.tool_list())
    if call.retention != "metadata":  # "redacted" bodies are redacted by the writer
        resp = ChatResponse(
            id=call.request_id,
            model=call.deployment.model if call.deployment else "",
            content=answer.text or None,
            finish_reason=answer.finish_reason or "stop",  # type: ignore[arg-type]
            tool_calls=answer.tool_list(),
            usage=usage,
            created=int(call.ts),
        )
        call.response_body = dumps_text(call.codec.encode_response(resp))
