"""The composition root: one gateway process assembled from its rooms.

``build_app`` builds the gateway runtime (``llmgw.gateway.runtime``) and attaches what sits
above it — the operator surfaces (live views, metrics, the admin API and budget alerts from
``llmgw.ops``) and shadow traffic (``llmgw.replay.shadow``) — through the gateway's hook
Protocols, then wraps it all in the ASGI app. Nothing below this module imports it.
"""

from __future__ import annotations

from pathlib import Path

from llmgw.gateway.app import GatewayApp
from llmgw.gateway.asgi import Receive, Scope, Send
from llmgw.gateway.runtime import Gateway, build_gateway
from llmgw.ops.admin import handle_admin
from llmgw.ops.alerting import AlertSink
from llmgw.ops.live import LiveState
from llmgw.providers.transport import Transport
from llmgw.replay.shadow import Shadow, load_shadow_policies
from llmgw.settings.schema import Settings


def assemble(gw: Gateway) -> GatewayApp:
    """Attach the operator surfaces and shadow traffic to ``gw``; the app that serves it."""
    live = LiveState(gw.settings, gw.state_path, gw.clock, breakers=gw.breakers)
    live.cache.enabled = gw.cache is not None
    gw.live = live
    gw.attach(live)
    alerts = AlertSink(gw.state_path, gw.settings.limits.alert_webhook, gw.clock)
    gw.alerts = alerts
    gw.attach(alerts)
    if load_shadow_policies(gw.settings):
        gw.shadow = Shadow.for_gateway(gw)

    async def admin(scope: Scope, receive: Receive, send: Send) -> None:
        await handle_admin(gw, scope, receive, send)

    return GatewayApp(gw, admin=admin)


def build_app(
    settings: Settings, state_path: Path, *, transport: Transport | None = None
) -> GatewayApp:
    """A complete gateway app for ``settings`` with its state in ``state_path``."""
    return assemble(build_gateway(settings, state_path, transport=transport))
