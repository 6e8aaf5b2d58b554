"""Walking the audit hash chain: is the log as the gateway wrote it?

``verify`` reads ``audit_log`` in ``seq`` order with one streaming cursor (constant memory)
inside one read transaction (a consistent snapshot while the gateway keeps writing) and stops
at the first finding:

- ``altered``: a row's stored values no longer hash to its ``hash``;
- ``removed``: a gap in ``seq`` (rows deleted before this one), or rows missing at the end
  (SQLite's AUTOINCREMENT counter is past the last row);
- ``reordered``: an intact row whose ``prev_hash`` is not the previous row's hash although no
  seq is missing (rows moved or swapped);
- ``unchained``: a row without a hash after the chain began (inserted behind the writer);
- ``checkpoint``: the newest prune checkpoint's signature is wrong, or the first kept row does
  not continue from it.

Rows older than the chain (written before it existed, ``hash`` NULL) are counted as
``legacy`` and skipped, as long as they come before the first chained row.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from llmgw.audit.chain import GENESIS, STORED_COLUMNS, row_hash
from llmgw.audit.prune import Checkpoint, latest_checkpoint

_N = len(STORED_COLUMNS) - 2
_SELECT = f"SELECT seq, {', '.join(STORED_COLUMNS)} FROM audit_log WHERE seq > ? ORDER BY seq"


@dataclass(slots=True, frozen=True)
class Finding:
    """The first thing wrong: ``kind`` (see the module docstring), where and what."""

    kind: str
    seq: int | None
    row_id: str | None
    detail: str

    def line(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "log"
        if self.row_id:
            where += f" (id {self.row_id})"
        return f"{self.kind}: {where}: {self.detail}"


@dataclass(slots=True, frozen=True)
class Report:
    """The outcome of a walk: ``ok`` unless ``finding`` is set."""

    rows: int
    legacy: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str
    checkpoint: int | None  # id of the checkpoint the walk started from
    finding: Finding | None

    @property
    def ok(self) -> bool:
        return self.finding is None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out


def verify(conn: sqlite3.Connection, key: bytes | None) -> Report:
    """Walk the chain (see the module docstring). ``key`` checks the newest checkpoint's
    signature; None when no key is available (then a checkpoint is a finding)."""
    conn.execute("BEGIN")
    try:
        return _walk(conn, key)
    finally:
        conn.execute("ROLLBACK")


def _walk(conn: sqlite3.Connection, key: bytes | None) -> Report:
    cp = latest_checkpoint(conn)
    state = _Walk(cp)
    if cp is not None:
        problem = _checkpoint_problem(cp, key)
        if problem:
            return state.report(Finding("checkpoint", cp.last_seq, None, problem))
    start = cp.last_seq if cp is not None else 0
    cursor = conn.execute(_SELECT, (start,))
    while True:
        batch = cursor.fetchmany(2000)
        if not batch:
            break
        for row in batch:
            finding = state.step(row)
            if finding is not None:
                return state.report(finding)
    return state.report(_tail(conn, state))


def _checkpoint_problem(cp: Checkpoint, key: bytes | None) -> str | None:
    if key is None:
        return f"checkpoint {cp.id} cannot be checked: no key (set $LLMGW_AUDIT_KEY)"
    if not cp.valid(key):
        return f"checkpoint {cp.id} has a bad signature (altered, or signed with another key)"
    return None


def _tail(conn: sqlite3.Connection, state: _Walk) -> Finding | None:
    """Rows removed after the last one: the AUTOINCREMENT counter is further on."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'").fetchone()
    counter = int(row[0]) if row is not None else 0
    last = state.last_seq if state.last_seq is not None else 0
    if counter > last:
        return Finding(
            "removed",
            last + 1,
            None,
            f"rows {last + 1}..{counter} are missing at the end of the log",
        )
    return None


class _Walk:
    """The walk's running state: what the next row must link to."""

    def __init__(self, cp: Checkpoint | None) -> None:
        self.checkpoint = cp
        self.prev_hash = cp.last_hash if cp is not None else GENESIS
        self.prev_seq: int | None = cp.last_seq if cp is not None else None
        self.chained = False
        self.rows = 0
        self.legacy = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = self.prev_seq

    def report(self, finding: Finding | None) -> Report:
        return Report(
            rows=self.rows,
            legacy=self.legacy,
            first_seq=self.first_seq,
            last_seq=self.last_seq,
            last_hash=self.prev_hash,
            checkpoint=self.checkpoint.id if self.checkpoint is not None else None,
            finding=finding,
        )

    def step(self, row: Any) -> Finding | None:
        seq = row[0]
        values = row[1 : _N + 1]
        prev_hash, stored = row[_N + 1], row[_N + 2]
        row_id = values[0]
        expected_seq = (self.prev_seq or 0) + 1
        self.rows += 1
        if self.first_seq is None:
            self.first_seq = seq
        if stored is None:
            if self.chained or self.checkpoint is not None:
                return Finding(
                    "unchained", seq, row_id, "row has no hash (written outside the chain)"
                )
            self.legacy += 1
            self.prev_seq = self.last_seq = seq
            return None
        if row_hash(values, prev_hash or "") != stored:
            return Finding("altered", seq, row_id, "stored values do not match the row's hash")
        if seq != expected_seq:
            return Finding(
                "removed",
                seq,
                row_id,
                f"seq {expected_seq}..{seq - 1} missing before this row",
            )
        if prev_hash != self.prev_hash:
            kind = "checkpoint" if not self.chained and self.checkpoint else "reordered"
            detail = (
                "first row after the checkpoint does not link to it"
                if kind == "checkpoint"
                else "prev_hash does not match the previous row (rows moved or swapped)"
            )
            if not self.chained and self.checkpoint is None and self.legacy:
                kind, detail = "reordered", "first chained row does not start from genesis"
            return Finding(kind, seq, row_id, detail)
        self.chained = True
        self.prev_hash = stored
        self.prev_seq = self.last_seq = seq
        return None
