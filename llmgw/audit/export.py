"""Streaming export of audit rows as JSON Lines or CSV (constant memory).

Rows are read in ``seq`` order with one cursor, ``fetchmany`` at a time, and written as they
come: every ``audit_log`` column, the attempt log as JSON. JSON Lines keeps it as a list and
the flags as booleans; CSV writes one header line, the attempt log as JSON text, empty cells
for NULL. Filters are those of ``llmgw audit query`` (``llmgw.audit.query.build_where``).
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from typing import Any, TextIO

import orjson

from llmgw.audit.query import build_where, decode_row

FORMATS = ("jsonl", "csv")
_FETCH = 1000


def iter_rows(conn: sqlite3.Connection, **filters: Any) -> Iterator[dict[str, Any]]:
    """Every row matching ``filters`` (keywords of ``build_where``), oldest first, decoded."""
    where, params = build_where(**filters)
    cursor = conn.execute(f"SELECT * FROM audit_log WHERE {where} ORDER BY seq", params)
    names = [d[0] for d in cursor.description]
    while True:
        batch = cursor.fetchmany(_FETCH)
        if not batch:
            return
        for row in batch:
            yield decode_row(dict(zip(names, row, strict=True)))


def write_jsonl(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """One JSON object per line; returns the row count."""
    n = 0
    for row in rows:
        out.write(orjson.dumps(row).decode())
        out.write("\n")
        n += 1
    return n


def write_csv(rows: Iterator[dict[str, Any]], out: TextIO) -> int:
    """A header line, then one line per row; returns the row count."""
    writer: csv.DictWriter[str] | None = None
    n = 0
    for row in rows:
        if writer is None:
            writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        log = row.get("attempt_log")
        if not isinstance(log, str):
            row["attempt_log"] = orjson.dumps(log).decode()
        for flag in ("stream", "usage_estimated"):
            if isinstance(row.get(flag), bool):
                row[flag] = int(row[flag])
        writer.writerow(row)
        n += 1
    return n


def export(conn: sqlite3.Connection, out: TextIO, fmt: str = "jsonl", **filters: Any) -> int:
    """Write the matching rows to ``out`` in ``fmt``; returns how many were written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    rows = iter_rows(conn, **filters)
    return write_jsonl(rows, out) if fmt == "jsonl" else write_csv(rows, out)
