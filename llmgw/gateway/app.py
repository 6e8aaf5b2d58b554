"""The gateway's ASGI application: routes, lifespan, and the catch-all error answer.

The operator routes (``/admin/...`` and ``/metrics``) belong to ``llmgw.ops``, above the
gateway: the composition root (``llmgw.assembly``) passes their handler in as ``admin``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import orjson

from llmgw.errors import AuthenticationFailed, NotFound
from llmgw.gateway.asgi import JSON_HEADERS, Receive, Scope, Send, send_bytes
from llmgw.gateway.cache_api import FLAG_PATH, handle_flag
from llmgw.gateway.pipeline import handle_chat
from llmgw.gateway.respond import inbound_api, method_not_allowed, send_error
from llmgw.gateway.runtime import Gateway

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("llmgw.gateway")

CHAT_ROUTES = {
    "/v1/chat/completions": "openai",
    "/chat/completions": "openai",
    "/v1/messages": "anthropic",
}


class GatewayApp:
    """``await app(scope, receive, send)``: the whole HTTP surface of ``llmgw serve``."""

    def __init__(self, gateway: Gateway, admin: Handler | None = None) -> None:
        self.gw = gateway
        self.admin = admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self.http(scope, receive, send)
            except asyncio.CancelledError:
                # the server ends calls still open at its drain deadline by cancelling them:
                # each has already ended its answer in-band and kept its row, so this is the
                # expected way out, not an error for the server to log
                return
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        api = CHAT_ROUTES.get(path)
        if api is not None:
            if method == "POST":
                if self.gw.audit.congested:  # rows are waiting: hold the call before its body
                    await self.gw.audit.wait_for_room()
                await handle_chat(self.gw, api, scope, receive, send)
            else:
                await send_error(send, api, method_not_allowed(method, path))
            return
        if (path.startswith("/admin/") or path == "/metrics") and self.admin is not None:
            await self.admin(scope, receive, send)  # both behind the admin key
        elif path == FLAG_PATH:
            if method == "POST":
                await handle_flag(self.gw, scope, receive, send)
            else:
                await send_error(send, inbound_api(scope), method_not_allowed(method, path))
        elif path == "/v1/models" or path == "/models":
            await self.models(scope, send)
        elif path == "/healthz":
            await send_bytes(send, 200, b'{"status":"ok"}', JSON_HEADERS)
        elif path == "/readyz":
            ready = self.gw.ready
            body = orjson.dumps({"status": "ready" if ready else "starting"})
            await send_bytes(send, 200 if ready else 503, body, JSON_HEADERS)
        else:
            err = NotFound(f"no route for {method} {path}", code="not_found")
            await send_error(send, inbound_api(scope), err)

    async def models(self, scope: Scope, send: Send) -> None:
        """``GET /v1/models``: the models this key may use, in the caller's format."""
        api = inbound_api(scope)
        try:
            key = await self.gw.keys.authenticate(scope)
        except AuthenticationFailed as err:
            await send_error(send, api, err)
            return
        models = self.gw.visible_models(key.tenant)
        created = int(self.gw.started_at)
        if api == "anthropic":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
            data = [
                {"type": "model", "id": m.name, "display_name": m.name, "created_at": stamp}
                for m in models
            ]
            payload: dict[str, object] = {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        else:
            payload = {
                "object": "list",
                "data": [
                    {"id": m.name, "object": "model", "created": created, "owned_by": "llmgw"}
                    for m in models
                ],
            }
        await send_bytes(send, 200, orjson.dumps(payload), JSON_HEADERS)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gw.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.gw.stop()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return
