"""Shared CLI plumbing: state/config options and the one-line error policy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

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
