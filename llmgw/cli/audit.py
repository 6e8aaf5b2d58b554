"""``llmgw audit``: query the audit log, show single calls, verify, prune and export it."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.syntax import Syntax
from rich.table import Table

from llmgw.audit import export as audit_export
from llmgw.audit import prune as audit_prune
from llmgw.audit import query as audit_query
from llmgw.audit import verify as audit_verify
from llmgw.cli.common import (
    STATE_OPTION,
    console,
    err_console,
    fail,
    open_state,
    print_table,
    resolve_state,
)
from llmgw.cli.options import AsJson, AuditFilters, audit_filters
from llmgw.store.db import DatabaseError

app = typer.Typer(
    help="The audit log: every call with its tenant, route, tokens, cost and outcome.",
    no_args_is_help=True,
)

BODY_COLUMNS = ("request_body", "response_body")


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def _dollars(nanos: int | None) -> str:
    """Exact cost in dollars (nanos / 1e9), trailing zeros trimmed to at least 2 places."""
    value = Decimal(int(nanos or 0)).scaleb(-9)
    text = f"{value:.9f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _model(row: dict[str, Any]) -> str:
    requested, served = row.get("requested_model") or "", row.get("served_model") or ""
    if served and served != requested:
        return f"{requested} → {served}"
    return requested


@app.command("query")
@audit_filters
def query_cmd(
    filters: AuditFilters,
    limit: int = typer.Option(50, "--limit", "-n", help="At most this many rows."),
    as_json: AsJson = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (without the bodies).")] = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """List calls, newest first."""
    if as_json and as_csv:
        raise fail("choose one of --json and --csv", code=2)
    with open_state(state) as conn:
        try:
            rows = audit_query.query(conn, **filters.as_dict(), limit=limit)
        except ValueError as exc:
            raise fail(str(exc), code=2) from None
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
    elif as_csv:
        _print_csv(rows)
    else:
        _print_table(rows)


def _print_csv(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    fields = [name for name in rows[0] if name not in BODY_COLUMNS]
    out = typer.get_text_stream("stdout")
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "attempt_log": json.dumps(row.get("attempt_log"))})


def _print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no matching calls", highlight=False)
        return
    table = Table("time")
    table.add_column("id", no_wrap=True, min_width=30)  # whole: it is what show takes
    table.add_column("tenant", overflow="fold")
    for name in ("api", "model", "provider", "status", "tokens in/out"):
        table.add_column(name)
    table.add_column("cost", justify="right")
    table.add_column("latency ms", justify="right")
    table.add_column("ttft ms", justify="right")
    for r in rows:
        status = str(r["status"]) if r["outcome"] == "ok" else f"{r['status']} {r['outcome']}"
        table.add_row(
            _time(r["ts"]),
            r["id"],
            r["tenant"],
            r["api"] or "",
            _model(r),
            r["provider"] or "",
            status,
            f"{r['input_tokens']}/{r['output_tokens']}" + ("~" if r["usage_estimated"] else ""),
            _dollars(r["cost_nanos"]),
            _ms(r["latency_ms"]),
            _ms(r["ttft_ms"]),
        )
    print_table(table)


@app.command()
def show(
    request_id: str = typer.Argument(..., help="The request id (req_…), e.g. from x-request-id."),
    as_json: AsJson = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """Every field of one call, bodies pretty-printed."""
    with open_state(state) as conn:
        row = audit_query.get(conn, request_id)
    if row is None:
        raise fail(f"no audit record with id {request_id!r}")
    if as_json:
        typer.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in row.items():
        if name in BODY_COLUMNS or name == "attempt_log":
            continue
        table.add_row(name, _field(name, value))
    console.print(table)
    console.print("[bold]attempt_log[/]")
    console.print(Syntax(json.dumps(row.get("attempt_log"), indent=2), "json", word_wrap=True))
    for name in BODY_COLUMNS:
        console.print(f"[bold]{name}[/]")
        console.print(_body(row.get(name)))


def _field(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name == "ts":
        return f"{value} ({_iso(value)})"
    if name == "cost_nanos":
        return f"{value} ({_dollars(value)})"
    return str(value)


def _body(text: str | None) -> Syntax | str:
    if text is None:
        return "  (not kept)"
    try:
        pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return Syntax(text, "text", word_wrap=True)
    return Syntax(pretty, "json", word_wrap=True)


@app.command()
def verify(
    as_json: AsJson = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """Check the hash chain: exit 0 if intact, 1 with the first altered/removed/reordered row.

    Starts from the newest prune checkpoint, whose signature is checked with $LLMGW_AUDIT_KEY
    or the audit.key file next to the state file.
    """
    path = resolve_state(state)
    try:
        key: bytes | None = audit_prune.load_key(path, create=False)
    except (audit_prune.KeyMissing, ValueError, OSError):
        key = None
    with open_state(path) as conn:
        report = audit_verify.verify(conn, key)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    elif report.finding is None:
        legacy = f" ({report.legacy} older rows without a hash)" if report.legacy else ""
        start = f", from checkpoint {report.checkpoint}" if report.checkpoint else ""
        console.print(f"ok: {report.rows} rows intact{start}{legacy}", highlight=False)
    if report.finding is not None:
        if not as_json:
            raise fail(report.finding.line())
        raise typer.Exit(1)


@app.command()
def prune(
    older_than: str = typer.Option(..., "--older-than", help="Age of the cut: 90d, 12w, 24h."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete (otherwise only show)."),
    state: Path | None = STATE_OPTION,
) -> None:
    """Delete old rows, leaving a signed checkpoint so the rest stays verifiable.

    The checkpoint is signed with $LLMGW_AUDIT_KEY, or with a key generated once into
    audit.key next to the state file (mode 0600): keep it with the state.
    """
    try:
        cut = audit_query.parse_time(older_than)
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    path = resolve_state(state)
    with open_state(path, write=True) as conn:
        try:
            if not yes:
                plan = audit_prune.plan(conn, cut)
                if plan.count == 0:
                    console.print(f"nothing older than {_iso(cut)} to prune", highlight=False)
                else:
                    console.print(
                        f"would delete {plan.count} rows (seq {plan.first_seq}..{plan.last_seq},"
                        f" {_iso(plan.oldest_ts or 0)} to {_iso(plan.newest_ts or 0)}); "
                        "run again with --yes to delete",
                        highlight=False,
                    )
                return
            key = audit_prune.load_key(path, create=True)
            done, cp = audit_prune.prune(conn, cut, key)
        except (DatabaseError, OSError, ValueError) as exc:
            raise fail(f"cannot prune the audit log in {path}: {exc}") from None
    if cp is None:
        console.print(f"nothing older than {_iso(cut)} to prune", highlight=False)
    else:
        console.print(
            f"pruned {done.count} rows (seq {done.first_seq}..{done.last_seq}); "
            f"checkpoint {cp.id or ''} signed with key {cp.key_id}",
            highlight=False,
        )


@app.command()
@audit_filters
def export(
    fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    filters: AuditFilters = AuditFilters(),
    state: Path | None = STATE_OPTION,
) -> None:
    """Stream every matching row, oldest first, bodies included."""
    if fmt not in audit_export.FORMATS:
        raise fail(f"unknown format {fmt!r}: use jsonl or csv", code=2)
    try:
        audit_query.build_where(**filters.as_dict())  # bad filter text: exit 2 before output
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    with open_state(state) as conn:
        if output is None:
            audit_export.export(conn, typer.get_text_stream("stdout"), fmt, **filters.as_dict())
            return
        try:
            with output.open("w", encoding="utf-8", newline="") as fh:
                n = audit_export.export(conn, fh, fmt, **filters.as_dict())
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc}") from None
    err_console.print(f"wrote {n} rows to {output}", highlight=False)
