"""The admin API under ``/admin/``: operator state and actions, behind the admin key.

The admin key comes from the environment variable named by ``server.admin_key_env``
(``LLMGW_ADMIN_KEY``); tenant keys never reach these routes. Without an admin key configured
the admin API answers 403 and says how to turn it on.

    GET    /admin/breakers                          every deployment's breaker and its stats
    POST   /admin/breakers/{provider}/{model}       {"force": "open" | "closed" | null}
    GET    /admin/faults                            faults injected into this gateway
    POST   /admin/faults                            {"deployment", "kind", ..., "for_s"}
    DELETE /admin/faults[/{id}]                     clear all, or one
    /admin/usage, /admin/budgets[/{tenant}]         spend and limits (see ``admin_limits``)
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

import orjson

from llmgw.errors import (
    AuthenticationFailed,
    BadRequest,
    GatewayError,
    InternalError,
    NotFound,
    PermissionDenied,
)
from llmgw.gateway.asgi import JSON_HEADERS, Receive, Scope, Send, read_body, send_bytes
from llmgw.gateway.auth import presented_key
from llmgw.gateway.runtime import Gateway
from llmgw.mock.faults import Fault
from llmgw.ops import admin_limits
from llmgw.ops.admin_views import handle_admin_view
from llmgw.wire.limits import parse_body
from llmgw.wire.openai import CODEC

log = logging.getLogger("llmgw.ops")

MAX_ADMIN_BODY = 64 * 1024
MAX_FAULT_S = 24 * 3600.0


async def handle_admin(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ``/admin/...`` request; errors are OpenAI-shaped JSON."""
    try:
        authorize(gw, scope)
        if await handle_admin_view(gw, scope, receive, send):
            return
        status, payload = await route(gw, scope, receive)
    except GatewayError as err:
        status, payload = CODEC.encode_error(err)
    except Exception as exc:  # a bug: answer in shape, log the trace (never the body)
        log.exception("unexpected error in admin request %s %s", scope["method"], scope["path"])
        status, payload = CODEC.encode_error(
            InternalError(f"internal error ({type(exc).__name__})")
        )
    await send_bytes(send, status, orjson.dumps(payload), JSON_HEADERS)


def authorize(gw: Gateway, scope: Scope) -> None:
    if not gw.admin_key:
        raise PermissionDenied(
            f"the admin API is off: set {gw.settings.server.admin_key_env} when starting the "
            "gateway",
            code="admin_disabled",
        )
    key = presented_key(scope)
    if key is None or not hmac.compare_digest(key.encode(), gw.admin_key.encode()):
        raise AuthenticationFailed("admin key required", code="invalid_admin_key")


async def route(gw: Gateway, scope: Scope, receive: Receive) -> tuple[int, Any]:
    method: str = scope["method"]
    path: str = scope["path"]
    if path == "/admin/breakers" and method == "GET":
        return 200, {"breakers": breakers_view(gw)}
    if path.startswith("/admin/breakers/") and method == "POST":
        deployment = path[len("/admin/breakers/") :]
        body = await json_body(scope, receive)
        return 200, force_breaker(gw, deployment, body)
    if path == "/admin/faults":
        if method == "GET":
            return 200, {"faults": [f.to_dict() for f in gw.faults.active()]}
        if method == "POST":
            return 201, add_fault(gw, await json_body(scope, receive))
        if method == "DELETE":
            return 200, {"cleared": gw.faults.clear()}
    if path.startswith("/admin/faults/") and method == "DELETE":
        fault_id = path[len("/admin/faults/") :]
        if not gw.faults.remove(fault_id):
            raise NotFound(f"no injected fault {fault_id!r}", code="not_found")
        return 200, {"cleared": 1}
    if path == "/admin/usage" and method == "GET":
        return 200, await admin_limits.usage_view(gw, scope)
    if path == "/admin/budgets" and method == "GET":
        return 200, admin_limits.budgets_view(gw, scope)
    if path.startswith("/admin/budgets/"):
        tenant = path[len("/admin/budgets/") :]
        if method == "POST":
            return 200, await admin_limits.change_budget(
                gw, tenant, await json_body(scope, receive)
            )
        if method == "DELETE":
            return 200, await admin_limits.clear_budget(gw, tenant)
    raise NotFound(f"no admin route for {method} {path}", code="not_found")


async def json_body(scope: Scope, receive: Receive) -> dict[str, Any]:
    raw = await read_body(scope, receive, MAX_ADMIN_BODY)
    data = parse_body(raw or b"{}", "body")
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def deployment_ids(gw: Gateway) -> list[str]:
    seen: dict[str, None] = {}
    for model in gw.settings.models.values():
        for dep in model.deployments:
            seen[dep.id] = None
    return list(seen)


def breakers_view(gw: Gateway) -> list[dict[str, Any]]:
    out = []
    for dep_id in deployment_ids(gw):
        breaker = gw.breakers.get(dep_id)
        stats = breaker.stats()
        out.append(
            {
                "deployment": dep_id,
                "state": stats.pop("state"),
                "forced": stats.pop("forced"),
                "retry_after_s": round(stats.pop("retry_after_s"), 3),
                "transitions": [
                    {
                        "at": t["at"],
                        "from": t["from_state"],
                        "to": t["to_state"],
                        "reason": t["reason"],
                    }
                    for t in stats.pop("transitions")
                ],
                "stats": stats,
                "health": gw.health.get(dep_id).snapshot(),
            }
        )
    return out


def force_breaker(gw: Gateway, deployment: str, body: dict[str, Any]) -> dict[str, Any]:
    if deployment not in deployment_ids(gw):
        raise NotFound(f"no deployment {deployment!r}", code="not_found")
    force = body.get("force")
    if force not in ("open", "closed", None):
        raise BadRequest('\'force\' must be "open", "closed" or null', param="force")
    breaker = gw.breakers.get(deployment)
    breaker.force(force)
    return {"deployment": deployment, "state": breaker.state, "forced": breaker.forced}


def add_fault(gw: Gateway, body: dict[str, Any]) -> dict[str, Any]:
    body = dict(body)
    deployment = body.pop("deployment", None)
    if not isinstance(deployment, str) or not deployment:
        raise BadRequest("'deployment' (provider/model or \"*\") is required", param="deployment")
    if deployment != "*" and deployment not in deployment_ids(gw):
        raise NotFound(f"no deployment {deployment!r}", code="not_found")
    for_s = body.pop("for_s", 60.0)
    if (
        isinstance(for_s, bool)
        or not isinstance(for_s, int | float)
        or not 0 < for_s <= MAX_FAULT_S
    ):
        raise BadRequest(
            f"'for_s' must be a number of seconds in (0, {MAX_FAULT_S:g}]", param="for_s"
        )
    if body.get("kind") == "outage":  # an upstream answering 503
        body["kind"] = "status"
        body.setdefault("status", 503)
    body.setdefault("model", "*")
    try:
        fault = Fault.from_dict(body)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"bad fault: {exc}", param="kind") from None
    return gw.faults.add(deployment, fault, float(for_s)).to_dict()
