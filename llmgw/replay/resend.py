"""Re-sending recorded calls to another public model, in process, through the gateway's routing.

``select_originals`` picks audit rows that kept their request body; ``prepare`` decodes each
with the codec of its inbound API (streams become plain calls) and estimates its cost on the
target; ``send_once`` walks the target's route (the original tenant's routing policy:
provider and region restrictions hold, the tenant's model allowance does not, since the target
is a deliberate candidate) with the provider adapters, breakers and retries the gateway uses,
and returns a ``RunResult`` whose answer is encoded in the original's API format.
``replay_items`` runs them with bounded concurrency and stops launching calls once the next
one could take the spend past ``max_cost_nanos``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from llmgw.accounting.cost import cost_nanos
from llmgw.accounting.tokens import count_completion, count_prompt
from llmgw.audit import query as audit_query
from llmgw.errors import BadRequest, GatewayError, UpstreamError
from llmgw.gateway.runtime import Gateway
from llmgw.jsontext import dumps_text
from llmgw.replay.runs import RunResult
from llmgw.routing.attempts import attempt
from llmgw.routing.policy import plan
from llmgw.routing.route import Hop, Route
from llmgw.settings.schema import ModelConfig
from llmgw.types import ChatRequest, ChatResponse, Usage
from llmgw.wire.limits import parse_body
from llmgw.wire.registry import INBOUND, codec_for, is_api

SaveResult = Callable[[RunResult], None]


@dataclass(slots=True, frozen=True)
class ReplayItem:
    """One recorded call ready to be re-sent."""

    original_id: str
    tenant: str
    api: str
    request: ChatRequest
    estimate_nanos: int  # input counted on the target + the original's output, target prices


@dataclass(slots=True)
class ReplayOutcome:
    """What a replay did: results stored, how many failed, spend, and whether it stopped early."""

    done: int = 0
    errors: int = 0
    spent_nanos: int = 0
    stopped_at_cost: bool = False
    not_sent: int = 0
    error_classes: dict[str, int] = field(default_factory=dict)


def select_originals(
    conn: sqlite3.Connection, filters: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """The newest ``limit`` matching calls with a kept request body, oldest first."""
    where, params = audit_query.build_where(**filters)
    rows = conn.execute(
        f"SELECT * FROM audit_log WHERE {where} AND request_body IS NOT NULL "
        "AND api IN ('openai', 'anthropic') ORDER BY ts DESC, seq DESC LIMIT ?",
        [*params, limit],
    ).fetchall()
    return [dict(r) for r in reversed(rows)]


def decode_original(row: dict[str, Any]) -> ChatRequest:
    """The canonical request of a recorded call, as a plain (non-streamed) call."""
    api = row.get("api")
    if not is_api(api):
        raise BadRequest(f"unknown inbound api {row.get('api')!r}")
    codec = INBOUND[api]
    raw = row["request_body"]
    if not isinstance(raw, str | bytes):
        raise BadRequest("recorded request body is not JSON")
    body = parse_body(raw, "recorded request body")  # rows of rejected calls keep any body
    if not isinstance(body, dict):
        raise BadRequest("recorded request body is not a JSON object")
    req: ChatRequest = codec.decode_request(body)
    req.stream = False
    req.include_usage = False
    return req


def estimate_nanos(gw: Gateway, target: ModelConfig, req: ChatRequest, output: int) -> int:
    """Input tokens counted for the target's first deployment plus ``output``, at its price."""
    dep = target.deployments[0]
    prompt = count_prompt(dep.model, req.messages, req.tools)
    price = gw.prices.lookup(gw.settings.providers[dep.provider].kind, dep.model)
    return cost_nanos(price, Usage(prompt.tokens, output))


def prepare(
    gw: Gateway, target: ModelConfig, rows: list[dict[str, Any]]
) -> tuple[list[ReplayItem], list[tuple[str, str]]]:
    """Items for the rows that decode, and ``(id, reason)`` for the ones that do not."""
    items: list[ReplayItem] = []
    bad: list[tuple[str, str]] = []
    for row in rows:
        try:
            req = decode_original(row)
        except GatewayError as exc:
            bad.append((row["id"], exc.message))
            continue
        output = int(row.get("output_tokens") or 0) or (req.max_tokens or 0)
        est = estimate_nanos(gw, target, req, output)
        items.append(ReplayItem(row["id"], row.get("tenant") or "", row["api"], req, est))
    return items, bad


