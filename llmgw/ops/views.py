"""Admin views of live operations (JSON, SSE and Prometheus text), behind the admin key.

    GET /admin/tenants                  live figures of every tenant node
    GET /admin/tenants/{path}           one node, plus its keys, models, last calls and errors
    GET /admin/deployments              breakers, health, latency percentiles per deployment
    GET /admin/cache                    response cache hits and savings
    GET /admin/calls?limit=&tenant=&model=&status=     recent calls (no bodies), newest first
    GET /admin/calls/stream[?tenant=]   SSE: one ``event: call`` per finished call
    GET /admin/metrics, GET /metrics    Prometheus text format

The caller has checked the admin key. Times are unix seconds; money is integer nanos (1e-9 USD)
with a ``"$"`` string beside it. A node covers its subtree, as in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import orjson

from llmgw.errors import BadRequest, GatewayError, NotFound
from llmgw.gateway.asgi import JSON_HEADERS, SSE_HEADERS, Receive, Scope, Send, send_bytes
from llmgw.gateway.runtime import Gateway
from llmgw.limits.model import BudgetSpec
from llmgw.limits.periods import period_end
from llmgw.ops.live import LiveState, Subscriber
from llmgw.ops.metrics import CONTENT_TYPE_LATEST
from llmgw.settings.money import format_usd
from llmgw.store.db import open_db
from llmgw.store.keys import KeyStore
from llmgw.wire.sse import format_event

KEEPALIVE_S = 15.0
MAX_CALLS = 1000
DETAIL_CALLS = 50
HOUR_S = 3600


async def handle_admin_view(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> bool:
    """Serve one of the routes above; False (nothing sent) when the path is not one of them."""
    path: str = scope["path"]
    if scope["method"] != "GET" or not owns(path):
        return False
    try:
        live = live_of(gw)
        if path in ("/admin/metrics", "/metrics"):
            body = live.metrics.render()
            await send_bytes(send, 200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())])
            return True
        if path == "/admin/calls/stream":
            await stream_calls(live, scope, receive, send)
            return True
        payload = await json_view(gw, live, path, query_args(scope))
    except GatewayError as err:
        from llmgw.wire.openai import CODEC

        status, error = CODEC.encode_error(err)
        await send_bytes(send, status, orjson.dumps(error), JSON_HEADERS)
        return True
    await send_bytes(send, 200, orjson.dumps(payload), JSON_HEADERS)
    return True


def owns(path: str) -> bool:
    return path in (
        "/admin/tenants",
        "/admin/deployments",
        "/admin/cache",
        "/admin/calls",
        "/admin/calls/stream",
        "/admin/metrics",
        "/metrics",
    ) or path.startswith("/admin/tenants/")


def live_of(gw: Gateway) -> LiveState:
    live = getattr(gw, "live", None)
    if not isinstance(live, LiveState):
        err = GatewayError("live operations data is not enabled", code="live_disabled")
        err.status = 503
        raise err
    return live


def query_args(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw).items()}


async def json_view(gw: Gateway, live: LiveState, path: str, args: dict[str, str]) -> Any:
    if path == "/admin/tenants":
        return {"tenants": [await tenant_row(gw, live, t) for t in live.tenant_names()]}
    if path.startswith("/admin/tenants/"):
        return await tenant_detail(gw, live, path[len("/admin/tenants/") :].strip("/"))
    if path == "/admin/deployments":
        return {"deployments": deployments_view(gw, live)}
    if path == "/admin/cache":
        return cache_view(live)
    limit = args.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_CALLS:
        raise BadRequest(f"'limit' must be an integer in [1, {MAX_CALLS}]", param="limit")
    calls = live.recent_calls(
        int(limit), args.get("tenant") or None, args.get("model") or None, args.get("status")
    )
    return {"calls": calls}


# -- tenants ---------------------------------------------------------------------------------


async def tenant_row(gw: Gateway, live: LiveState, node: str) -> dict[str, Any]:
    row = live.tenant_view(node)
    row["spend_today"] = format_usd(row["spend_today_nanos"])
    row["spend_month"] = format_usd(row["spend_month_nanos"])
    row["burn_per_hour"] = format_usd(row["burn_per_hour_nanos"])
    row["budgets"] = await budgets(gw, node, row["burn_per_hour_nanos"], live.clock.wall())
    return row


async def budgets(gw: Gateway, node: str, burn_per_hour: int, now: float) -> list[dict[str, Any]]:
    """The node's own budgets: spend from the limit store (what admission enforces) and when
    the last hour's burn rate would exhaust each within its period."""
    out = []
    for limits in gw.limiter.chain(node):
        if limits.node != node:
            continue
        for spec in limits.budgets:
            usage = await gw.limiter.store.spend(node, spec)
            out.append(budget_row(spec, usage.spent_nanos, burn_per_hour, now))
    return out


def budget_row(spec: BudgetSpec, spent: int, burn_per_hour: int, now: float) -> dict[str, Any]:
    pct = None
    if spec.limit_nanos > 0:
        pct = str((Decimal(spent * 100) / spec.limit_nanos).quantize(Decimal("0.1")))
    return {
        "key": spec.key,
        "period": spec.period,
        "model": spec.model,
        "limit_nanos": spec.limit_nanos,
        "limit": format_usd(spec.limit_nanos),
        "spent_nanos": spent,
        "spent": format_usd(spent),
        "hard": spec.hard,
        "used_pct": pct,
        "projected_exhaustion_at": exhaustion_at(spec, spent, burn_per_hour, now),
    }


