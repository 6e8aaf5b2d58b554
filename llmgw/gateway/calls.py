"""The chat pipeline: one call from inbound bytes to an answer and an audit row.

    read body -> authenticate key -> decode (inbound codec) -> resolve model -> tenant allows it?
    -> try deployments in order (fail over on retryable errors before any byte is sent)
    -> settle usage and cost -> encode (inbound codec) -> send -> record

Every outcome — served, failed, rejected, client-aborted — ends in exactly one audit row.
Streams live in ``llmgw.gateway.streaming``; this module holds the shared steps and the
non-streamed path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmgw.accounting.cost import cost_nanos
from llmgw.accounting.tokens import count_completion, count_prompt
from llmgw.audit.record import AuditRecord, new_request_id
from llmgw.cache.entry import CachedAnswer, storable
from llmgw.cache.service import MISS, CacheCall
from llmgw.errors import (
    BadRequest,
    GatewayError,
    InternalError,
    NotFound,
    PermissionDenied,
    UpstreamError,
)
from llmgw.gateway.asgi import JSON_HEADERS, ClientGone, Receive, Scope, Send, read_body, send_bytes
from llmgw.gateway.limiter import BILLED_OUTCOMES, rate_headers
from llmgw.gateway.route import AtCapacity, Hop, Route
from llmgw.gateway.runtime import Gateway
from llmgw.limits.ledger import CACHE_PROVIDER
from llmgw.limits.model import Admission
from llmgw.providers.base import Provider
from llmgw.routing.policy import RoutePlan
from llmgw.settings.schema import Deployment
from llmgw.store.keys import KeyRecord
from llmgw.types import ChatRequest, ChatResponse, Usage
from llmgw.wire.codec import Codec
from llmgw.wire.registry import codec_for

log = logging.getLogger("llmgw.gateway")

DEGRADED_MODEL = "llmgw-degraded"


@dataclass(slots=True)
class Call:
    """Everything known about one call while it runs; becomes its audit row."""

    api: str
    codec: Codec
    request_id: str = field(default_factory=new_request_id)
    ts: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    key: KeyRecord | None = None
    retention: str = "metadata"
    request: ChatRequest | None = None
    request_body: bytes = b""
    provider: Provider | None = None
    deployment: Deployment | None = None
    attempt_log: list[dict[str, Any]] = field(default_factory=list)
    ttft_ms: float | None = None
    usage: Usage | None = None
    cost_nanos: int = 0
    response_body: str | None = None
    fallback_model: str | None = None  # the public model that served, when not the requested
    admission: Admission | None = None  # what the tenant's limits granted this call
    outcome: str = "error"  # set by record()
    weight: int = 1  # the tenant's share in deployments' fair queues
    cache: CacheCall | None = None  # the response cache's part: header, hit, what to store

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Response headers that say who served the call, and the tenant's rate limits."""
        out = [(b"x-request-id", self.request_id.encode()), *rate_headers(self.admission)]
        if self.cache is not None:
            out.append((b"x-llmgw-cache", self.cache.status.encode()))
        if self.provider is not None and self.deployment is not None:
            out.append((b"x-llmgw-provider", self.provider.name.encode()))
            out.append((b"x-llmgw-model", self.deployment.model.encode()))
            out.append((b"x-llmgw-attempts", str(len(self.attempt_log)).encode()))
            if self.fallback_model is not None:
                out.append((b"x-llmgw-fallback", self.fallback_model.encode()))
        return out

    @property
    def tenant(self) -> str:
        return self.key.tenant if self.key is not None else ""

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0


