"""``llmgw budgets``: set, list and clear money budgets and rate limits at run time.

Overrides live in the state file (``llmgw.limits.overrides``) and replace a node's configured
limits; a running gateway picks them up within a second.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from llmgw.cli.common import (
    CONFIG_OPTION,
    STATE_OPTION,
    check_formats,
    check_tenant,
    console,
    fail,
    load_config,
    open_state,
    print_csv,
    print_table,
)
from llmgw.cli.options import AsCsv, AsJson, TenantScope
from llmgw.limits import overrides
from llmgw.limits.report import budget_rows, config_limits
from llmgw.settings.money import format_usd, parse_nanos, parse_usd
from llmgw.settings.schema import TenantLimits

app = typer.Typer(
    help="Money budgets and rate limits per tenant, changed at run time (no restart).",
    no_args_is_help=True,
)

NO_LIMIT_WORDS = ("none", "off", "unlimited")


def budget_label(status: dict[str, Any]) -> str:
    """``day``, ``month``, ``window 3600s``, with `` · model`` for a per-model budget."""
    period = str(status["period"])
    text = f"window {status['window_s']}s" if period == "window" else period
    return f"{text} · {status['model']}" if status["model"] else text


# -- commands ---------------------------------------------------------------------------------


def _period(
    daily: str | None, monthly: str | None, window_s: int | None, amount: str | None
) -> tuple[str, str, int | None]:
    """(period, amount, window_s) from the mutually exclusive period options."""
    chosen = [name for name, v in (("--daily", daily), ("--monthly", monthly)) if v is not None]
    if window_s is not None:
        chosen.append("--window-s")
    if len(chosen) != 1:
        raise fail("give exactly one of --daily X, --monthly X, --window-s N --amount X", code=2)
    if window_s is not None:
        if amount is None:
            raise fail("--window-s needs --amount X (dollars per window)", code=2)
        return "window", amount, window_s
    if amount is not None:
        raise fail("--amount goes with --window-s only", code=2)
    if daily is not None:
        return "day", daily, None
    return "month", str(monthly), None


@app.command("set")
def set_cmd(
    tenant: str = typer.Argument(..., help="Tenant path, e.g. acme or acme/search."),
    daily: str | None = typer.Option(None, "--daily", help="Dollars per UTC day."),
    monthly: str | None = typer.Option(None, "--monthly", help="Dollars per calendar month."),
    window_s: int | None = typer.Option(None, "--window-s", help="Fixed window in seconds."),
    amount: str | None = typer.Option(None, "--amount", help="Dollars per --window-s window."),
    hard: bool = typer.Option(True, "--hard/--soft", help="Reject (hard) or only alert (soft)."),
    model: str | None = typer.Option(None, "--model", "-m", help="Only calls to this model."),
    as_json: AsJson = False,
    config: Path | None = CONFIG_OPTION,
    state: Path | None = STATE_OPTION,
) -> None:
    """Set a budget on a tenant, replacing one with the same period and model."""
    tenant = check_tenant(tenant)
    period, value, window = _period(daily, monthly, window_s, amount)
    try:
        limit_usd = parse_usd(value)  # "12.50" or "$12.50"; one-line error otherwise
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    settings = load_config(config)
    if model is not None and config is not None:
        from llmgw.settings import resolve_model

        found = resolve_model(settings, model)
        if found is None:
            raise fail(f"unknown model {model!r} in {config}", code=2)
        model = found.name
    declared = settings.tenants.get(tenant)
    base = declared.limits if declared is not None else None
    try:
        budget = overrides.make_budget(period, limit_usd, hard=hard, model=model, window_s=window)
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    with open_state(state, write=True, create=True) as conn:
        limits = overrides.set_budget(
            conn, tenant, budget.period, budget.limit_usd, hard, model, window, base=base
        )
    if as_json:
        typer.echo(json.dumps({"tenant": tenant, **_limits_json(limits)}, indent=2))
        return
    kind = "hard" if hard else "soft"
    label = budget_label({"period": period, "window_s": window, "model": model})
    shown = format_usd(parse_nanos(budget.limit_usd))
    console.print(f"{tenant}: {kind} {label} budget {shown}", highlight=False)


@app.command("rates")
def rates_cmd(
    tenant: str = typer.Argument(..., help="Tenant path, e.g. acme or acme/search."),
    rpm: str | None = typer.Option(None, "--rpm", help="Requests per minute, or 'none'."),
    tpm: str | None = typer.Option(None, "--tpm", help="Tokens per minute, or 'none'."),
    concurrency: str | None = typer.Option(
        None, "--concurrency", help="Calls in flight at once, or 'none'."
    ),
    as_json: AsJson = False,
    config: Path | None = CONFIG_OPTION,
    state: Path | None = STATE_OPTION,
) -> None:
    """Set a tenant's rate limits; the ones not given stay as they are."""
    tenant = check_tenant(tenant)
    if rpm is None and tpm is None and concurrency is None:
        raise fail("give at least one of --rpm, --tpm, --concurrency", code=2)
    new_rpm, new_tpm, new_conc = (
        _rate_value(name, text)
        for name, text in (("rpm", rpm), ("tpm", tpm), ("concurrency", concurrency))
    )
    declared = load_config(config).tenants.get(tenant)
    base = declared.limits if declared is not None else None
    with open_state(state, write=True, create=True) as conn:
        limits = overrides.set_rates(conn, tenant, new_rpm, new_tpm, new_conc, base=base)
    if as_json:
        typer.echo(json.dumps({"tenant": tenant, **_limits_json(limits)}, indent=2))
        return
    shown = ", ".join(f"{n} {_show(getattr(limits, n))}" for n in overrides.RATE_FIELDS)
    console.print(f"{tenant}: {shown}", highlight=False)


