"""Shared CLI plumbing: the state file, the config, input checks, output, and the one-line
error policy (every failure a user can cause is one ``error: ...`` line and a non-zero exit)."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from llmgw.settings.schema import Settings
from llmgw.store import db

console = Console()
err_console = Console(stderr=True)


class CliError(Exception):
    """A failure the user can fix: printed as one line, exit code ``code``."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr and return an Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def print_table(table: Table) -> None:
    """Print a table; to a pipe or file at a generous width, so rows stay whole there."""
    if console.is_terminal:
        console.print(table)
    else:
        Console(file=console.file, width=max(console.width, 240)).print(table)


def state_path(explicit: Path | None) -> Path:
    """Where the SQLite state lives: --state, then $LLMGW_STATE, then the platform data dir."""
    if explicit is not None:
        return explicit
    env = os.environ.get("LLMGW_STATE")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("llmgw", appauthor=False)) / "state.db"


def resolve_state(state: Path | None, *, create: bool = False, code: int = 1) -> Path:
    """The state file (``state_path``), checked: a missing file is an error unless ``create``,
    and an existing one must be a llmgw state file. For commands that hand the path on."""
    path = state_path(state)
    try:
        db.check_state(path, create=create)
    except db.StateFileError as exc:
        raise fail(str(exc), code) from None
    return path


@contextmanager
def open_state(
    state: Path | None, *, write: bool = False, create: bool = False, code: int = 1
) -> Iterator[db.Connection]:
    """A connection to the state file (``state_path``): read-only unless ``write``; ``create``
    (with ``write``) makes a new file. Opening or reading failures are one line, exit ``code``."""
    path = state_path(state)
    try:
        conn = db.open_state(path, write=write, create=create)
    except db.StateFileError as exc:
        raise fail(str(exc), code) from None
    try:
        yield conn
    except db.DatabaseError as exc:
        raise fail(f"state at {path}: {exc}", code) from None
    finally:
        conn.close()


def load_config(config: Path | None) -> Settings:
    """The settings (``--config``, ./llmgw.toml, or the default); a bad file is exit 2."""
    from llmgw.settings import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise fail(str(exc), code=2) from None


def check_tenant(tenant: str) -> str:
    """``tenant`` if it is a valid path, else a one-line error (exit 2)."""
    from llmgw.store.keys import validate_tenant

    try:
        return validate_tenant(tenant.strip().rstrip("/"))
    except ValueError as exc:
        raise fail(str(exc), code=2) from None


def check_formats(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise fail("choose one of --json and --csv", code=2)


def print_csv(rows: Sequence[dict[str, Any]]) -> None:
    """Rows as CSV with a header (nothing for no rows)."""
    if not rows:
        return
    out = typer.get_text_stream("stdout")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


STATE_OPTION = typer.Option(
    None, "--state", help="SQLite state file (default: $LLMGW_STATE or the platform data dir)."
)
CONFIG_OPTION = typer.Option(
    None, "--config", "-c", help="llmgw.toml (default: ./llmgw.toml if present, else built-in)."
)


def run_app(app: typer.Typer) -> None:
    """Run the typer app; known errors become one line, unknown ones too (never a traceback)."""
    try:
        app(standalone_mode=True)
    except CliError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        sys.exit(exc.code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, not a traceback
        if os.environ.get("LLMGW_DEBUG"):
            raise
        err_console.print(
            f"[bold red]error:[/] {type(exc).__name__}: {exc}", highlight=False, soft_wrap=True
        )
        sys.exit(1)
