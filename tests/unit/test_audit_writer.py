"""The audit record and its batched writer thread."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from llmgw.audit import writer as writer_mod
from llmgw.audit.record import COLUMNS, AuditRecord, new_request_id
from llmgw.audit.writer import AuditWriter, WriterClosed
from llmgw.store.db import open_db

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def rows(path: Path, sql: str = "SELECT * FROM audit_log ORDER BY seq") -> list[sqlite3.Row]:
    conn = open_db(path, readonly=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def sample(**over: Any) -> AuditRecord:
    base: dict[str, Any] = {
        "tenant": "acme/search",
        "key_id": "key_0123456789ab",
        "api": "openai",
        "requested_model": "gpt-4o-mini",
        "provider": "up-openai",
        "served_model": "gpt-4o-mini",
        "attempts": 2,
        "attempt_log": (
            {
                "provider": "a",
                "model": "m",
                "error_class": "overloaded",
                "status": 503,
                "latency_ms": 4.5,
            },
            {
                "provider": "up-openai",
                "model": "gpt-4o-mini",
                "error_class": None,
                "status": 200,
                "latency_ms": 20.0,
            },
        ),
        "ttft_ms": 7.5,
        "latency_ms": 25.25,
        "input_tokens": 11,
        "output_tokens": 22,
        "cached_tokens": 3,
        "usage_estimated": True,
        "cost_nanos": 123_456_789_012,
        "stream": True,
        "request_body": '{"secret": "PROMPT-TEXT"}',
        "response_body": '{"ok": true}',
        "retention": "full",
    }
    base.update(over)
    return AuditRecord(**base)


# -- record --------------------------------------------------------------------------------


def test_columns_match_record_fields_and_table(tmp_path: Path) -> None:
    assert tuple(f.name for f in dataclasses.fields(AuditRecord)) == COLUMNS
    conn = open_db(tmp_path / "s.db")
    try:
        table = [r["name"] for r in conn.execute("PRAGMA table_info('audit_log')")]
    finally:
        conn.close()
    assert table == ["seq", *COLUMNS, "prev_hash", "hash"]


def test_rejection_record_needs_almost_nothing() -> None:
    rec = AuditRecord(status=401, outcome="rejected", api="anthropic")
    assert rec.id.startswith("req_") and rec.ts == pytest.approx(time.time(), abs=5)
    assert (rec.tenant, rec.key_id, rec.provider, rec.attempt_log) == ("", None, None, ())


def decode_ms(request_id: str) -> int:
    value = 0
    for ch in request_id[4:14]:
        value = value * 32 + CROCKFORD.index(ch)
    return value


def test_request_ids_are_ulid_like_unique_and_time_ordered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now_ms = time.time_ns() // 1_000_000
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    for rid in ids[:100]:
        assert rid.startswith("req_") and len(rid) == 30
        assert set(rid[4:]) <= set(CROCKFORD)
        assert rid[4] in "01234567"  # 130 bits written, the top two are zero
    assert abs(decode_ms(ids[0]) - now_ms) < 2_000
    clock = iter([1_000_000_000_000_000, 1_000_000_001_000_000, 1_000_000_002_000_000])
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    a, b, c = new_request_id(), new_request_id(), new_request_id()
    assert a < b < c
    assert decode_ms(a) == 1_000_000_000 and decode_ms(c) == 1_000_000_002


def test_from_row_round_trips(tmp_path: Path) -> None:
    rec = sample()
    w = AuditWriter(tmp_path / "s.db")
    w.submit(rec)
    assert w.close()
    (row,) = rows(tmp_path / "s.db")
    assert AuditRecord.from_row(dict(row)) == rec


# -- writer --------------------------------------------------------------------------------


def test_rows_are_written_in_batches_in_submission_order(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", batch_size=100, flush_interval_s=0.01)
    recs = [sample(input_tokens=i) for i in range(1_000)]
    assert all(w.submit(r) for r in recs)
    assert w.pending == 1_000 and w.written == 0  # nothing happens before start()
    w.start()
    assert w.flush(timeout=10)
    assert (w.written, w.pending, w.batches) == (1_000, 0, 10)
    stored = rows(tmp_path / "s.db")
    assert [r["id"] for r in stored] == [r.id for r in recs]
    assert [r["input_tokens"] for r in stored] == list(range(1_000))
    assert w.close()


def test_a_full_batch_wakes_the_writer_before_the_interval(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", batch_size=10, flush_interval_s=60)
    w.start()
    try:
        for _ in range(10):
            w.submit(sample())
        deadline = time.monotonic() + 10
        while w.written < 10 and time.monotonic() < deadline:
            time.sleep(0.005)  # waiting on the writer thread's I/O
        assert w.written == 10
    finally:
        assert w.close()


def test_fifty_thousand_rows_then_close_loses_none(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", queue_size=60_000)
    w.start()
    recs = [sample(request_body=None, response_body=None) for _ in range(50_000)]
    assert all(w.submit(r) for r in recs)
    assert w.close(timeout=60)
    assert w.written == 50_000 and w.pending == 0 and w.failed == 0
    (count, distinct), *_ = rows(
        tmp_path / "s.db", "SELECT count(*), count(DISTINCT id) FROM audit_log"
    )
    assert count == distinct == 50_000


def test_full_queue_refuses_then_submit_async_waits_for_room(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", queue_size=5, batch_size=2, flush_interval_s=0.01)
    recs = [sample() for _ in range(200)]
    assert all(w.submit(r) for r in recs[:5])
    assert not w.submit(recs[5])  # full, and the writer is not running yet

    async def main() -> None:
        w.start()
        await asyncio.gather(*(w.submit_async(r) for r in recs[5:]))

    asyncio.run(main())
    assert w.close()
    stored = {r["id"] for r in rows(tmp_path / "s.db")}
    assert stored == {r.id for r in recs}


def test_submit_after_close_is_an_error(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db")
    w.start()
    assert w.close()
    with pytest.raises(WriterClosed):
        w.submit(sample())


def test_passing_failures_are_logged_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(writer_mod, "RETRY_FIRST_S", 0.001)
    real = AuditWriter._insert
    failures = iter([sqlite3.OperationalError("database or disk is full")] * 3)

    def flaky(self: AuditWriter, batch: list[tuple[Any, ...]]) -> int:
        exc = next(failures, None)
        if exc is not None:
            raise exc
        return real(self, batch)

    monkeypatch.setattr(AuditWriter, "_insert", flaky)
    w = AuditWriter(tmp_path / "s.db", flush_interval_s=0.01)
    recs = [sample() for _ in range(20)]
    with caplog.at_level(logging.ERROR, logger="llmgw.audit"):
        w.start()
        for r in recs:
            w.submit(r)
        assert w.close()
    assert w.written == 20 and w.failed == 0
    assert len(rows(tmp_path / "s.db")) == 20
    failed_logs = [m for m in caplog.messages if "disk is full" in m]
    assert len(failed_logs) == 3
    assert all("PROMPT-TEXT" not in m for m in caplog.messages)


def test_rows_that_can_never_be_stored_are_counted_not_retried_forever(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    w = AuditWriter(tmp_path / "s.db", flush_interval_s=0.01)
    good = [sample() for _ in range(5)]
    dup = sample(id=good[2].id)
    unencodable = sample(attempt_log=({"provider": object()},))
    with caplog.at_level(logging.ERROR, logger="llmgw.audit"):
        for r in [*good[:3], dup, unencodable, *good[3:]]:
            w.submit(r)
        w.start()
        assert w.flush(timeout=10)
        assert w.close()
    assert (w.written, w.failed, w.pending) == (5, 2, 0)
    assert [r["id"] for r in rows(tmp_path / "s.db")] == [r.id for r in good]
    assert any(good[2].id in m for m in caplog.messages)
    assert all("PROMPT-TEXT" not in m for m in caplog.messages)


def test_flush_times_out_while_the_disk_keeps_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "RETRY_FIRST_S", 0.001)
    monkeypatch.setattr(writer_mod, "RETRY_MAX_S", 0.005)
    broken = {"on": True}
    real = AuditWriter._insert

    def failing(self: AuditWriter, batch: list[tuple[Any, ...]]) -> int:
        if broken["on"]:
            raise sqlite3.OperationalError("disk I/O error")
        return real(self, batch)

    monkeypatch.setattr(AuditWriter, "_insert", failing)
    w = AuditWriter(tmp_path / "s.db", flush_interval_s=0.01)
    w.submit(sample())
    w.start()
    assert not w.flush(timeout=0.1)
    assert w.pending == 1
    broken["on"] = False  # the disk has room again: the same row goes in
    assert w.flush(timeout=10)
    assert w.close() and w.written == 1


def test_submit_costs_microseconds(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", queue_size=100_000)
    rec = sample()
    start = time.perf_counter()
    for _ in range(20_000):
        w.submit(rec)
    per_call = (time.perf_counter() - start) / 20_000
    assert per_call < 50e-6  # generous bound for slow CI; typically well under 1 µs
