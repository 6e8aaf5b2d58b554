"""``llmgw keys`` and ``llmgw audit`` through typer's CliRunner, errors included."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llmgw.audit.record import AuditRecord
from llmgw.audit.writer import AuditWriter
from llmgw.cli import audit as audit_cli
from llmgw.cli import keys as keys_cli
from llmgw.store.db import open_db
from llmgw.store.keys import KeyStore, hash_key

runner = CliRunner()


def keys(*args: str) -> Result:
    return runner.invoke(keys_cli.app, list(args))


def audit(*args: str) -> Result:
    return runner.invoke(audit_cli.app, list(args))


def assert_one_line_error(result: Result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # no uncaught exception, no traceback
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines
    assert "Traceback" not in result.output


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state" / "llmgw.db"


@pytest.fixture
def audited(state: Path) -> dict[str, AuditRecord]:
    """A state file with a few audit rows written by the real writer."""
    recs = {
        "ok": AuditRecord(
            tenant="acme/search",
            api="openai",
            requested_model="gpt-4o-mini",
            provider="up-openai",
            served_model="gpt-4o-mini",
            attempts=1,
            input_tokens=12,
            output_tokens=34,
            cost_nanos=1_500_000,
            latency_ms=120.0,
            ttft_ms=30.0,
            request_body='{"messages": [{"role": "user", "content": "hello there"}]}',
            response_body='{"choices": []}',
        ),
        "err": AuditRecord(
            tenant="acme2",
            api="anthropic",
            requested_model="claude-haiku-4-5",
            provider="up-anthropic",
            status=503,
            outcome="error",
            error_class="overloaded",
            retention="metadata",
        ),
        "rej": AuditRecord(status=401, outcome="rejected", api="openai"),
    }
    w = AuditWriter(state)
    for r in recs.values():
        w.submit(r)
    assert w.close()
    return recs


# -- keys ----------------------------------------------------------------------------------


def test_create_prints_the_secret_once_and_it_authenticates(state: Path) -> None:
    result = keys("create", "--tenant", "acme/search", "--name", "ci", "--state", str(state))
    assert result.exit_code == 0, result.output
    secret = next(w for w in result.stdout.split() if w.startswith("sk-llmgw-"))
    assert "cannot be shown again" in result.stdout
    key_id = next(w for w in result.stdout.split() if w.startswith("key_"))
    conn = open_db(state)
    try:
        assert KeyStore(conn).active_by_hash()[hash_key(secret)].id == key_id
    finally:
        conn.close()
    listed = keys("list", "--state", str(state))
    assert key_id in listed.stdout and secret not in listed.stdout


def test_create_json_list_json_and_revoke(state: Path) -> None:
    made = json.loads(
        keys("create", "-t", "acme", "-n", "a", "--json", "--state", str(state)).stdout
    )
    other = json.loads(
        keys("create", "-t", "beta", "-n", "b", "--json", "--state", str(state)).stdout
    )
    assert made["secret"].startswith("sk-llmgw-") and made["prefix"] == made["secret"][:14]
    listed = json.loads(keys("list", "--json", "--tenant", "acme", "--state", str(state)).stdout)
    assert [k["id"] for k in listed] == [made["id"]]
    assert all("secret" not in k for k in listed)
    result = keys("revoke", made["id"], "--state", str(state))
    assert result.exit_code == 0 and made["id"] in result.stdout
    active = json.loads(keys("list", "--json", "--state", str(state)).stdout)
    assert [k["id"] for k in active] == [other["id"]]
    everything = json.loads(keys("list", "--all", "--json", "--state", str(state)).stdout)
    assert {k["id"] for k in everything} == {made["id"], other["id"]}
    assert next(k for k in everything if k["id"] == made["id"])["revoked_at"] is not None


def test_key_errors_are_one_line(state: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    assert_one_line_error(keys("list", "--state", str(missing)), 1, f"no state at {missing}")
    assert not missing.exists()
    assert_one_line_error(keys("revoke", "key_x", "--state", str(missing)), 1, "no state at")
    assert_one_line_error(
        keys("create", "--tenant", "Not Valid", "--name", "x", "--state", str(state)),
        2,
        "invalid tenant",
    )
    assert_one_line_error(
        keys("revoke", "key_000000000000", "--state", str(state)), 1, "no key with id"
    )
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    assert_one_line_error(keys("list", "--state", str(garbage)), 1, "cannot open state")


def test_state_can_come_from_the_environment(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGW_STATE", str(state))
    assert runner.invoke(keys_cli.app, ["create", "-t", "acme", "-n", "env"]).exit_code == 0
    assert state.exists()


# -- audit ---------------------------------------------------------------------------------


def test_query_json_with_filters(state: Path, audited: dict[str, AuditRecord]) -> None:
    everything = json.loads(audit("query", "--json", "--state", str(state)).stdout)
    assert [r["id"] for r in everything] == [audited[k].id for k in ("rej", "err", "ok")]
    acme = json.loads(audit("query", "--json", "-t", "acme", "--state", str(state)).stdout)
    assert [r["id"] for r in acme] == [audited["ok"].id]
    errors = json.loads(
        audit("query", "--json", "--status", "5xx", "--since", "1h", "--state", str(state)).stdout
    )
    assert [r["id"] for r in errors] == [audited["err"].id]
    assert errors[0]["error_class"] == "overloaded"
    one = json.loads(audit("query", "--json", "--limit", "1", "--state", str(state)).stdout)
    assert len(one) == 1
    future = json.loads(audit("query", "--json", "--until", "1h", "--state", str(state)).stdout)
    assert future == []


def test_query_table_and_csv(state: Path, audited: dict[str, AuditRecord]) -> None:
    table = audit("query", "--model", "gpt-4o-mini", "--state", str(state))
    assert table.exit_code == 0, table.output
    assert "acme/search" in table.stdout or "acme/…" in table.stdout
    out = audit("query", "--csv", "--state", str(state))
    parsed = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["id"] for r in parsed] == [audited[k].id for k in ("rej", "err", "ok")]
    assert "request_body" not in parsed[0]
    assert parsed[2]["cost_nanos"] == "1500000"
    empty = audit("query", "--provider", "nobody", "--state", str(state))
    assert empty.exit_code == 0 and "no matching calls" in empty.stdout


def test_show_text_and_json(state: Path, audited: dict[str, AuditRecord]) -> None:
    rec = audited["ok"]
    result = audit("show", rec.id, "--state", str(state))
    assert result.exit_code == 0, result.output
    assert rec.id in result.stdout and "$0.0015" in result.stdout
    assert '"content": "hello there"' in result.stdout  # body pretty-printed
    data = json.loads(audit("show", rec.id, "--json", "--state", str(state)).stdout)
    assert data["request_body"] == rec.request_body and data["cost_nanos"] == 1_500_000
    meta = audit("show", audited["err"].id, "--state", str(state))
    assert "(not kept)" in meta.stdout


def test_audit_errors_are_one_line(
    state: Path, audited: dict[str, AuditRecord], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.db"
    expected = f"no state at {missing} (run llmgw serve or pass --state)"
    assert_one_line_error(audit("query", "--state", str(missing)), 1, expected)
    assert_one_line_error(audit("show", "req_x", "--state", str(missing)), 1, expected)
    assert not missing.exists()
    assert_one_line_error(
        audit("query", "--status", "teapot", "--state", str(state)), 2, "bad status"
    )
    assert_one_line_error(audit("query", "--since", "soon", "--state", str(state)), 2, "bad time")
    assert_one_line_error(audit("query", "--limit", "0", "--state", str(state)), 2, "bad limit")
    assert_one_line_error(audit("query", "--json", "--csv", "--state", str(state)), 2, "one of")
    assert_one_line_error(audit("show", "req_unknown", "--state", str(state)), 1, "no audit record")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    assert_one_line_error(audit("query", "--state", str(garbage)), 1, "not a database")
