"""Non-streamed delivery: one whole answer, through the attempt loop, in the caller's format."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson

from llmgw.errors import UpstreamError
from llmgw.gateway.asgi import JSON_HEADERS, Send, send_bytes
from llmgw.gateway.call import Call, record_durable, remember, settle
from llmgw.gateway.runtime import Gateway
from llmgw.jsontext import dumps
from llmgw.routing.attempts import attempt
from llmgw.routing.policy import RoutePlan
from llmgw.routing.route import Hop, Route
from llmgw.types import ChatResponse, Usage

DEGRADED_MODEL = "llmgw-degraded"


async def plain_call(gw: Gateway, call: Call, plan: RoutePlan, send: Send) -> None:
    req = call.request
    assert req is not None
    route = Route.start(gw.routing, plan)

    async def work(hop: Hop) -> ChatResponse:
        try:
            async with deadline_guard(gw, route, hop):
                return await hop.provider.complete(req.with_model(hop.deployment.model))
        except TimeoutError:
            raise deadline_error(gw, hop) from None

    try:
        lease, resp = await attempt(
            route,
            work,
            tenant=call.tenant,
            weight=call.weight,
            tokens=call.admitted_tokens(),
            note=call.note_attempt,
        )
    except UpstreamError as final:
        if plan.degraded_response is not None and final.retryable:
            await answer_degraded(call, plan, final, send, gw)
            return
        raise
    lease.succeeded()
    await lease.close()
    call.served_by(lease.hop, plan)
    call.ttft_ms = call.elapsed_ms()
    await answer(gw, call, resp, send)


def deadline_guard(gw: Gateway, route: Route, hop: Hop) -> Any:
    """A timeout at the call's deadline, unless the provider's own read timeout (which the
    transport enforces) ends the attempt sooner anyway: one timer less per call."""
    remaining = route.deadline.remaining()
    if remaining > gw.settings.providers[hop.deployment.provider].read_timeout_s:
        return contextlib.nullcontext()
    return asyncio.timeout(remaining)


def deadline_error(gw: Gateway, hop: Hop) -> UpstreamError:
    total = gw.settings.routing.timeouts.total_s
    return UpstreamError(
        "timeout",
        f"{hop.provider.name}: no answer before the call's {total:g}s deadline",
        provider=hop.provider.name,
    )


async def answer(gw: Gateway, call: Call, resp: ChatResponse, send: Send) -> None:
    resp.usage = settle(gw, call, resp.usage, resp.content or "", resp.tool_calls)
    body = dumps(call.codec.encode_response(resp))  # tool arguments of any depth
    if call.retention != "metadata":  # "redacted" bodies are redacted by the writer
        call.response_body = body.decode()
    await record_durable(gw, call, status=200, outcome="ok", error=None)  # strict: committed
    await send_bytes(send, 200, body, JSON_HEADERS, call.headers())
    remember(gw, call, resp.content, resp.finish_reason, bool(resp.tool_calls), resumed=False)


async def answer_degraded(
    call: Call, plan: RoutePlan, cause: UpstreamError, send: Send, gw: Gateway
) -> None:
    """The tenant's configured fallback text, marked as degraded in headers and the record."""
    text = plan.degraded_response or ""
    resp = ChatResponse(
        id=call.request_id, model=DEGRADED_MODEL, content=text, created=int(call.ts)
    )
    call.usage = Usage()
    body = orjson.dumps(call.codec.encode_response(resp))
    if call.retention != "metadata":  # "redacted" bodies are redacted by the writer
        call.response_body = body.decode()
    headers = [*call.headers(), (b"x-llmgw-degraded", b"true")]
    await record_durable(gw, call, status=200, outcome="degraded", error=cause)
    await send_bytes(send, 200, body, JSON_HEADERS, headers)
