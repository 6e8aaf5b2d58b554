"""The command line and the TUI are thin shells: no database access of their own.

SQL lives in the store layer and in each wing's repository module; ``llmgw/cli/`` and
``llmgw/tui/`` call those. This fails when a module there imports ``sqlite3`` (or
``sqlite_utils``), calls ``.execute``, or holds an SQL statement in a string.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "llmgw"
SHELLS = ("cli", "tui")
DB_MODULES = ("sqlite3", "sqlite_utils")
DB_CALLS = ("execute", "executemany", "executescript")
SQL = re.compile(
    r"\bSELECT\b[\s\S]+?\bFROM\b"
    r"|\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b"
    r"|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b",
    re.IGNORECASE,
)


def shell_modules() -> list[Path]:
    return sorted(p for shell in SHELLS for p in (ROOT / shell).rglob("*.py"))


def findings(source: str) -> list[str]:
    """What in ``source`` reaches the database directly, one line per finding."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        for name in names:
            if name.split(".")[0] in DB_MODULES:
                found.append(f"line {node.lineno}: imports {name}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in DB_CALLS
        ):
            found.append(f"line {node.lineno}: calls .{node.func.attr}()")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = SQL.search(node.value)
            if match:
                found.append(f"line {node.lineno}: SQL {match.group(0)[:40]!r}")
    return found


def test_the_shells_have_modules() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in shell_modules()}
    assert {"cli/main.py", "cli/common.py", "tui/app.py", "tui/state_source.py"} <= names


@pytest.mark.parametrize("path", shell_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_database_access_in_the_shells(path: Path) -> None:
    assert findings(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import sqlite3",
        "from sqlite3 import Connection",
        "import sqlite_utils",
        "conn.execute('x')",
        "q = 'SELECT tenant, count(*) FROM audit_log'",
        "q = f'select * from {table} where x = ?'",
        "q = ('INSERT INTO cache_counters (tenant) '\n     'VALUES (?)')",
        "q = 'INSERT OR REPLACE INTO t VALUES (1)'",
        "q = 'UPDATE api_keys SET revoked_at = ?'",
        "q = 'DELETE FROM cache_entries WHERE id = ?'",
    ],
)
def test_the_check_finds_database_access(source: str) -> None:
    assert findings(source)


@pytest.mark.parametrize(
    "source",
    [
        "admin_call('DELETE', url, key)",
        "help = 'Delete cached answers of a tenant (and the tenants below it).'",
        "help = 'Select a deployment, then press o to force it open.'",
        "from llmgw.store.db import DatabaseError, open_state",
        "store.list(tenant)",
    ],
)
def test_the_check_lets_plain_code_and_text_pass(source: str) -> None:
    assert findings(source) == []
