"""The chat pipeline, top to bottom: one call from inbound bytes to an answer and an audit row.

    authenticate key (headers) -> tenant configured? -> read body and decode (inbound
    codec; bodies over 256 KiB one per tenant at a time, ``lanes``)
    -> resolve model -> tenant allows it? -> route plan (tenant policy + override headers)
    -> admit (rate limits, budget reservation) -> cache lookup (a hit answers at no cost)
    -> deliver: plain (``plain``) or streamed (``streaming``), both over the one attempt loop
    -> settle limits (exact cost, or a full release) -> one audit row

Every outcome — served, failed, rejected, client-aborted — ends in exactly one audit row
(``llmgw.gateway.call.record``); every error is answered in the caller's format.
"""

from __future__ import annotations

import asyncio
import logging

from llmgw.cache.service import MISS
from llmgw.errors import (
    BadRequest,
    GatewayError,
    InternalError,
    NotFound,
    PermissionDenied,
    UpstreamError,
)
from llmgw.gateway.asgi import ClientGone, Receive, Scope, Send, header, read_body
from llmgw.gateway.cached import serve_hit
from llmgw.gateway.call import Call, record, send_error, settle_limits
from llmgw.gateway.lanes import content_length
from llmgw.gateway.plain import plain_call
from llmgw.gateway.runtime import Gateway
from llmgw.gateway.streaming import stream_call
from llmgw.types import ChatRequest, Outcome
from llmgw.wire.limits import parse_body

log = logging.getLogger("llmgw.gateway")


async def handle_chat(gw: Gateway, api: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ``/v1/chat/completions`` or ``/v1/messages`` request, whatever happens."""
    call = Call(api=api)
    try:
        call.key = await gw.keys.authenticate(scope)  # headers only: no body read for a 401
        policy = gw.policy(call.key.tenant)
        if not policy.known:
            raise PermissionDenied(
                f"tenant {call.key.tenant!r} is not in the gateway's configuration",
                code="tenant_not_configured",
            )
        call.retention = policy.retention
        call.weight = policy.weight
        length = content_length(header(scope, b"content-length"))
        async with gw.lanes.lane(call.key.tenant, length):  # one large body per tenant at once
            call.request_body = await read_body(scope, receive, gw.settings.server.max_body_bytes)
            req = call.request = decode(call, call.request_body)
        model = gw.model(req.model)
        if model is None:
            raise NotFound(f"model {req.model!r} does not exist", param="model")
        if policy.allowed is not None and model.name not in policy.allowed:
            raise PermissionDenied(
                f"model {req.model!r} is not allowed for tenant {call.key.tenant!r}",
                param="model",
            )
        plan = gw.route_plan(call.key.tenant, model, policy.allowed, scope)
        call.admission = await gw.limiter.admit(call.key.tenant, req, plan)
        try:
            if gw.cache is not None:
                call.cache = await gw.cache.lookup(
                    call.tenant, call.key.id, model.name, req, scope["headers"]
                )
                if call.cache.found is not None:
                    await serve_hit(gw, call, call.cache, send)
                    return
                if call.cache.status == MISS:
                    gw.cache.missed(call.cache)
                    if gw.live is not None:
                        gw.live.cache_miss(call.tenant)
            if req.stream:
                await stream_call(gw, call, plan, receive, send)
            else:
                await plain_call(gw, call, plan, send)
        finally:
            if call.admission is not None:
                await settle_limits(gw, call, call.admission)
    except ClientGone:
        record(gw, call, status=499, outcome="aborted", error=None)
    except asyncio.CancelledError:  # the server is stopping past its drain time: keep the row
        record(gw, call, status=499, outcome="aborted", error=None)
        raise
    except GatewayError as err:
        await send_error(call, err, send)
        outcome: Outcome = "error" if isinstance(err, UpstreamError) else "rejected"
        record(gw, call, status=err.status, outcome=outcome, error=err)
    except Exception as exc:  # a bug: answer 500, keep the row, log the trace (never the body)
        log.exception("unexpected error in request %s", call.request_id)
        bug = InternalError(f"internal error ({type(exc).__name__}); request id {call.request_id}")
        await send_error(call, bug, send)
        record(gw, call, status=500, outcome="error", error=bug)


def decode(call: Call, body: bytes) -> ChatRequest:
    """The canonical request from the inbound body (JSON, at most ``MAX_DEPTH`` deep), through
    the caller's codec."""
    data = parse_body(body)
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    req: ChatRequest = call.codec.decode_request(data)
    return req
