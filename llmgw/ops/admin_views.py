"""Admin views of live operations (JSON, SSE and Prometheus text), behind the admin key.

    GET /admin/tenants                  live figures of every tenant node
    GET /admin/tenants/{path}           one node, plus its keys, models, last calls and errors
    GET /admin/deployments              breakers, health, latency percentiles per deployment
    GET /admin/cache                    response cache hits and savings
    GET /admin/calls?limit=&tenant=&model=&status=     recent calls (no bodies), newest first
    GET /admin/calls/stream[?tenant=]   SSE: one ``event: call`` per finished call
    GET /admin/metrics, GET /metrics    Prometheus text format

The caller has checked the admin key. The JSON views are built by ``llmgw.ops.views`` from a
``LiveData``: this process's live state and the gateway parts it reads (limiter, breakers,
health, config, the key store). ``LiveData`` is the one place here that knows the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

import orjson

from llmgw.errors import BadRequest, GatewayError
from llmgw.gateway.asgi import JSON_HEADERS, SSE_HEADERS, Receive, Scope, Send, send_bytes
from llmgw.gateway.runtime import Gateway
from llmgw.ops import views
from llmgw.ops.figures import TenantFigures
from llmgw.ops.live import LiveState
from llmgw.ops.live_tail import Subscriber
from llmgw.ops.metrics import CONTENT_TYPE_LATEST
from llmgw.store.db import open_db
from llmgw.store.keys import KeyRecord, KeyStore
from llmgw.wire.sse import format_event

KEEPALIVE_S = 15.0
MAX_CALLS = 1000


class LiveData:
    """``views.OpsData`` over a running gateway and its live state."""

    def __init__(self, gw: Gateway, live: LiveState) -> None:
        self.gw = gw
        self.live = live

    def now(self) -> float:
        return self.live.clock.wall()

    async def tenant_names(self) -> list[str]:
        return self.live.tenant_names()

    async def knows_tenant(self, node: str) -> bool:
        return node in self.live.tenants or self.gw.policy(node).known

    async def tenant_figures(self, node: str) -> TenantFigures:
        return self.live.tenant_figures(node)

    async def budgets(self, node: str) -> list[views.BudgetSpend]:
        """Spend from the limit store: what admission enforces."""
        out = []
        for limits in self.gw.limiter.chain(node):
            if limits.node != node:
                continue
            for spec in limits.budgets:
                usage = await self.gw.limiter.store.spend(node, spec)
                out.append(views.BudgetSpend(spec, usage.spent_nanos))
        return out

    async def keys(self, node: str) -> list[KeyRecord]:
        def read() -> list[KeyRecord]:
            conn = open_db(self.gw.state_path, readonly=True)
            try:
                return KeyStore(conn).list(node)
            finally:
                conn.close()

        return await asyncio.to_thread(read)

    async def models(self, node: str) -> list[str]:
        return [m.name for m in self.gw.visible_models(node)]

    async def recent_calls(
        self,
        limit: int,
        tenant: str | None = None,
        model: str | None = None,
        status: str | None = None,
    ) -> list[views.Row]:
        return self.live.recent_calls(limit, tenant, model, status)

    async def tenant_errors(self, node: str) -> list[views.Row]:
        return self.live.tenant_errors(node)

    async def deployments(self) -> list[views.DeploymentState]:
        ids = dict.fromkeys(
            f"{d.provider}/{d.model}"
            for m in self.gw.settings.models.values()
            for d in m.deployments
        )
        out = []
        for dep_id in ids:
            stats = self.gw.breakers.get(dep_id).stats()
            health = self.gw.health.peek(dep_id)
            out.append(
                views.DeploymentState(
                    deployment=dep_id,
                    state=stats["state"],
                    forced=stats["forced"],
                    retry_after_s=stats["retry_after_s"],
                    in_flight=health.in_flight if health is not None else 0,
                    figures=self.live.deployment_figures(dep_id),
                    transitions=tuple(
                        {
                            "at": t["at"],
                            "from": t["from_state"],
                            "to": t["to_state"],
                            "reason": t["reason"],
                        }
                        for t in stats["transitions"]
                    ),
                )
            )
        return out

    async def cache(self) -> views.CacheCounts:
        c = self.live.cache
        return views.CacheCounts(c.enabled, c.hits, c.misses, c.savings)


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
        payload = await json_view(LiveData(gw, live), path, query_args(scope))
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


async def json_view(data: views.OpsData, path: str, args: dict[str, str]) -> Any:
    if path == "/admin/tenants":
        return await views.tenants_view(data)
    if path.startswith("/admin/tenants/"):
        return await views.tenant_detail(data, path[len("/admin/tenants/") :].strip("/"))
    if path == "/admin/deployments":
        return await views.deployments_view(data)
    if path == "/admin/cache":
        return await views.cache_view(data)
    limit = args.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_CALLS:
        raise BadRequest(f"'limit' must be an integer in [1, {MAX_CALLS}]", param="limit")
    return await views.calls_view(
        data, int(limit), args.get("tenant") or None, args.get("model") or None, args.get("status")
    )


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