def _usage(model: str, req: ChatRequest, resp: ChatResponse) -> Usage:
    usage = resp.usage
    if usage.input_tokens or usage.output_tokens:
        return usage
    prompt = count_prompt(model, req.messages, req.tools)
    completion = count_completion(model, resp.content or "", resp.tool_calls)
    return Usage(prompt.tokens, completion.tokens, 0, estimated=True)


async def send_once(gw: Gateway, target: ModelConfig, item: ReplayItem) -> RunResult:
    """Send one item along the target's route, through the gateway's one attempt loop
    (capacity slots, breakers, retries); failures become an ``error`` result."""
    t0 = time.perf_counter()

    def failed(error_class: str) -> RunResult:
        ms = (time.perf_counter() - t0) * 1000.0
        return RunResult(item.original_id, "error", ms, None, error_class=error_class)

    try:
        route_plan = plan(gw.settings, item.tenant, target, {}, None)
    except GatewayError as exc:
        return failed(exc.code)
    route = Route.start(gw.routing, route_plan)

    async def work(hop: Hop) -> ChatResponse:
        try:
            async with asyncio.timeout(route.deadline.remaining()):
                return await hop.provider.complete(item.request.with_model(hop.deployment.model))
        except TimeoutError:
            raise UpstreamError("timeout", "no answer before the deadline") from None

    try:
        lease, resp = await attempt(route, work, tenant=item.tenant)
    except UpstreamError as exc:
        return failed(exc.error_class)
    lease.succeeded()
    await lease.close()
    hop = lease.hop
    req = item.request.with_model(hop.deployment.model)
    usage = resp.usage = _usage(hop.deployment.model, req, resp)
    price = gw.prices.lookup(hop.provider.kind, hop.deployment.model)
    body = dumps_text(codec_for(item.api).encode_response(resp))
    ms = (time.perf_counter() - t0) * 1000.0
    return RunResult(
        item.original_id,
        "ok",
        ms,
        ms,
        usage.input_tokens,
        usage.output_tokens,
        cost_nanos(price, usage),
        body,
        None,
        time.time(),
    )


async def replay_items(
    gw: Gateway,
    target: ModelConfig,
    items: list[ReplayItem],
    save: SaveResult,
    *,
    concurrency: int = 4,
    max_cost_nanos: int | None = None,
    spent_nanos: int = 0,
    on_result: Callable[[RunResult], None] | None = None,
    send: Callable[[Gateway, ModelConfig, ReplayItem], Awaitable[RunResult]] = send_once,
) -> ReplayOutcome:
    """Send ``items`` with at most ``concurrency`` in flight, saving each result as it ends.

    A call is launched only while the spend so far, plus the estimates of the calls in flight,
    plus its own estimate stays within ``max_cost_nanos``; after that nothing new starts, the
    calls in flight finish, and ``stopped_at_cost`` is set.
    """
    outcome = ReplayOutcome(spent_nanos=spent_nanos)
    pending = list(reversed(items))
    reserved = 0
    lock = asyncio.Lock()

    async def take() -> ReplayItem | None:
        nonlocal reserved
        async with lock:
            if not pending or outcome.stopped_at_cost:
                return None
            item = pending[-1]
            if max_cost_nanos is not None and (
                outcome.spent_nanos >= max_cost_nanos
                or outcome.spent_nanos + reserved + item.estimate_nanos > max_cost_nanos
            ):
                outcome.stopped_at_cost = True
                return None
            pending.pop()
            reserved += item.estimate_nanos
            return item

    async def worker() -> None:
        nonlocal reserved
        while (item := await take()) is not None:
            try:
                result = await send(gw, target, item)
            except Exception as exc:  # one broken call must not end the run
                result = RunResult(item.original_id, "error", error_class=type(exc).__name__)
            finally:
                reserved -= item.estimate_nanos
            save(result)
            outcome.done += 1
            outcome.spent_nanos += result.cost_nanos
            if result.status != "ok":
                outcome.errors += 1
                key = result.error_class or "error"
                outcome.error_classes[key] = outcome.error_classes.get(key, 0) + 1
            if on_result is not None:
                on_result(result)

    workers = [asyncio.create_task(worker()) for _ in range(max(1, concurrency))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*workers, return_exceptions=True)
    outcome.not_sent = len(pending)
    return outcome


async def close_gateway(gw: Gateway) -> None:
    """Close the providers and the upstream transport of a gateway built for a replay."""
    for provider in gw.providers.values():
        with contextlib.suppress(Exception):
            await provider.aclose()
    with contextlib.suppress(Exception):
        await gw.transport.aclose()
