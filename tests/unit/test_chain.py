"""The audit hash chain: canonical encoding, linking across batches, restarts and writers."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from pathlib import Path

from llmgw.audit.chain import GENESIS, canonical, link, row_hash
from llmgw.audit.prune import load_key
from llmgw.audit.record import AuditRecord
from llmgw.audit.verify import verify
from llmgw.audit.writer import AuditWriter
from llmgw.store.db import open_db


def rec(i: int, **over: object) -> AuditRecord:
    fields: dict[str, object] = {
        "id": f"req_{i:026d}",
        "ts": 1_700_000_000.0 + i,
        "tenant": "acme",
        "served_model": "m",
        "cost_nanos": 1000 + i,
        "latency_ms": 5,  # an int for a REAL column: must hash like 5.0
        "request_body": '{"q": "hi"}',
    }
    fields.update(over)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def stored(path: Path) -> list[sqlite3.Row]:
    conn = open_db(path, readonly=True)
    try:
        return conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
    finally:
        conn.close()


def check(path: Path) -> None:
    conn = open_db(path, readonly=True)
    try:
        report = verify(conn, None)
    finally:
        conn.close()
    assert report.ok, report.finding


def test_canonical_encoding_is_stable() -> None:
    row = rec(1).to_row()
    assert canonical(row) == canonical(tuple(row))
    # pinned: changing the encoding breaks every stored chain
    assert row_hash(row, GENESIS) == link(canonical(row), GENESIS)
    assert canonical(row).startswith(b'{"api":null,"attempt_log":"[]","attempts":0')
    assert b'"latency_ms":5.0' in canonical(row)
    assert canonical(rec(1, latency_ms=5.0).to_row()) == canonical(row)
    assert canonical(rec(1, cost_nanos=1002).to_row()) != canonical(row)
    assert row_hash(row, GENESIS) != row_hash(row, "1" * 64)


def test_rows_hash_the_same_after_a_round_trip(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db")
    w.submit(rec(1, ttft_ms=3, usage_estimated=True))
    assert w.close()
    (row,) = stored(tmp_path / "s.db")
    values = tuple(row)[1:-2]
    assert row["prev_hash"] == GENESIS
    assert row_hash(values, GENESIS) == row["hash"]


def test_chain_continues_across_batches_and_restarts(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    for start in (0, 10, 20):
        w = AuditWriter(path, batch_size=3)
        for i in range(start, start + 10):
            w.submit(rec(i))
        assert w.close()
    rows = stored(path)
    assert len(rows) == 30
    assert rows[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"]
    check(path)


def test_two_writers_on_one_file_stay_linear(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    open_db(path).close()
    writers = [AuditWriter(path, batch_size=7, flush_interval_s=0.001) for _ in range(2)]

    def feed(w: AuditWriter, base: int) -> None:
        for i in range(base, base + 300):
            w.submit(rec(i))
        w.flush()

    threads = [threading.Thread(target=feed, args=(w, n * 1000)) for n, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        assert w.close()
    rows = stored(path)
    assert len(rows) == 600
    assert len({r["prev_hash"] for r in rows}) == 600  # no fork: every parent used once
    check(path)


def test_retention_decides_what_bodies_are_hashed_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    w = AuditWriter(path)
    body = '{"content": "mail a.b@example.com"}'
    w.submit(rec(1, retention="redacted", request_body=body))
    w.submit(rec(2, retention="metadata", request_body=body, response_body=body))
    w.submit(rec(3, retention="full", request_body=body))
    assert w.close()
    redacted, metadata, full = stored(path)
    assert redacted["request_body"] == '{"content":"mail [REDACTED:email]"}'
    assert metadata["request_body"] is None and metadata["response_body"] is None
    assert full["request_body"] == body
    check(path)


def test_generated_key_is_private_and_stable(tmp_path: Path, monkeypatch: object) -> None:
    import os

    os.environ.pop("LLMGW_AUDIT_KEY", None)
    key = load_key(tmp_path / "s.db", create=True)
    assert len(key) == 32 and load_key(tmp_path / "s.db", create=False) == key
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600
