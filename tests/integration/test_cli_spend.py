"""``llmgw tenants``, ``llmgw budgets`` and ``llmgw usage`` through typer's CliRunner."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from llmgw.audit.record import INSERT_SQL, AuditRecord
from llmgw.cli import budgets as budgets_cli
from llmgw.cli import tenants as tenants_cli
from llmgw.cli.usage import usage as usage_cmd
from llmgw.limits.periods import period_start
from llmgw.store.db import open_db
from llmgw.store.keys import KeyStore

runner = CliRunner()
usage_app = typer.Typer()
usage_app.command()(usage_cmd)

CONFIG = """
[providers.mock]
kind = "mock"

[models.mock-small]
aliases = ["gpt-4o-mini"]
deployments = [{ provider = "mock", model = "mock-small" }]

[models.mock-large]
deployments = [{ provider = "mock", model = "mock-large" }]

[tenants."acme/search"]
models = ["*"]

[tenants."acme/search".limits]
rpm = 600
concurrency = 8

[[tenants."acme/search".limits.budgets]]
period = "day"
limit_usd = "2"
hard = true

[tenants."beta"]
models = ["*"]
"""


def assert_one_line_error(result: Result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines
    assert "Traceback" not in result.output


@pytest.fixture(autouse=True)
def _no_local_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no ./llmgw.toml: the built-in default unless --config
    monkeypatch.delenv("LLMGW_STATE", raising=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "llmgw.test.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state file with synthetic calls today, one a month ago, and a key."""
    path = tmp_path / "state.db"
    today = period_start("day", time.time()) + 1
    rows: list[dict[str, Any]] = [
        {"tenant": "acme/search", "requested_model": "mock-small", "provider": "mock",
         "cost_nanos": 500_000_000, "input_tokens": 100, "output_tokens": 50},
        {"tenant": "acme/search/prod", "requested_model": "mock-large", "provider": "mock",
         "cost_nanos": 1_000_000_000, "input_tokens": 10, "output_tokens": 5},
        {"tenant": "acme2", "requested_model": "mock-small", "provider": "mock",
         "cost_nanos": 7, "outcome": "error", "status": 502},
        {"tenant": "beta", "requested_model": "mock-small", "provider": "cache",
         "cost_nanos": 40},
    ]  # fmt: skip
    conn = open_db(path)
    try:
        for i, fields in enumerate(rows):
            conn.execute(INSERT_SQL, AuditRecord(ts=today + i, **fields).to_row())
        old = AuditRecord(ts=today - 40 * 86400, tenant="acme/search", cost_nanos=123)
        conn.execute(INSERT_SQL, old.to_row())
        KeyStore(conn).create("gamma/team", "ci")
    finally:
        conn.close()
    return path


def budgets(*args: str) -> Result:
    return runner.invoke(budgets_cli.app, list(args))


def tenants(*args: str) -> Result:
    return runner.invoke(tenants_cli.app, list(args))


def usage(*args: str) -> Result:
    return runner.invoke(usage_app, list(args))


def test_no_state_is_one_line_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.db")
    assert_one_line_error(tenants("--state", missing), 1, "no state at")
    assert_one_line_error(budgets("list", "--state", missing), 1, "no state at")
    assert_one_line_error(usage("--state", missing), 1, "no state at")
    assert not (tmp_path / "nope.db").exists()


