"""The audit hash chain: every ``audit_log`` row commits to the one before it.

A row's ``hash`` is the hex SHA-256 of::

    b"llmgw-audit-v1\\0" + canonical JSON of the stored columns + b"\\0" + prev_hash (ASCII hex)

where the stored columns are every column of ``COLUMNS`` (everything but ``seq``, ``prev_hash``
and ``hash``), written as one JSON object with sorted keys and no spaces. Values are first
brought to the type SQLite gives back (REAL columns as floats, INTEGER as ints, TEXT as str), so
a row hashes the same before it is stored and after it is read back. The first row of a chain
has ``prev_hash = GENESIS`` (64 zeros); after a prune, the first kept row links to the hash
recorded in the signed checkpoint (``llmgw.audit.prune``).

Editing any stored value changes the row's hash; deleting or moving a row breaks the next
row's link. ``llmgw.audit.verify`` walks the chain. Pure: no I/O here except ``last_hash``,
which reads the newest link inside the writer's transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from llmgw.audit.record import COLUMNS

DOMAIN = b"llmgw-audit-v1\0"
GENESIS = "0" * 64
CHAIN_COLUMNS: tuple[str, ...] = ("prev_hash", "hash")
STORED_COLUMNS: tuple[str, ...] = (*COLUMNS, *CHAIN_COLUMNS)
CHAINED_INSERT_HEAD = f"INSERT INTO audit_log ({', '.join(STORED_COLUMNS)})"

_REAL = frozenset({"ts", "ttft_ms", "latency_ms"})
_INT = frozenset(
    {
        "attempts",
        "status",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "usage_estimated",
        "cost_nanos",
        "stream",
    }
)
_CASTS: tuple[Callable[[Any], Any], ...] = tuple(
    float if name in _REAL else int if name in _INT else str for name in COLUMNS
)
_SORTED: tuple[tuple[int, str], ...] = tuple(sorted(enumerate(COLUMNS), key=lambda p: p[1]))
_SORTED_CASTS: tuple[tuple[int, str, Callable[[Any], Any]], ...] = tuple(
    (i, name, _CASTS[i]) for i, name in _SORTED
)


def canonical(values: Sequence[Any]) -> bytes:
    """The canonical JSON of one row's ``COLUMNS`` values (in ``COLUMNS`` order).

    Keys sorted, no whitespace, each value cast to its column's storage type (None stays
    None). Stable across Python versions and across a round trip through SQLite.
    """
    if len(values) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} values, got {len(values)}")
    obj = {}
    for i, name, cast in _SORTED_CASTS:
        value = values[i]
        if value is not None and type(value) is not cast:
            value = cast(value)
        obj[name] = value
    return orjson.dumps(obj)


def link(payload: bytes, prev_hash: str) -> str:
    """The hash of a row whose canonical encoding is ``payload`` and whose parent is
    ``prev_hash``."""
    return hashlib.sha256(DOMAIN + payload + b"\0" + prev_hash.encode("ascii")).hexdigest()


def row_hash(values: Sequence[Any], prev_hash: str) -> str:
    """``link(canonical(values), prev_hash)``: the hash a stored row must carry."""
    return link(canonical(values), prev_hash)


def chain_rows(
    rows: Sequence[Sequence[Any]], payloads: Sequence[bytes], prev_hash: str
) -> tuple[list[tuple[Any, ...]], str]:
    """``rows`` extended with ``(prev_hash, hash)`` each, linked in order from ``prev_hash``.

    ``payloads[i]`` is ``canonical(rows[i])`` (computed earlier, outside the transaction).
    Returns the chained rows and the hash of the last one.
    """
    out: list[tuple[Any, ...]] = []
    prev = prev_hash
    for row, payload in zip(rows, payloads, strict=True):
        digest = link(payload, prev)
        out.append((*row, prev, digest))
        prev = digest
    return out, prev


def last_hash(conn: sqlite3.Connection) -> str:
    """The hash the next row must link to: the newest row's, else the newest checkpoint's,
    else ``GENESIS``. Call it inside the transaction that inserts, so no other writer can
    append in between. A newest row without a hash (written before the chain existed)
    starts a fresh chain at ``GENESIS``.
    """
    row = conn.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    if row is not None:
        return row[0] or GENESIS
    cp = conn.execute("SELECT last_hash FROM audit_checkpoints ORDER BY id DESC LIMIT 1").fetchone()
    return cp[0] if cp is not None else GENESIS