def _rate_value(name: str, text: str | None) -> int | overrides.Keep | None:
    """An option's rate: KEEP when not given, None for 'none', else a positive integer."""
    if text is None:
        return overrides.KEEP
    if text.strip().lower() in NO_LIMIT_WORDS:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise fail(f"--{name} must be a positive integer or 'none', got {text!r}", code=2)
    return value


def _show(value: int | None) -> str:
    return "—" if value is None else str(value)


@app.command("clear")
def clear_cmd(
    tenant: str = typer.Argument(..., help="Tenant path whose overrides to drop."),
    state: Path | None = STATE_OPTION,
) -> None:
    """Drop a tenant's run-time budgets and rates: its configured limits apply again."""
    tenant = check_tenant(tenant)
    with open_state(state, write=True, create=True) as conn:
        removed = overrides.clear(conn, tenant)
    if not removed:
        raise fail(f"no overrides on tenant {tenant!r}")
    console.print(f"{tenant}: overrides cleared, configured limits apply", highlight=False)


@app.command("list")
def list_cmd(
    tenant: TenantScope = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
    config: Path | None = CONFIG_OPTION,
    state: Path | None = STATE_OPTION,
) -> None:
    """Every budget in force (config and overrides) with its spend this period."""
    check_formats(as_json, as_csv)
    scope = check_tenant(tenant) if tenant else None
    settings = load_config(config)
    now = time.time()
    with open_state(state) as conn:
        rows = budget_rows(conn, config_limits(settings), now, scope)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    elif as_csv:
        print_csv(rows)
    else:
        _print_budgets(rows)


def _print_budgets(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no budgets", highlight=False)
        return
    table = Table("tenant", "budget", "kind", "source")
    for name in ("limit", "spent", "used"):
        table.add_column(name, justify="right")
    for r in rows:
        used = "" if r["used_pct"] is None else f"{r['used_pct']}%"
        table.add_row(
            r["tenant"],
            budget_label(r),
            "hard" if r["hard"] else "soft",
            r["source"],
            format_usd(r["limit_nanos"]),
            format_usd(r["spent_nanos"]),
            used,
        )
    print_table(table)


def _limits_json(limits: TenantLimits) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(overrides.limits_to_json(limits))
    return data
