"""``llmgw chaos``: run TOML drills against a gateway, or inject and clear faults by hand.

Exit codes of ``run``: 0 every SLO held, 1 one failed (or the stack would not start), 2 the drill
file is bad (one line: file, key path, problem).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import typer

from llmgw.cli.admin_client import (
    ADMIN_KEY_OPTION,
    GATEWAY_OPTION,
    admin_call,
    resolve_admin_key,
)
from llmgw.cli.common import console, err_console, fail

app = typer.Typer(
    help="Chaos drills: outages, brownouts, 429 storms, slow and broken streams, scored.",
    no_args_is_help=True,
)

KEY_ENV = "LLMGW_CHAOS_KEY"
_GATEWAY = GATEWAY_OPTION
_ADMIN = ADMIN_KEY_OPTION
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``60s``, ``2m``, ``500ms`` or a bare number of seconds -> seconds; ValueError if bad."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"bad duration {text!r} (e.g. 60s, 2m, 500ms)")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


@app.command("run")
def run(
    drill_file: Path = typer.Argument(..., help="The drill (TOML), e.g. examples/drills/*.toml."),
    gateway: str | None = _GATEWAY,
    admin_key: str | None = _ADMIN,
    key: list[str] | None = typer.Option(
        None, "--key", help="Client key for --gateway (repeatable; default $LLMGW_CHAOS_KEY)."
    ),
    report: Path | None = typer.Option(None, "--report", help="Write the JSON report here."),
    duration_scale: float = typer.Option(
        1.0, "--duration-scale", min=0.001, help="Multiply every time in the drill (CI: 0.25)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live progress, no scorecard."),
) -> None:
    """Run a drill; exit 0 if every SLO held, 1 if one failed, 2 for a bad drill file."""
    from llmgw.chaos.drill import DrillError, load_drill
    from llmgw.chaos.harness import HarnessError
    from llmgw.chaos.report import print_scorecard, report_dict
    from llmgw.chaos.runner import run_drill

    try:
        drill = load_drill(drill_file).scaled(duration_scale)
    except DrillError as exc:
        raise fail(str(exc), 2) from None
    keys: list[tuple[str, str]] = []
    if gateway is not None:
        admin = admin_key or os.environ.get("LLMGW_ADMIN_KEY", "")
        secrets = key or [k for k in [os.environ.get(KEY_ENV, "")] if k]
        if not secrets:
            raise fail(f"--gateway needs a client key: --key or ${KEY_ENV}", 2)
        keys = [(f"key{i + 1}", s) for i, s in enumerate(secrets)]
    try:
        if quiet:
            result = run_drill(drill, gateway, admin if gateway else "", keys)
        else:
            result = _run_live(drill, gateway, admin if gateway else "", keys)
    except HarnessError as exc:
        raise fail(str(exc), 1) from None
    except OSError as exc:
        raise fail(f"cannot run the drill: {exc}", 1) from None
    if report is not None:
        try:
            report.write_text(json.dumps(report_dict(result, duration_scale), indent=2))
        except OSError as exc:
            raise fail(f"cannot write {report}: {exc.strerror or exc}") from None
    if not quiet:
        print_scorecard(console, result)
    elif not result.scorecard.passed:
        failed = [v.name for v in result.scorecard.verdicts if v.passed is False]
        err_console.print(f"{drill.name}: SLO failed: {', '.join(failed)}", highlight=False)
    raise typer.Exit(0 if result.scorecard.passed else 1)


def _run_live(drill: Any, gateway: str | None, admin: str, keys: list[tuple[str, str]]) -> Any:
    from rich.live import Live

    from llmgw.chaos.report import progress_view
    from llmgw.chaos.runner import Progress, run_drill

    with Live(console=console, refresh_per_second=4, transient=True) as live:

        def tick(p: Progress) -> None:
            live.update(progress_view(p))

        return run_drill(drill, gateway, admin, keys, tick)


@app.command("inject")
def inject(
    gateway: str = typer.Option(..., "--gateway", help="The gateway's URL."),
    admin_key: str | None = _ADMIN,
    deployment: str = typer.Option(..., "--deployment", help='"provider/model", or "*".'),
    fault: str = typer.Option(..., "--fault", help="outage, status:503, rate_limit,retry_after=1"),
    for_: str = typer.Option("60s", "--for", help="How long: 60s, 2m, 500ms."),
) -> None:
    """Inject a fault at the gateway's provider adapter; prints the fault id."""
    from llmgw.chaos.drill import parse_fault_spec

    try:
        parsed = parse_fault_spec(fault)
        seconds = parse_duration(for_)
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    fields = {k: v for k, v in parsed.to_dict().items() if v is not None and k != "model"}
    body = {"deployment": deployment, **fields, "for_s": seconds}
    url = gateway.rstrip("/") + "/admin/faults"
    answer = admin_call("POST", url, resolve_admin_key(admin_key), body)
    console.print(str(answer.get("id", "")) if isinstance(answer, dict) else "", highlight=False)


@app.command("clear")
def clear(
    gateway: str = typer.Option(..., "--gateway", help="The gateway's URL."),
    admin_key: str | None = _ADMIN,
    fault_id: str | None = typer.Option(None, "--id", help="Clear one fault (default: all)."),
) -> None:
    """Clear injected faults (all, or one by id)."""
    url = gateway.rstrip("/") + "/admin/faults" + (f"/{fault_id}" if fault_id else "")
    admin_call("DELETE", url, resolve_admin_key(admin_key))
    console.print("cleared", highlight=False)
