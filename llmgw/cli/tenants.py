"""``llmgw tenants``: the tenant tree with its limits, budgets, spend and keys.

Nodes are the declared tenants and their implicit parents, plus every tenant seen in the
ledger, holding keys or carrying a run-time override. Limits are the configured ones with
state overrides applied (``llmgw budgets`` changes those).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from llmgw.cli.budgets import budget_label
from llmgw.cli.common import (
    CONFIG_OPTION,
    STATE_OPTION,
    console,
    load_config,
    open_state,
    print_table,
)
from llmgw.cli.options import AsJson
from llmgw.limits.report import config_limits, tenant_rows
from llmgw.settings.money import format_usd

app = typer.Typer(help="The tenant tree: limits, budgets, spend and keys per node.")


@app.callback(invoke_without_command=True)
def tenants(
    as_json: AsJson = False,
    config: Path | None = CONFIG_OPTION,
    state: Path | None = STATE_OPTION,
) -> None:
    """Show every tenant with its rates, budgets (spent this period), spend and keys."""
    settings = load_config(config)
    now = time.time()
    with open_state(state) as conn:
        rows = tenant_rows(conn, config_limits(settings), now)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        _print(rows)


def _limit(value: int | None) -> str:
    return "—" if value is None else str(value)


def _budgets(budgets: list[dict[str, Any]]) -> str:
    lines = []
    for b in budgets:
        used = "" if b["used_pct"] is None else f" ({b['used_pct']}%)"
        kind = "hard" if b["hard"] else "soft"
        spent, limit = format_usd(b["spent_nanos"]), format_usd(b["limit_nanos"])
        lines.append(f"{budget_label(b)} {kind}: {spent} of {limit}{used}")
    return "\n".join(lines) or "—"


def _print(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no tenants", highlight=False)
        return
    table = Table("tenant")
    for name in ("rpm", "tpm", "concurrency"):
        table.add_column(name, justify="right")
    table.add_column("budgets (this period)")
    for name in ("today", "this month", "keys"):
        table.add_column(name, justify="right")
    for r in rows:
        depth = r["tenant"].count("/")
        name = r["tenant"].rsplit("/", 1)[-1]
        mark = " *" if r["override"] else ""
        table.add_row(
            "  " * depth + name + mark,
            _limit(r["rpm"]),
            _limit(r["tpm"]),
            _limit(r["concurrency"]),
            _budgets(r["budgets"]),
            f"${r['spend_today_usd']}",
            f"${r['spend_month_usd']}",
            str(r["keys"]),
        )
    print_table(table)
    if any(r["override"] for r in rows):
        console.print("* limits set at run time (llmgw budgets)", style="dim", highlight=False)
