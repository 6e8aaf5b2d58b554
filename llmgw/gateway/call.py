"""One call's record and the steps every delivery shares: note, settle, record, remember.

``Call`` is everything known about one call while it runs; it becomes the call's audit row.
Plain, streamed, resumed and cached delivery (``plain``, ``streaming``, ``resume``,
``cached``) all depend on this module and on nothing of each other; the pipeline
(``llmgw.gateway.pipeline``) picks one of them.
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
from llmgw.accounting.estimate import estimate_completion, estimate_prompt
from llmgw.audit.commits import NotCommitted
from llmgw.audit.record import AuditRecord, error_text, new_request_id
from llmgw.audit.writer import WriterClosed
from llmgw.cache.entry import CachedAnswer, storable
from llmgw.cache.service import CacheCall
from llmgw.errors import GatewayError, InternalError, UpstreamError
from llmgw.gateway.asgi import JSON_HEADERS, Send, send_bytes
from llmgw.gateway.limiter import BILLED_OUTCOMES, rate_headers
from llmgw.gateway.runtime import Gateway
from llmgw.limits.ledger import CACHE_PROVIDER
from llmgw.limits.model import Admission
from llmgw.providers.base import Provider
from llmgw.routing.policy import RoutePlan
from llmgw.routing.route import Hop
from llmgw.settings.schema import Deployment
from llmgw.store.keys import KeyRecord
from llmgw.types import ChatRequest, Outcome, Retention, Usage
from llmgw.wire.codec import Codec
from llmgw.wire.registry import codec_for

log = logging.getLogger("llmgw.gateway")


@dataclass(slots=True)
class Call:
    """Everything known about one call while it runs; becomes its audit row."""

    api: str
    codec: Codec = field(init=False)  # the inbound codec of ``api``
    request_id: str = field(default_factory=new_request_id)
    ts: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    key: KeyRecord | None = None
    retention: Retention = "metadata"
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
    outcome: Outcome = "error"  # set by record()
    weight: int = 1  # the tenant's share in deployments' fair queues
    cache: CacheCall | None = None  # the response cache's part: header, hit, what to store
    recorded: bool = False  # its one audit row has been queued

    def __post_init__(self) -> None:
        self.codec = codec_for(self.api)

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

    def admitted_tokens(self) -> int:
        """Tokens the call reserved at admission (for deployment TPM), or 0 without limits."""
        return self.admission.demand.tokens if self.admission is not None else 0

    def note_attempt(self, hop: Hop, started: float, err: UpstreamError | None) -> None:
        """One line of the attempt log (the loop's ``note`` callback)."""
        self.attempt_log.append(
            {
                "provider": hop.provider.name,
                "model": hop.deployment.model,
                "error_class": err.error_class if err else None,
                "status": err.upstream_status if err else 200,
                "latency_ms": round((time.perf_counter() - started) * 1000.0, 3),
            }
        )

    def served_by(self, hop: Hop, plan: RoutePlan | None = None) -> None:
        """The hop that answers; a fallback model is remembered for headers and the row."""
        self.provider, self.deployment = hop.provider, hop.deployment
        if plan is not None and hop.model.name != plan.model.name:
            self.fallback_model = hop.model.name


def billable(outcome: str, cost: int) -> int:
    """Failed calls are never billed; an aborted stream pays for what was produced."""
    return cost if outcome in BILLED_OUTCOMES else 0


def estimate_usage(call: Call, text: str, tool_calls: list[dict[str, Any]] | None) -> Usage:
    """Tokens counted on our side when the provider reported none (bounded work: exact for
    small texts, sampled for large ones; this runs on the event loop)."""
    assert call.request is not None and call.deployment is not None
    model = call.deployment.model
    prompt = estimate_prompt(model, call.request.messages, call.request.tools)
    completion = estimate_completion(model, text, tool_calls)
    return Usage(prompt.tokens, completion.tokens, 0, estimated=True)


def price_of(gw: Gateway, call: Call, usage: Usage) -> int:
    assert call.provider is not None and call.deployment is not None
    price = gw.prices.lookup(call.provider.kind, call.deployment.model)
    return cost_nanos(price, usage)


def settle(gw: Gateway, call: Call, usage: Usage | None, text: str, tools: Any) -> Usage:
    """Exact usage (the provider's, else counted from what was produced) and its cost."""
    if usage is None or (usage.input_tokens == 0 and usage.output_tokens == 0):
        usage = estimate_usage(call, text, tools)
    call.usage = usage
    call.cost_nanos = price_of(gw, call, usage)
    return usage


async def settle_limits(gw: Gateway, call: Call, admission: Admission) -> None:
    """Give back what the call reserved: its exact cost if it produced something, else all."""
    usage = call.usage or Usage()
    cost = billable(call.outcome, call.cost_nanos)
    try:
        usages = await gw.limiter.finish(admission, call.outcome, usage.total_tokens, cost)
        gw.alerts.on_settled(usages, cost)
    except Exception:  # the answer is out; a settlement failure must not turn it into an error
        log.exception("settling limits for %s failed", call.request_id)


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
    outcome: Outcome,
    error: GatewayError | None,
    saved_nanos: int | None = None,
) -> None:
    """Queue the call's audit row (no I/O here; the writer thread commits in batches).

    A cache hit (``saved_nanos`` set) is recorded with provider ``cache`` and, by the ledger's
    convention, what it saved in ``cost_nanos``: it is never counted as spend. A call has
    exactly one row: once recorded, later calls for it (an error surfacing after the answer
    was already settled and recorded) change nothing.
    """
    rec = audit_row(gw, call, status=status, outcome=outcome, error=error, saved_nanos=saved_nanos)
    if rec is not None and not gw.audit.submit(rec):
        # the queue is full: hand the row over as soon as there is room; never drop it
        task = asyncio.get_running_loop().create_task(gw.audit.submit_async(rec))
        gw.audit_backlog.add(task)
        task.add_done_callback(gw.audit_backlog.discard)


