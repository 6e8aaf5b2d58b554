"""Audit queries: filters, tenant-prefix semantics, time parsing, single rows."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from llmgw.audit.query import get, parse_time, query
from llmgw.audit.record import INSERT_SQL, AuditRecord
from llmgw.store.db import open_db

NOW = 1_750_000_000.0


def rec(id: str, minutes_ago: float, **over: Any) -> AuditRecord:
    base: dict[str, Any] = {
        "id": id,
        "ts": NOW - minutes_ago * 60,
        "tenant": "acme",
        "api": "openai",
        "requested_model": "gpt-4o-mini",
        "provider": "up-openai",
        "served_model": "gpt-4o-mini",
        "status": 200,
        "outcome": "ok",
    }
    base.update(over)
    return AuditRecord(**base)


ROWS = [
    rec("r_acme", 1),
    rec("r_search", 2, tenant="acme/search", stream=True),
    rec("r_deep", 3, tenant="acme/search/prod"),
    rec("r_acme2", 4, tenant="acme2"),
    rec("r_under", 5, tenant="acme_x"),
    rec(
        "r_fail",
        30,
        requested_model="gpt-4o",
        served_model="claude-haiku-4-5",
        provider="up-anthropic",
        attempt_log=({"provider": "up-openai", "status": 503},),
    ),
    rec("r_429", 120, status=429, outcome="error", error_class="rate_limited"),
    rec("r_502", 60 * 30, status=502, outcome="error", error_class="server_error"),
    rec(
        "r_401",
        60 * 24 * 3,
        tenant="",
        status=401,
        outcome="rejected",
        provider=None,
        served_model=None,
    ),
    rec("r_abort", 60 * 24 * 10, status=200, outcome="aborted"),
]


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    c = open_db(tmp_path / "s.db")
    c.executemany(INSERT_SQL, [r.to_row() for r in ROWS])
    yield c
    c.close()


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


def test_no_filter_lists_newest_first(conn: sqlite3.Connection) -> None:
    assert ids(query(conn)) == [r.id for r in ROWS]
    assert ids(query(conn, limit=3)) == ["r_acme", "r_search", "r_deep"]


def test_same_timestamp_falls_back_to_insertion_order(conn: sqlite3.Connection) -> None:
    conn.executemany(INSERT_SQL, [rec("tie_a", 0).to_row(), rec("tie_b", 0).to_row()])
    assert ids(query(conn, limit=2)) == ["tie_b", "tie_a"]


def test_tenant_is_a_path_prefix(conn: sqlite3.Connection) -> None:
    all_acme = ["r_acme", "r_search", "r_deep", "r_fail", "r_429", "r_502", "r_abort"]
    assert ids(query(conn, tenant="acme")) == all_acme
    assert ids(query(conn, tenant="acme/")) == all_acme
    assert ids(query(conn, tenant="acme/search")) == ["r_search", "r_deep"]
    assert ids(query(conn, tenant="acme2")) == ["r_acme2"]
    assert ids(query(conn, tenant="acme_x")) == ["r_under"]
    assert query(conn, tenant="acm") == []


def test_model_matches_requested_or_served(conn: sqlite3.Connection) -> None:
    assert ids(query(conn, model="claude-haiku-4-5")) == ["r_fail"]
    assert ids(query(conn, model="gpt-4o")) == ["r_fail"]
    assert "r_fail" not in ids(query(conn, model="gpt-4o-mini"))


def test_provider_filter(conn: sqlite3.Connection) -> None:
    assert ids(query(conn, provider="up-anthropic")) == ["r_fail"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (429, ["r_429"]),
        ("429", ["r_429"]),
        ("5xx", ["r_502"]),
        ("4xx", ["r_429", "r_401"]),
        ("error", ["r_429", "r_502"]),
        ("REJECTED", ["r_401"]),
        ("aborted", ["r_abort"]),
    ],
)
def test_status_is_a_code_a_class_or_an_outcome(
    conn: sqlite3.Connection, status: int | str, expected: list[str]
) -> None:
    assert ids(query(conn, status=status)) == expected


def test_relative_and_absolute_times(conn: sqlite3.Connection) -> None:
    assert ids(query(conn, since="3m", now=NOW)) == ["r_acme", "r_search", "r_deep"]
    assert ids(query(conn, since="2h", until="1h", now=NOW)) == ["r_429"]
    assert ids(query(conn, since="7d", tenant="acme", status="error", now=NOW)) == [
        "r_429",
        "r_502",
    ]
    assert ids(query(conn, until="1w", now=NOW)) == ["r_abort"]
    iso = datetime.fromtimestamp(NOW - 150, tz=None).astimezone().isoformat()
    assert ids(query(conn, since=iso)) == ["r_acme", "r_search"]
    assert ids(query(conn, since=NOW - 150)) == ["r_acme", "r_search"]


def test_parse_time_forms() -> None:
    assert parse_time("15m", now=NOW) == NOW - 900
    assert parse_time("2H", now=NOW) == NOW - 7200
    assert parse_time("7d", now=NOW) == NOW - 7 * 86400
    assert parse_time("2025-01-31T12:00:00Z") == 1738324800.0
    assert parse_time("2025-01-31T13:00:00+01:00") == 1738324800.0
    naive = datetime(2025, 1, 31, 12, 0, 0)
    assert parse_time("2025-01-31T12:00:00") == naive.timestamp()  # local time
    assert parse_time("1738324800") == 1738324800.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": "teapot"}, "bad status"),
        ({"status": "700"}, "bad status"),
        ({"since": "yesterday"}, "bad time"),
        ({"until": "5 parsecs"}, "bad time"),
        ({"since": "1h", "until": "2h"}, "later than"),
        ({"limit": 0}, "bad limit"),
    ],
)
def test_bad_filters_raise_value_error(
    conn: sqlite3.Connection, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        query(conn, now=NOW, **kwargs)


def test_rows_are_decoded(conn: sqlite3.Connection) -> None:
    row = get(conn, "r_fail")
    assert row is not None
    assert row["attempt_log"] == [{"provider": "up-openai", "status": 503}]
    assert row["stream"] is False and row["usage_estimated"] is False
    search = get(conn, "r_search")
    assert search is not None and search["stream"] is True
    assert AuditRecord.from_row(search) == ROWS[1]


def test_get_unknown_is_none(conn: sqlite3.Connection) -> None:
    assert get(conn, "req_nope") is None