def test_tenants_tree_with_spend_budgets_and_keys(state: Path, config: Path) -> None:
    result = tenants("--json", "--config", str(config), "--state", str(state))
    assert result.exit_code == 0, result.output
    rows = {r["tenant"]: r for r in json.loads(result.stdout)}
    assert list(rows) == [
        "acme", "acme/search", "acme/search/prod", "acme2", "beta", "gamma", "gamma/team",
    ]  # fmt: skip
    search = rows["acme/search"]
    assert (search["rpm"], search["tpm"], search["concurrency"]) == (600, None, 8)
    assert search["spend_today_usd"] == "1.50" and search["spend_month_nanos"] == 1_500_000_000
    (day,) = search["budgets"]
    assert (day["period"], day["spent_usd"], day["limit_usd"], day["used_pct"]) == (
        "day", "1.50", "2.00", "75.0",
    )  # fmt: skip
    assert rows["acme"]["declared"] is False and rows["acme"]["spend_today_nanos"] == 1_500_000_000
    assert rows["acme2"]["spend_today_nanos"] == 7
    assert rows["beta"]["spend_today_nanos"] == 0  # a cache hit is not spend
    assert rows["gamma/team"]["keys"] == 1 and rows["gamma"]["keys"] == 0

    table = tenants("--config", str(config), "--state", str(state))
    assert table.exit_code == 0, table.output
    assert "search" in table.stdout and "$1.50 of $2.00 (75.0%)" in table.stdout


def test_budget_overrides_flow(state: Path, config: Path) -> None:
    common = ["--config", str(config), "--state", str(state)]
    result = budgets("set", "acme/search", "--monthly", "100.10", "--soft", *common)
    assert result.exit_code == 0, result.output
    assert "soft month budget $100.10" in result.stdout
    result = budgets("set", "acme/search", "--daily", "1", "--model", "gpt-4o-mini", *common)
    assert result.exit_code == 0, result.output
    result = budgets("rates", "acme/search", "--tpm", "5000", "--rpm", "none", *common)
    assert result.exit_code == 0, result.output

    listed = json.loads(budgets("list", "--json", *common).stdout)
    mine = {r["key"]: r for r in listed if r["tenant"] == "acme/search"}
    assert set(mine) == {"day", "month", "day:mock-small"}  # config budget kept, alias resolved
    assert all(r["source"] == "override" for r in mine.values())
    assert mine["month"]["hard"] is False and mine["month"]["limit_usd"] == "100.10"
    assert mine["day:mock-small"]["spent_usd"] == "0.50"
    assert mine["day:mock-small"]["used_pct"] == "50.0"

    tree = {r["tenant"]: r for r in json.loads(tenants("--json", *common).stdout)}
    assert (tree["acme/search"]["rpm"], tree["acme/search"]["tpm"]) == (None, 5000)
    assert tree["acme/search"]["concurrency"] == 8 and tree["acme/search"]["override"] is True

    out = budgets("list", "--csv", "--tenant", "acme", *common).stdout
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert len(parsed) == 3 and {r["tenant"] for r in parsed} == {"acme/search"}

    assert budgets("clear", "acme/search", "--state", str(state)).exit_code == 0
    listed = json.loads(budgets("list", "--json", *common).stdout)
    assert [(r["tenant"], r["key"], r["source"]) for r in listed] == [
        ("acme/search", "day", "config")
    ]
    assert_one_line_error(budgets("clear", "acme/search", "--state", str(state)), 1, "no overrides")
    table = budgets("list", *common)
    assert table.exit_code == 0 and "acme/search" in table.stdout and "$1.50" in table.stdout


def test_budgets_set_reads_dollars_with_the_money_parser(tmp_path: Path) -> None:
    state = tmp_path / "state.db"
    result = budgets("set", "acme", "--daily", "$12.5", "--state", str(state))
    assert result.exit_code == 0, result.output
    assert "acme: hard day budget $12.50" in result.stdout
    listed = json.loads(budgets("list", "--json", "--state", str(state)).stdout)
    assert (listed[0]["limit_nanos"], listed[0]["limit_usd"]) == (12_500_000_000, "12.50")


