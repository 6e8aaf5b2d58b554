"""``llmgw tui``: the live operations view of a running gateway, or of a state file."""

from __future__ import annotations

from pathlib import Path

import typer

from llmgw.cli.admin_client import ADMIN_KEY_OPTION, GATEWAY_OPTION, resolve_admin_key
from llmgw.cli.common import fail, resolve_state


def tui(
    gateway: str | None = GATEWAY_OPTION,
    admin_key: str | None = ADMIN_KEY_OPTION,
    state: Path | None = typer.Option(
        None, "--state", help="Open a state file read-only instead of a running gateway."
    ),
) -> None:
    """Tenants, deployments and live calls; act on breakers and faults (keys: ? for help)."""
    if (gateway is None) == (state is None):
        raise fail("give exactly one of --gateway URL or --state FILE", 2)
    from llmgw.tui.source import AdminSource, SourceError, check_gateway
    from llmgw.tui.state_source import StateSource

    try:
        if gateway is not None:
            key = resolve_admin_key(admin_key)
            check_gateway(gateway, key)
            source: AdminSource | StateSource = AdminSource(gateway, key)
        else:
            source = StateSource(resolve_state(state))
    except SourceError as exc:
        raise fail(str(exc)) from None
    from llmgw.tui.app import GatewayTUI

    GatewayTUI(source).run()
