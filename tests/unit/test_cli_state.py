"""The CLI's one way to open the state file, and its shared options."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmgw.cli.common import STATE_OPTION, open_state, resolve_state
from llmgw.cli.options import AsJson, AuditFilters, audit_filters
from llmgw.store.db import open_db

runner = CliRunner()


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.command("read")
    def read(state: Path | None = STATE_OPTION) -> None:
        with open_state(state) as conn:
            typer.echo(f"ok {conn.execute('PRAGMA query_only').fetchone()[0]}")

    @app.command("create")
    def create(state: Path | None = STATE_OPTION) -> None:
        typer.echo(f"at {resolve_state(state, create=True)}")
        with open_state(state, write=True, create=True):
            pass

    @app.command("filters")
    @audit_filters
    def filters_cmd(filters: AuditFilters, as_json: AsJson = False) -> None:
        typer.echo(f"{filters.as_dict()} {as_json}")

    return app


def test_a_missing_file_is_one_line_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = runner.invoke(make_app(), ["read", "--state", str(missing)])
    assert result.exit_code == 1
    assert (
        result.output.strip() == f"error: no state at {missing} (run llmgw serve or pass --state)"
    )
    assert not missing.exists()


def test_another_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x)")
    conn.close()
    for command in ("read", "create"):
        result = runner.invoke(make_app(), [command, "--state", str(other)])
        assert result.exit_code == 1, result.output
        assert "not a llmgw state file" in result.output
        assert len(result.output.strip().splitlines()) == 1
    conn = sqlite3.connect(other)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {"notes"}


def test_state_from_the_environment_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    open_db(path).close()
    monkeypatch.setenv("LLMGW_STATE", str(path))
    result = runner.invoke(make_app(), ["read"])
    assert result.exit_code == 0 and result.output.strip() == "ok 1"


def test_create_makes_a_new_state_file(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.db"
    result = runner.invoke(make_app(), ["create", "--state", str(path)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(make_app(), ["read", "--state", str(path)]).exit_code == 0


def test_audit_filters_arrive_as_one_value() -> None:
    app = make_app()
    result = runner.invoke(app, ["filters", "-t", "acme", "--since", "2h", "-s", "5xx", "--json"])
    assert result.exit_code == 0, result.output
    expected = {
        "tenant": "acme",
        "model": None,
        "provider": None,
        "status": "5xx",
        "since": "2h",
        "until": None,
    }
    assert result.output.strip() == f"{expected} True"
    help_text = runner.invoke(app, ["filters", "--help"]).output
    for flag in ("--tenant", "--model", "--provider", "--status", "--since", "--until"):
        assert flag in help_text


def test_audit_filters_need_a_filters_parameter() -> None:
    def no_filters(limit: int = 1) -> None:
        pass

    with pytest.raises(TypeError, match="no 'filters' parameter"):
        audit_filters(no_filters)
