"""``llmgw audit replay | diff | runs``: validate another model against recorded traffic.

Registered on the ``audit`` app by ``llmgw.cli.main``. Exit codes: 0 done (no ``--fail-on``
rule crossed), 1 stopped at ``--max-cost``, calls failed, or a rule crossed, 2 bad input.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from llmgw.cli.common import (
    CONFIG_OPTION,
    STATE_OPTION,
    console,
    fail,
    open_state,
    print_table,
    resolve_state,
)
from llmgw.cli.options import AsJson, AuditFilters, audit_filters
from llmgw.replay import runs as run_store
from llmgw.replay.diff import CATEGORIES, DEFAULT_SIMILARITY, FINDINGS
from llmgw.replay.diff_report import ORIGINAL, load_diff, print_summary, to_json, to_markdown
from llmgw.replay.diff_rules import crossed, parse_rules
from llmgw.replay.runs import RunResult
from llmgw.settings.money import AmountError, format_cost, parse_nanos
from llmgw.store.db import Connection


def _max_cost(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        nanos = parse_nanos(text, allow_negative=True)
    except AmountError as exc:
        raise fail(f"--max-cost: {exc}", code=2) from None
    if nanos <= 0:
        raise fail("--max-cost must be more than 0", code=2)
    return nanos


@audit_filters
def replay(
    target: str | None = typer.Option(
        None, "--target", help="Public model to send the calls to (required unless --resume)."
    ),
    filters: AuditFilters = AuditFilters(),
    limit: int = typer.Option(100, "--limit", "-n", help="At most this many calls.", min=1),
    name: str | None = typer.Option(None, "--name", help="Run name (default: target + time)."),
    max_cost: str | None = typer.Option(None, "--max-cost", help="Stop at this spend (USD)."),
    concurrency: int = typer.Option(4, "--concurrency", help="Calls in flight.", min=1, max=64),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    resume: str | None = typer.Option(None, "--resume", help="Continue this run."),
    config: Path | None = CONFIG_OPTION,
    state: Path | None = STATE_OPTION,
) -> None:
    """Re-send recorded calls (those with a kept request body) to another model."""
    from llmgw.gateway.runtime import build_gateway
    from llmgw.replay.resend import prepare, select_originals
    from llmgw.settings import ConfigError, load_settings

    cap = _max_cost(max_cost)
    if target is None and resume is None:
        raise fail("--target is required (or --resume RUN)", code=2)
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc), code=2) from None
    chosen: dict[str, Any] = dict(filters.as_dict())
    with open_state(state, write=True, code=2) as conn:
        run = resume or name or f"{target}-{time.strftime('%Y%m%d-%H%M%S')}"
        target = target or ""
        existing = run_store.get_run(conn, run)
        if resume is not None:
            if existing is None:
                raise fail(f"no run named {resume!r} to resume", code=2)
            target, chosen = existing["target"], existing["source_filter"]
            limit = int(chosen.pop("limit", limit))
            cap = cap if cap is not None else existing["max_cost_nanos"]
        elif existing is not None:
            raise fail(f"run {run!r} exists: pick another --name or use --resume", code=2)
        gw = build_gateway(settings, resolve_state(state, code=2))
        target_model = gw.model(target)
        if target_model is None:
            raise fail(f"unknown target model {target!r}", code=2)
        try:
            rows = select_originals(conn, chosen, limit)
        except ValueError as exc:
            raise fail(str(exc), code=2) from None
        done = run_store.done_ids(conn, run) if resume else set()
        items, bad = prepare(gw, target_model, [r for r in rows if r["id"] not in done])
        estimate = sum(i.estimate_nanos for i in items)
        console.print(
            f"run [bold]{run}[/]: {len(items)} calls to [bold]{target_model.name}[/]"
            f" ({len(done)} already done, {len(bad)} not decodable); estimated cost "
            f"{format_cost(estimate)}" + (f", cap {format_cost(cap)}" if cap else ""),
            highlight=False,
        )
        if not items:
            raise typer.Exit(0)
        if not yes and not typer.confirm("Send them?", default=False):
            raise fail("cancelled", code=1)
        run_store.create_run(
            conn, run, target_model.name, {**chosen, "limit": limit}, max_cost_nanos=cap
        )
        run_store.set_status(conn, run, "running")
        spent = run_store.run_spend(conn, run)
        outcome = asyncio.run(_run(gw, target_model, items, conn, run, concurrency, cap, spent))
    _finish(run, outcome)


async def _run(
    gw: Any,
    target: Any,
    items: list[Any],
    conn: Connection,
    run: str,
    concurrency: int,
    cap: int | None,
    spent: int,
) -> Any:
    from llmgw.replay.resend import close_gateway, replay_items

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[spent]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task = progress.add_task(run, total=len(items), spent=format_cost(spent))
    total = [spent]

    def on_result(result: RunResult) -> None:
        total[0] += result.cost_nanos
        progress.update(task, advance=1, spent=format_cost(total[0]))

    try:
        with progress:
            outcome = await replay_items(
                gw,
                target,
                items,
                lambda r: run_store.save_result(conn, run, r),
                concurrency=concurrency,
                max_cost_nanos=cap,
                spent_nanos=spent,
                on_result=on_result,
            )
    finally:
        await close_gateway(gw)
    run_store.set_status(conn, run, "stopped" if outcome.stopped_at_cost else "done")
    return outcome


def _finish(run: str, outcome: Any) -> None:
    console.print(
        f"{outcome.done} sent, {outcome.errors} failed, spent {format_cost(outcome.spent_nanos)}",
        highlight=False,
    )
    if outcome.error_classes:
        failures = ", ".join(f"{k}: {v}" for k, v in sorted(outcome.error_classes.items()))
        console.print(f"failures: {failures}", highlight=False)
    if outcome.stopped_at_cost:
        raise fail(
            f"stopped at the cost cap with {outcome.not_sent} calls not sent; "
            f"continue with --resume {run} --max-cost <more>",
            code=1,
        )
    if outcome.errors:
        raise typer.Exit(1)


def diff(
    run_a: str = typer.Argument(..., help="A run name, or 'original' for the recorded answers."),
    run_b: str = typer.Argument(..., help="A run name, or 'original'."),
    similarity: float = typer.Option(
        DEFAULT_SIMILARITY, "--similarity", help="Text similarity counted as equivalent (0-1)."
    ),
    show: str | None = typer.Option(
        None, "--show", help="List items of this category or finding (e.g. different)."
    ),
    json_file: Path | None = typer.Option(None, "--json", help="Write a JSON report here."),
    markdown_file: Path | None = typer.Option(None, "--markdown", help="Write Markdown here."),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        help="Exit 1 when a rule is crossed: METRIC OP NUMBER[%], comma-separated, e.g. "
        "'different>10%,json_broken>0,tool_calls_changed>0,cost_delta>+20%'.",
    ),
    state: Path | None = STATE_OPTION,
) -> None:
    """Compare two runs (or a run and the recorded answers), paired by original call."""
    if not 0 <= similarity <= 1:
        raise fail("--similarity must be between 0 and 1", code=2)
    if show is not None and show not in (*CATEGORIES, *FINDINGS):
        raise fail(f"bad --show {show!r}: one of {', '.join((*CATEGORIES, *FINDINGS))}", code=2)
    try:
        rules = parse_rules(fail_on) if fail_on is not None else []
    except ValueError as exc:
        raise fail(f"bad --fail-on: {exc}", code=2) from None
    with open_state(state, write=True, code=2) as conn:
        try:
            result = load_diff(conn, run_a, run_b, similarity)
        except ValueError as exc:
            raise fail(str(exc), code=2) from None
    try:
        if json_file is not None:
            data = to_json(result, None)
            json_file.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        if markdown_file is not None:
            markdown_file.write_text(to_markdown(result, show or "different"))
    except OSError as exc:
        raise fail(f"cannot write the report: {exc}", code=2) from None
    print_summary(console, result, show)
    hits = crossed(result.summary, rules)
    for rule, value in hits:
        console.print(f"[bold red]crossed:[/] {rule} (value {value:.2f})", highlight=False)
    if hits:
        raise typer.Exit(1)


def runs(
    as_json: AsJson = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """List replay and shadow runs with their result counts and spend."""
    with open_state(state, write=True, code=2) as conn:
        listed = run_store.list_runs(conn)
    if as_json:
        typer.echo(json.dumps(listed, indent=2))
        return
    if not listed:
        console.print("no runs", highlight=False)
        return
    table = Table("name", "kind", "target", "status", "results", "ok", "errors", "spend", "created")
    for r in listed:
        table.add_row(
            r["name"],
            r["kind"],
            r["target"],
            r["status"],
            str(r["results"]),
            str(r["ok"]),
            str(r["errors"]),
            format_cost(int(r["cost_nanos"])),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created_at"])),
        )
    print_table(table)


__all__ = ["ORIGINAL", "diff", "replay", "runs"]
