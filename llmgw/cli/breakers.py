"""``llmgw breakers``: circuit-breaker state per deployment, and operator overrides.

With ``--gateway`` it asks a running gateway's admin API (live state, stats, transitions);
without, it reads the state last saved in the SQLite state file (read-only). Forcing a breaker
needs a running gateway.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from llmgw.cli.admin_client import (
    ADMIN_KEY_OPTION,
    GATEWAY_OPTION,
    admin_call,
    resolve_admin_key,
)
from llmgw.cli.common import STATE_OPTION, console, fail, open_state, print_table
from llmgw.cli.options import AsJson
from llmgw.routing.breaker_store import load_snapshots, recent_transitions, saved_retry_after

app = typer.Typer(
    help="Circuit breakers per deployment: state, recent transitions, force open/closed.",
    invoke_without_command=True,
)

STATE_STYLE = {"closed": "green", "half_open": "yellow", "open": "bold red"}


@app.callback()
def show(
    ctx: typer.Context,
    gateway: str | None = GATEWAY_OPTION,
    admin_key: str | None = ADMIN_KEY_OPTION,
    state: Path | None = STATE_OPTION,
    as_json: AsJson = False,
) -> None:
    """Show every breaker (live with --gateway, else as last saved in the state file)."""
    if ctx.invoked_subcommand is not None:
        return
    if gateway:
        url = gateway.rstrip("/") + "/admin/breakers"
        rows = admin_call("GET", url, resolve_admin_key(admin_key)).get("breakers", [])
    else:
        rows = saved_breakers(state)
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table("deployment", "state", "forced", "retry in", "calls", "fail %", "trips", "last")
    for row in rows:
        stats = row.get("stats", {})
        last = row.get("transitions") or [{}]
        color = STATE_STYLE.get(row["state"], "")
        table.add_row(
            row["deployment"],
            f"[{color}]{row['state']}[/]",
            row.get("forced") or "",
            f"{row.get('retry_after_s', 0):.1f}s" if row["state"] == "open" else "",
            str(stats.get("calls", "")),
            f"{100 * stats['failure_rate']:.0f}" if "failure_rate" in stats else "",
            str(stats.get("trips", "")),
            last[-1].get("reason", ""),
        )
    print_table(table)


def saved_breakers(state: Path | None) -> list[dict[str, Any]]:
    """Breakers as the gateway last saved them (it saves every second and on shutdown)."""
    now = time.time()
    rows = []
    with open_state(state) as conn:
        for deployment, snap in sorted(load_snapshots(conn).items()):
            recent = recent_transitions(conn, deployment, limit=5)
            rows.append(
                {
                    "deployment": deployment,
                    "state": str(snap.get("state", "closed")),
                    "forced": snap.get("forced"),
                    "retry_after_s": saved_retry_after(snap, now),
                    "stats": {"trips": snap.get("trips", 0)},
                    "transitions": [
                        {"at": t.at, "from": t.from_state, "to": t.to_state, "reason": t.reason}
                        for t in reversed(recent)
                    ],
                }
            )
    return rows


@app.command("force")
def force(
    deployment: str = typer.Argument(..., help="provider/model, as listed."),
    to: str = typer.Argument(..., help="open | closed | auto (clear the override)."),
    gateway: str = typer.Option(..., "--gateway", help="A running gateway's URL."),
    admin_key: str | None = ADMIN_KEY_OPTION,
) -> None:
    """Hold a breaker open or closed until cleared with ``auto``."""
    if to not in ("open", "closed", "auto"):
        raise fail(f"bad state {to!r}: use open, closed or auto", 2)
    url = f"{gateway.rstrip('/')}/admin/breakers/{deployment}"
    body = {"force": None if to == "auto" else to}
    answer = admin_call("POST", url, resolve_admin_key(admin_key), body)
    console.print(f"{deployment}: {answer.get('state')} (forced: {answer.get('forced')})")
