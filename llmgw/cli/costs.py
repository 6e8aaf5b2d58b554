"""``llmgw costs``: check the gateway's computed costs against a provider's bill."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import typer
from rich.table import Table

from llmgw.audit import reconcile as rec
from llmgw.cli.common import STATE_OPTION, console, fail, open_state, print_table
from llmgw.cli.options import AsJson
from llmgw.settings.money import format_cost, usd_to_nanos

app = typer.Typer(help="Costs: reconcile the audit log with a provider's bill.")


@app.callback()
def _costs() -> None:
    """Costs: reconcile the audit log with a provider's bill."""


def _usd(value: Decimal | None) -> str:
    """A bill or gateway amount to the nano-dollar, ``-$0.040000`` for a negative difference."""
    return "—" if value is None else format_cost(usd_to_nanos(value))


@app.command()
def reconcile(
    bill: Path = typer.Argument(..., help="Bill CSV: date (YYYY-MM-DD), model, cost_usd."),
    provider: str | None = typer.Option(
        None, "--provider", "-p", help="Only this provider's calls (and bill lines)."
    ),
    tolerance: str = typer.Option("1%", "--tolerance", help="Allowed difference, e.g. 1%."),
    as_json: AsJson = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """Compare cost per UTC day and served model; exit 1 if any line is flagged.

    The amount column may be called cost_usd, amount, amount_usd or cost; a provider column,
    if present, is matched against --provider.
    """
    try:
        tol = rec.parse_tolerance(tolerance)
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    with open_state(state) as conn:
        try:
            with bill.open(encoding="utf-8", newline="") as fh:
                lines = rec.reconcile(conn, fh, provider=provider, tolerance=tol)
        except rec.BillError as exc:
            raise fail(f"{bill}: {exc}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"cannot read {bill}: {exc}") from None
    flagged = sum(1 for line in lines if line.flagged)
    if as_json:
        typer.echo(
            json.dumps({"lines": [x.as_dict() for x in lines], "flagged": flagged}, indent=2)
        )
    else:
        table = Table("date", "model")
        for name in ("bill", "gateway", "difference"):
            table.add_column(name, justify="right")
        table.add_column("")
        for x in lines:
            mark = f"[red]✗ {x.reason}[/]" if x.flagged else "ok"
            table.add_row(x.day, x.model, _usd(x.bill), _usd(x.gateway), _usd(x.difference), mark)
        print_table(table)
        console.print(f"{flagged} of {len(lines)} lines flagged", highlight=False)
    if flagged:
        raise typer.Exit(1)
