"""``llmgw cache``: hit rates and savings, purging a tenant's entries, flagging a bad hit.

All three work on the state file, also while the gateway runs: it reads entries from SQLite
on every lookup, so a purged or flagged entry is never served again.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from llmgw.cache.service import delete_entry, hit_of_request
from llmgw.cache.stats import cache_stats, count_flag
from llmgw.cache.store import purge
from llmgw.cli.common import (
    STATE_OPTION,
    check_tenant,
    console,
    fail,
    open_state,
    print_table,
    resolve_state,
)
from llmgw.cli.options import AsJson, TenantScope
from llmgw.settings.tenancy import in_subtree

app = typer.Typer(help="The response cache: stats, purge, flag.", no_args_is_help=True)


@app.command("stats")
def stats_cmd(
    tenant: TenantScope = None,
    model: str | None = typer.Option(None, "--model", "-m", help="Only this public model."),
    as_json: AsJson = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """Hit rates (exact and semantic), tokens and money saved, entries held, by tenant."""
    scope = check_tenant(tenant) if tenant else None
    with open_state(state) as conn:
        rows = cache_stats(conn, scope, model)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("the cache has no activity yet", highlight=False)
        return
    table = Table(
        "tenant",
        "exact hits",
        "semantic hits",
        "misses",
        "bypassed",
        "hit rate",
        "tokens saved",
        "saved",
        "entries",
        "size",
        "flags",
    )
    for r in rows:
        rate = "-" if r["hit_rate"] is None else f"{r['hit_rate'] * 100:.1f}%"
        table.add_row(
            r["tenant"],
            str(r["hit_exact"]),
            str(r["hit_semantic"]),
            str(r["miss"]),
            str(r["bypass"]),
            rate,
            f"{r['saved_tokens']:,}",
            f"${r['saved_usd']}",
            f"{r['entries']:,}",
            _size(r["bytes"]),
            str(r["flag"]),
        )
    print_table(table)


@app.command("purge")
def purge_cmd(
    tenant: str = typer.Option(..., "--tenant", "-t", help="This tenant and the ones below it."),
    model: str | None = typer.Option(None, "--model", "-m", help="Only this public model."),
    state: Path | None = STATE_OPTION,
) -> None:
    """Delete cached answers of a tenant (and the tenants below it), optionally one model's."""
    node = check_tenant(tenant)
    with open_state(state, write=True, create=True) as conn:
        removed, _ = purge(conn, node, model)
    what = f" for model {model}" if model else ""
    console.print(f"purged {removed} cached answer(s) of {node}{what}", highlight=False)


@app.command("flag")
def flag_cmd(
    request_id: str = typer.Argument(..., help="x-request-id of the call that got a bad hit."),
    tenant: str | None = typer.Option(
        None, "--tenant", "-t", help="Refuse unless the hit was served to this tenant (subtree)."
    ),
    state: Path | None = STATE_OPTION,
) -> None:
    """Remove the cached answer that served a call, so it is never served again."""
    path = resolve_state(state)
    hit = hit_of_request(path, request_id)
    if hit is None or (tenant is not None and not in_subtree(hit[0], check_tenant(tenant))):
        raise fail(f"no cache hit recorded as {request_id!r}", code=1)
    removed = delete_entry(path, hit[1])
    with open_state(path, write=True) as conn:
        count_flag(conn, hit[0])
    status = "removed" if removed else "already gone"
    console.print(f"entry {hit[1]} that answered {request_id}: {status}", highlight=False)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"