async def record_durable(
    gw: Gateway,
    call: Call,
    *,
    status: int,
    outcome: Outcome,
    error: GatewayError | None,
    saved_nanos: int | None = None,
) -> None:
    """``record``, and with ``[audit] durability = "strict"`` wait until the row is committed.

    Deliveries call this before they send an answer's last bytes, so in strict mode no client
    holds a complete answer whose row a crash could still lose. Raises ``InternalError`` if
    the row cannot be committed (the writer refused it or stopped): the answer must not go out.
    """
    if gw.settings.audit.durability != "strict":
        record(gw, call, status=status, outcome=outcome, error=error, saved_nanos=saved_nanos)
        return
    rec = audit_row(gw, call, status=status, outcome=outcome, error=error, saved_nanos=saved_nanos)
    if rec is None:
        return
    try:
        await gw.audit.submit_durable(rec)
    except (NotCommitted, WriterClosed) as exc:
        log.error("audit row %s was not committed: %s", call.request_id, exc)
        raise InternalError(
            f"internal error (the call's audit record could not be stored); "
            f"request id {call.request_id}"
        ) from None


def audit_row(
    gw: Gateway,
    call: Call,
    *,
    status: int,
    outcome: Outcome,
    error: GatewayError | None,
    saved_nanos: int | None,
) -> AuditRecord | None:
    """The call's one audit row (None if it already has one), shown to the live view and
    offered to shadow traffic; ``record`` and ``record_durable`` hand it to the writer."""
    if call.recorded:
        return None
    call.recorded = True
    req = call.request
    usage = call.usage or Usage()
    kept = call.retention != "metadata"  # the writer thread redacts "redacted" bodies
    call.outcome = outcome
    hit = saved_nanos is not None
    rec = AuditRecord(
        id=call.request_id,
        ts=call.ts,
        tenant=call.key.tenant if call.key else "",
        key_id=call.key.id if call.key else None,
        api=call.api,
        requested_model=req.model if req else None,
        provider=CACHE_PROVIDER if hit else (call.provider.name if call.provider else None),
        served_model=call.attempt_log[0]["model"]
        if hit
        else (call.deployment.model if call.deployment else None),
        attempts=len(call.attempt_log),
        attempt_log=tuple(call.attempt_log),
        status=status,
        outcome=outcome,
        error_class=getattr(error, "error_class", None) or (error.code if error else None),
        error_message=error_text(error, call.retention),
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
    if gw.shadow is not None and outcome == "ok" and req is not None and not hit:
        gw.shadow.maybe_mirror(rec.tenant, req, call.request_id, call.api)
    return rec