def test_budgets_set_creates_state_and_window_budget(tmp_path: Path) -> None:
    state = tmp_path / "new" / "state.db"
    result = budgets(
        "set", "team-x", "--window-s", "3600", "--amount", "0.25", "--json", "--state", str(state)
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["budgets"] == [
        {"period": "window", "limit_usd": "0.25", "hard": True, "window_s": 3600, "model": None}
    ]
    listed = json.loads(budgets("list", "--json", "--state", str(state)).stdout)
    assert listed[0]["key"] == "window3600" and listed[0]["spent_nanos"] == 0


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["set", "Acme!", "--daily", "1"], "invalid tenant"),
        (["set", "acme", "--daily", "1", "--monthly", "2"], "exactly one of"),
        (["set", "acme"], "exactly one of"),
        (["set", "acme", "--window-s", "60"], "needs --amount"),
        (["set", "acme", "--daily", "1", "--amount", "2"], "--window-s only"),
        (["set", "acme", "--daily", "lots"], "bad amount 'lots': expected a plain decimal"),
        (["set", "acme", "--daily", "-3"], "bad amount '-3': must be non-negative"),
        (["set", "acme", "--daily", "-$3"], "must be non-negative"),
        (["set", "acme", "--daily", "1e3"], "bad amount '1e3'"),
        (["set", "acme", "--monthly", "NaN"], "not a finite number"),
        (["set", "acme", "--daily", "0.0000000001"], "finer than a nano-dollar (at most 9"),
        (["set", "acme", "--daily", "5000000000"], "out of range (at most $1,000,000,000)"),
        (["set", "acme", "--window-s", "0", "--amount", "1"], "window_s"),
        (["set", "acme", "--daily", "1", "--model", "nope", "--config", "CONFIG"], "unknown model"),
        (["set", "acme", "--daily", "1", "--config", "MISSING"], "file not found"),
        (["rates", "acme"], "at least one"),
        (["rates", "acme", "--rpm", "0"], "positive integer"),
        (["rates", "acme", "--tpm", "x"], "positive integer"),
        (["list", "--json", "--csv"], "choose one"),
        (["list", "--tenant", "A/B"], "invalid tenant"),
    ],
)
def test_bad_budget_input_exits_2(
    state: Path, config: Path, tmp_path: Path, args: list[str], text: str
) -> None:
    swap = {"CONFIG": str(config), "MISSING": str(tmp_path / "missing.toml")}
    args = [swap.get(a, a) for a in args]
    assert_one_line_error(budgets(*args, "--state", str(state)), 2, text)


def test_usage_groupings_and_formats(state: Path) -> None:
    result = usage("--by", "tenant", "--json", "--state", str(state))
    assert result.exit_code == 0, result.output
    rows = {r["tenant"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"acme/search", "acme/search/prod", "acme2", "beta"}  # 40 days ago: out
    assert rows["acme/search"]["spend_usd"] == "0.50" and rows["acme2"]["errors"] == 1
    assert rows["beta"]["cache_savings_nanos"] == 40 and rows["beta"]["spend_nanos"] == 0

    by_model = usage("--by", "model", "--since", "60d", "--tenant", "acme", "--csv",
                     "--state", str(state))  # fmt: skip
    assert by_model.exit_code == 0, by_model.output
    parsed = {r["model"]: r for r in csv.DictReader(io.StringIO(by_model.stdout))}
    assert parsed["mock-large"]["spend_nanos"] == "1000000000"
    assert parsed[""]["spend_nanos"] == "123" and "acme2" not in by_model.stdout

    table = usage("--by", "provider", "--state", str(state))
    assert table.exit_code == 0, table.output
    assert "mock" in table.stdout and "cache" in table.stdout and "total" in table.stdout
    assert "$1.500000007" in table.stdout

    empty = usage("--since", "2000-01-01", "--until", "2000-01-02", "--state", str(state))
    assert empty.exit_code == 0 and "no calls" in empty.stdout


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--by", "colour"], "bad --by"),
        (["--since", "yesterday"], "bad time"),
        (["--since", "1d", "--until", "7d"], "later than"),
        (["--json", "--csv"], "choose one"),
        (["--tenant", "no way"], "invalid tenant"),
    ],
)
def test_bad_usage_input_exits_2(state: Path, args: list[str], text: str) -> None:
    assert_one_line_error(usage(*args, "--state", str(state)), 2, text)