async def handle_chat(gw: Gateway, api: str, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ``/v1/chat/completions`` or ``/v1/messages`` request, whatever happens."""
    call = Call(api=api, codec=codec_for(api))
    try:
        call.request_body = await read_body(scope, receive, gw.settings.server.max_body_bytes)
        call.key = gw.keys.authenticate(scope)
        policy = gw.policy(call.key.tenant)
        if not policy.known:
            raise PermissionDenied(
                f"tenant {call.key.tenant!r} is not in the gateway's configuration",
                code="tenant_not_configured",
            )
        call.retention = policy.retention
        call.weight = policy.weight
        req = call.request = decode(call.codec, call.request_body)
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
                from llmgw.gateway.streaming import stream_call

                await stream_call(gw, call, plan, scope, receive, send)
            else:
                await plain_call(gw, call, plan, send)
        finally:
            if call.admission is not None:
                await settle_limits(gw, call, call.admission)
    except ClientGone:
        record(gw, call, status=499, outcome="aborted", error=None)
    except GatewayError as err:
        await send_error(call, err, send)
        outcome = "error" if isinstance(err, UpstreamError) else "rejected"
        record(gw, call, status=err.status, outcome=outcome, error=err)
    except Exception as exc:  # a bug: answer 500, keep the row, log the trace (never the body)
        log.exception("unexpected error in request %s", call.request_id)
        err = InternalError(f"internal error ({type(exc).__name__}); request id {call.request_id}")
        await send_error(call, err, send)
        record(gw, call, status=500, outcome="error", error=err)


async def settle_limits(gw: Gateway, call: Call, admission: Admission) -> None:
    """Give back what the call reserved: its exact cost if it produced something, else all."""
    usage = call.usage or Usage()
    cost = billable(call.outcome, call.cost_nanos)
    try:
        usages = await gw.limiter.finish(admission, call.outcome, usage.total_tokens, cost)
        gw.alerts.on_settled(usages, cost)
    except Exception:  # the answer is out; a settlement failure must not turn it into an error
        log.exception("settling limits for %s failed", call.request_id)


def billable(outcome: str, cost_nanos: int) -> int:
    """Failed calls are never billed; an aborted stream pays for what was produced."""
    return cost_nanos if outcome in BILLED_OUTCOMES else 0


def decode(codec: Codec, body: bytes) -> ChatRequest:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    req: ChatRequest = codec.decode_request(data)
    return req


def note_attempt(
    call: Call, dep: Deployment, provider: Provider, started: float, err: UpstreamError | None
) -> None:
    call.attempt_log.append(
        {
            "provider": provider.name,
            "model": dep.model,
            "error_class": err.error_class if err else None,
            "status": err.upstream_status if err else 200,
            "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
        }
    )


async def plain_call(gw: Gateway, call: Call, plan: RoutePlan, send: Send) -> None:
    req = call.request
    assert req is not None
    route = Route.start(gw, plan)
    err: UpstreamError | None = None
    while (hop := await route.next(err)) is not None:
        started = time.perf_counter()
        try:
            async with (
                deadline_guard(gw, route, hop),
                hop.slot(gw, call.tenant, call.weight, admitted_tokens(call)),
            ):
                resp = await hop.provider.complete(req.with_model(hop.deployment.model))
        except TimeoutError:
            err = deadline_error(hop, route)
        except AtCapacity as exc:  # our own gate: says nothing about the upstream's health
            hop.abandoned()
            note_attempt(call, hop.deployment, hop.provider, started, exc)
            err = exc
            continue
        except UpstreamError as exc:
            err = exc
        except BaseException:  # cancelled: the client left; the attempt proves nothing
            hop.abandoned()
            raise
        else:
            hop.succeeded(time.perf_counter() - started)
            note_attempt(call, hop.deployment, hop.provider, started, None)
            served_by(call, hop, plan)
            call.ttft_ms = call.elapsed_ms()
            await answer(gw, call, resp, send)
            return
        hop.failed(err, time.perf_counter() - started)
        note_attempt(call, hop.deployment, hop.provider, started, err)
    final = route.exhausted_error(err)
    if plan.degraded_response is not None and final.retryable:
        await answer_degraded(gw, call, plan, final, send)
        return
    raise final


def admitted_tokens(call: Call) -> int:
    """Tokens the call reserved at admission (for deployment TPM), or 0 without limits."""
    return call.admission.demand.tokens if call.admission is not None else 0


def served_by(call: Call, hop: Hop, plan: RoutePlan) -> None:
    call.provider, call.deployment = hop.provider, hop.deployment
    if hop.model.name != plan.model.name:
        call.fallback_model = hop.model.name


def deadline_guard(gw: Gateway, route: Route, hop: Hop) -> Any:
    """A timeout at the call's deadline, unless the provider's own read timeout (which the
    transport enforces) ends the attempt sooner anyway: one timer less per call."""
    remaining = route.deadline.remaining()
    if remaining > gw.settings.providers[hop.deployment.provider].read_timeout_s:
        return contextlib.nullcontext()
    return asyncio.timeout(remaining)


def deadline_error(hop: Hop, route: Route) -> UpstreamError:
    total = route.gw.settings.routing.timeouts.total_s
    return UpstreamError(
        "timeout",
        f"{hop.provider.name}: no answer before the call's {total:g}s deadline",
        provider=hop.provider.name,
    )


async def answer(gw: Gateway, call: Call, resp: ChatResponse, send: Send) -> None:
    settle(gw, call, resp)
    body = orjson.dumps(call.codec.encode_response(resp))
    if call.retention != "metadata":  # "redacted" bodies are redacted by the writer
        call.response_body = body.decode()
    await send_bytes(send, 200, body, JSON_HEADERS, call.headers())
    record(gw, call, status=200, outcome="ok", error=None)
    remember(gw, call, resp.content, resp.finish_reason, bool(resp.tool_calls), resumed=False)


def remember(
    gw: Gateway,
    call: Call,
    content: str | None,
    finish_reason: str | None,
    has_tool_calls: bool,
    *,
    resumed: bool,
) -> None:
    """Offer a finished call's answer to the cache (it keeps only complete, final ones)."""
    cc = call.cache
    if gw.cache is None or cc is None or cc.decision is None or not cc.decision.store:
        return
    fallback = call.fallback_model is not None
    if not storable(call.outcome, finish_reason, content, has_tool_calls, fallback, resumed):
        return
    assert call.provider is not None and call.deployment is not None and content is not None
    usage = call.usage or Usage()
    gw.cache.remember(
        cc,
        CachedAnswer(
            content=content,
            served_model=call.deployment.model,
            provider=call.provider.name,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost_nanos=call.cost_nanos,
            source_request=call.request_id,
        ),
    )


async def serve_hit(gw: Gateway, call: Call, cc: CacheCall, send: Send) -> None:
    """Answer from the cache, plain or streamed, in the caller's format: the call costs 0."""
    from llmgw.gateway.cached import send_cached

    assert gw.cache is not None and cc.found is not None
    answer = cc.found.answer
    call.ttft_ms = call.elapsed_ms()
    body = await send_cached(call, answer, cc.found.created_at, send)
    if call.retention != "metadata":
        call.response_body = body
    call.usage = Usage()
    call.cost_nanos = 0
    call.attempt_log.append(
        {
            "provider": CACHE_PROVIDER,
            "model": answer.served_model,
            "error_class": None,
            "status": 200,
            "latency_ms": round(call.elapsed_ms(), 3),
            "kind": cc.kind,
            "entry": cc.found.id,
            "source_request": answer.source_request,
            "similarity": None if cc.similarity is None else round(cc.similarity, 4),
            "saved_input_tokens": answer.input_tokens,
            "saved_output_tokens": answer.output_tokens,
        }
    )
    gw.cache.served(cc, call.request_id)
    if gw.live is not None:
        gw.live.cache_hit(call.tenant, cc.kind, answer.cost_nanos)
    record(gw, call, status=200, outcome="ok", error=None, saved_nanos=answer.cost_nanos)


async def answer_degraded(
    gw: Gateway, call: Call, plan: RoutePlan, cause: UpstreamError, send: Send
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
    await send_bytes(send, 200, body, JSON_HEADERS, headers)
    record(gw, call, status=200, outcome="degraded", error=cause)


def settle(gw: Gateway, call: Call, resp: ChatResponse) -> None:
    """Exact usage (the provider's, else counted) and its cost."""
    usage = resp.usage
    if usage.input_tokens == 0 and usage.output_tokens == 0:
        usage = estimate_usage(call, resp.content or "", resp.tool_calls)
        resp.usage = usage
    call.usage = usage
    call.cost_nanos = price_of(gw, call, usage)


def estimate_usage(call: Call, text: str, tool_calls: list[dict[str, Any]] | None) -> Usage:
    assert call.request is not None and call.deployment is not None
    model = call.deployment.model
    prompt = count_prompt(model, call.request.messages, call.request.tools)
    completion = count_completion(model, text, tool_calls)
    return Usage(prompt.tokens, completion.tokens, 0, estimated=True)


def price_of(gw: Gateway, call: Call, usage: Usage) -> int:
    assert call.provider is not None and call.deployment is not None
    price = gw.prices.lookup(call.provider.kind, call.deployment.model)
    return cost_nanos(price, usage)


async def send_error(call: Call, err: GatewayError, send: Send) -> None:
    status, payload = call.codec.encode_error(err)
    extra = call.headers()
    if err.retry_after is not None:
        extra.append((b"retry-after", str(max(1, round(err.retry_after))).encode()))
    with contextlib.suppress(Exception):  # the client may be gone; the row is still written
        await send_bytes(send, status, orjson.dumps(payload), JSON_HEADERS, extra)


def record(
    gw: Gateway,
    call: Call,
    *,
    status: int,
    outcome: str,
    error: GatewayError | None,
    saved_nanos: int | None = None,
) -> None:
    """Queue the call's audit row (no I/O here; the writer thread commits in batches).

    A cache hit (``saved_nanos`` set) is recorded with provider ``cache`` and, by the ledger's
    convention, what it saved in ``cost_nanos``: it is never counted as spend.
    """
    req = call.request
    usage = call.usage or Usage()
    kept = call.retention != "metadata"  # the writer thread redacts "redacted" bodies
    call.outcome = outcome
    rec = AuditRecord(
        id=call.request_id,
        ts=call.ts,
        tenant=call.key.tenant if call.key else "",
        key_id=call.key.id if call.key else None,
        api=call.api,
        requested_model=req.model if req else None,
        provider=CACHE_PROVIDER
        if saved_nanos is not None
        else (call.provider.name if call.provider else None),
        served_model=call.attempt_log[0]["model"]
        if saved_nanos is not None
        else (call.deployment.model if call.deployment else None),
        attempts=len(call.attempt_log),
        attempt_log=tuple(call.attempt_log),
        status=status,
        outcome=outcome,
        error_class=getattr(error, "error_class", None) or (error.code if error else None),
        error_message=error.message if error else None,
        ttft_ms=call.ttft_ms,
        latency_ms=call.elapsed_ms(),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cached_tokens=usage.cached_input_tokens,
        usage_estimated=usage.estimated,
        cost_nanos=saved_nanos if saved_nanos is not None else billable(outcome, call.cost_nanos),
        stream=bool(req and req.stream),
        request_body=call.request_body.decode("utf-8", "replace") if kept else None,
        response_body=call.response_body if kept else None,
        retention=call.retention,
    )
    if gw.live is not None:
        gw.live.observe(rec)
    if gw.shadow is not None and outcome == "ok" and req is not None and saved_nanos is None:
        gw.shadow.maybe_mirror(gw, rec.tenant, req, call.request_id, api=call.api)
    if not gw.audit.submit(rec):
        # the queue is full: hand the row over as soon as there is room; never drop it
        task = asyncio.get_running_loop().create_task(gw.audit.submit_async(rec))
        gw.audit_backlog.add(task)
        task.add_done_callback(gw.audit_backlog.discard)