def exhaustion_at(spec: BudgetSpec, spent: int, burn_per_hour: int, now: float) -> float | None:
    """When spend reaches the limit at ``burn_per_hour``; None if not within this period."""
    left = spec.limit_nanos - spent
    if left <= 0:
        return now
    if burn_per_hour <= 0:
        return None
    at = now + left * HOUR_S / burn_per_hour
    return round(at, 3) if at < period_end(spec.period, now, spec.window_s) else None


async def tenant_detail(gw: Gateway, live: LiveState, node: str) -> dict[str, Any]:
    if node not in live.tenants and not gw.policy(node).known:
        raise NotFound(f"no tenant {node!r}", code="not_found")
    row = await tenant_row(gw, live, node)

    def read_keys() -> list[dict[str, Any]]:
        conn = open_db(gw.state_path, readonly=True)
        try:
            return [
                {
                    "id": k.id,
                    "tenant": k.tenant,
                    "name": k.name,
                    "prefix": k.prefix,
                    "created_at": k.created_at,
                }
                for k in KeyStore(conn).list(node)
            ]
        finally:
            conn.close()

    row["keys"] = await asyncio.to_thread(read_keys)
    row["models"] = [m.name for m in gw.visible_models(node)]
    row["calls"] = live.recent_calls(DETAIL_CALLS, tenant=node)
    row["errors"] = live.tenant_errors(node)
    return row


# -- deployments and cache -------------------------------------------------------------------


def deployments_view(gw: Gateway, live: LiveState) -> list[dict[str, Any]]:
    ids = dict.fromkeys(
        f"{d.provider}/{d.model}" for m in gw.settings.models.values() for d in m.deployments
    )
    out = []
    for dep_id in ids:
        stats = gw.breakers.get(dep_id).stats()
        health = gw.health.peek(dep_id)
        out.append(
            {
                "deployment": dep_id,
                "state": stats["state"],
                "forced": stats["forced"],
                "retry_after_s": round(stats["retry_after_s"], 3),
                "in_flight": health.in_flight if health is not None else 0,
                **live.deployment_view(dep_id),
                "transitions": [
                    {
                        "at": t["at"],
                        "from": t["from_state"],
                        "to": t["to_state"],
                        "reason": t["reason"],
                    }
                    for t in stats["transitions"]
                ],
            }
        )
    return out


def cache_view(live: LiveState) -> dict[str, Any]:
    cache = live.cache
    tenants = sorted({t for t, _ in cache.hits} | set(cache.misses) | set(cache.savings))
    rows = []
    for tenant in tenants:
        exact = cache.hits.get((tenant, "exact"), 0)
        semantic = cache.hits.get((tenant, "semantic"), 0)
        misses = cache.misses.get(tenant, 0)
        saved = cache.savings.get(tenant, 0)
        rows.append(cache_row(exact, semantic, misses, saved) | {"tenant": tenant})
    total = cache_row(
        sum(r["exact_hits"] for r in rows),
        sum(r["semantic_hits"] for r in rows),
        sum(r["misses"] for r in rows),
        sum(r["savings_nanos"] for r in rows),
    )
    return {"enabled": cache.enabled, **total, "by_tenant": rows}


def cache_row(exact: int, semantic: int, misses: int, saved: int) -> dict[str, Any]:
    lookups = exact + semantic + misses
    return {
        "hit_rate": round((exact + semantic) / lookups, 4) if lookups else None,
        "exact_hits": exact,
        "semantic_hits": semantic,
        "misses": misses,
        "savings_nanos": saved,
        "savings": format_usd(saved),
    }


# -- the call stream -------------------------------------------------------------------------


async def stream_calls(live: LiveState, scope: Scope, receive: Receive, send: Send) -> None:
    """SSE of finished calls until the client disconnects or the gateway stops.

    A subscriber that falls behind loses its oldest events; it then gets an ``event: dropped``
    with ``{"missed": n}`` before the next calls."""
    sub = live.subscribe(query_args(scope).get("tenant") or None)
    watcher = asyncio.create_task(watch_disconnect(receive, sub))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        await send({"type": "http.response.body", "body": b": connected\n\n", "more_body": True})
        await pump(sub, send)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:  # the client went away mid-write
        pass
    finally:
        live.unsubscribe(sub)
        watcher.cancel()


async def pump(sub: Subscriber, send: Send, keepalive_s: float = KEEPALIVE_S) -> None:
    """Write the subscriber's events as SSE until it is closed."""
    while not sub.closed:
        try:
            await asyncio.wait_for(sub.wake.wait(), keepalive_s)
        except TimeoutError:
            await send(
                {"type": "http.response.body", "body": b": keep-alive\n\n", "more_body": True}
            )
            continue
        events, missed = sub.drain()
        if sub.closed:
            return
        chunks = [format_event(orjson.dumps({"missed": missed}), "dropped")] if missed else []
        chunks += [format_event(orjson.dumps(e), "call") for e in events]
        if chunks:
            await send({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})


async def watch_disconnect(receive: Receive, sub: Subscriber) -> None:
    """Close the subscriber when the client disconnects."""
    with contextlib.suppress(Exception):
        while (await receive())["type"] != "http.disconnect":
            pass
    sub.close()
