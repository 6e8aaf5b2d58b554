"""``llmgw usage``: spend, requests, tokens and errors grouped by tenant, model, day or provider."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, cast

import typer
from rich.table import Table

from llmgw.audit.query import parse_time
from llmgw.cli.common import (
    STATE_OPTION,
    check_formats,
    check_tenant,
    console,
    fail,
    open_state,
    print_csv,
    print_table,
)
from llmgw.cli.options import AsCsv, AsJson, Since, TenantScope, Until
from llmgw.limits.ledger import USAGE_BY, UsageBy
from llmgw.limits.ledger import usage as ledger_usage
from llmgw.settings.money import format_usd

_SUMMED = (
    "spend_nanos",
    "requests",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "errors",
    "cache_hits",
    "cache_savings_nanos",
)


def usage(
    by: str = typer.Option("tenant", "--by", "-b", help="Group by tenant, model, day or provider."),
    since: Since = "7d",
    until: Until = None,
    tenant: TenantScope = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """Spend and usage from the ledger (days are UTC; cache hits count as savings)."""
    check_formats(as_json, as_csv)
    if by not in USAGE_BY:
        raise fail(f"bad --by {by!r}: use one of {', '.join(USAGE_BY)}", code=2)
    scope = check_tenant(tenant) if tenant else None
    now = time.time()
    try:
        start = parse_time("7d" if since is None else since, now=now)
        end = parse_time(until, now=now) if until else None
        if end is not None and start > end:
            raise ValueError("--since is later than --until")
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    with open_state(state) as conn:
        rows = ledger_usage(conn, cast(UsageBy, by), start, end, scope)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif as_csv:
        print_csv(rows)
    else:
        _print(by, rows)


def totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Column sums of usage rows."""
    return {name: sum(int(r[name]) for r in rows) for name in _SUMMED}


def _print(by: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no calls in this period", highlight=False)
        return
    table = Table(by, show_footer=True)
    table.columns[0].footer = "total"
    heads = ("spend", "requests", "tokens in", "tokens out", "cached", "errors", "cache saved")
    sums = totals(rows)
    footers = (
        format_usd(sums["spend_nanos"]),
        str(sums["requests"]),
        str(sums["input_tokens"]),
        str(sums["output_tokens"]),
        str(sums["cached_tokens"]),
        str(sums["errors"]),
        format_usd(sums["cache_savings_nanos"]),
    )
    for head, foot in zip(heads, footers, strict=True):
        table.add_column(head, justify="right", footer=foot)
    for r in rows:
        table.add_row(
            r[by] or "—",
            format_usd(r["spend_nanos"]),
            str(r["requests"]),
            str(r["input_tokens"]),
            str(r["output_tokens"]),
            str(r["cached_tokens"]),
            str(r["errors"]),
            format_usd(r["cache_savings_nanos"]),
        )
    print_table(table)
