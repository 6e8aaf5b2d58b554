"""``llmgw keys``: create, list and revoke virtual API keys in the state file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from llmgw.cli.common import STATE_OPTION, console, fail, open_state, print_table
from llmgw.cli.options import AsJson, TenantScope
from llmgw.store.keys import KeyRecord, KeyStore

app = typer.Typer(
    help="Virtual API keys: one per app or person, scoped to a tenant, revocable.",
    no_args_is_help=True,
)


@contextmanager
def _store(state: Path | None, *, create: bool = False) -> Iterator[KeyStore]:
    """A KeyStore on the state file; a missing file is an error unless ``create``."""
    with open_state(state, write=True, create=create) as conn:
        yield KeyStore(conn)


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _as_dict(rec: KeyRecord) -> dict[str, object]:
    return {
        "id": rec.id,
        "tenant": rec.tenant,
        "name": rec.name,
        "prefix": rec.prefix,
        "created_at": rec.created_at,
        "revoked_at": rec.revoked_at,
    }


@app.command()
def create(
    tenant: str = typer.Option(..., "--tenant", "-t", help="Tenant path, e.g. acme/search."),
    name: str = typer.Option(..., "--name", "-n", help="What the key is for."),
    as_json: AsJson = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """Create a key. The secret is printed once and cannot be shown again."""
    with _store(state, create=True) as store:
        try:
            rec, secret = store.create(tenant, name)
        except ValueError as exc:
            raise fail(str(exc), code=2) from None
    if as_json:
        typer.echo(json.dumps({**_as_dict(rec), "secret": secret}, indent=2))
        return
    console.print(f"created key [bold]{rec.id}[/] for tenant [bold]{rec.tenant}[/]")
    typer.echo(secret)
    console.print("store this secret now: it is not kept and cannot be shown again.", style="dim")


@app.command("list")
def list_keys(
    tenant: TenantScope = None,
    all_: bool = typer.Option(False, "--all", "-a", help="Include revoked keys."),
    as_json: AsJson = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """List keys (active ones unless --all), oldest first."""
    with _store(state) as store:
        records = store.list(tenant, include_revoked=all_)
    if as_json:
        typer.echo(json.dumps([_as_dict(r) for r in records], indent=2))
        return
    if not records:
        console.print("no keys" + (f" for tenant {tenant}" if tenant else ""), highlight=False)
        return
    table = Table()
    table.add_column("id", no_wrap=True, min_width=16)  # whole: it is what revoke takes
    table.add_column("tenant", overflow="fold")
    table.add_column("name")
    table.add_column("prefix", no_wrap=True)
    table.add_column("created")
    table.add_column("revoked")
    for r in records:
        table.add_row(
            r.id, r.tenant, r.name, r.prefix + "…", _when(r.created_at), _when(r.revoked_at)
        )
    print_table(table)


@app.command()
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (key_…), as shown by llmgw keys list."),
    as_json: AsJson = False,
    state: Path | None = STATE_OPTION,
) -> None:
    """Revoke a key; a running gateway stops accepting it within a second."""
    with _store(state) as store:
        try:
            rec = store.revoke(key_id)
        except KeyError:
            raise fail(f"no key with id {key_id!r}") from None
    if as_json:
        typer.echo(json.dumps(_as_dict(rec), indent=2))
        return
    console.print(f"revoked {rec.id} ({rec.tenant}, {rec.name})", highlight=False)
