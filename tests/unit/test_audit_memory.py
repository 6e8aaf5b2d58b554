"""What the audit writer holds in memory: rows bounded in bytes as well as in number, batches
capped in bytes, nothing dropped, and the connection's statements not keeping bodies."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from llmgw.audit import writer as writer_mod
from llmgw.audit.record import AuditRecord
from llmgw.audit.rows import ROW_BYTES, row_bytes
from llmgw.audit.writer import AuditWriter
from llmgw.gateway.runtime import build_gateway
from llmgw.settings import ConfigError
from llmgw.settings.parse import parse_settings
from llmgw.store.db import open_db

MB = 1_000_000


def rec(body_chars: int = 0, **over: Any) -> AuditRecord:
    body = "x" * body_chars if body_chars else None
    return AuditRecord(tenant="acme", request_body=body, response_body=None, **over)


def stored_ids(path: Path) -> list[str]:
    conn = open_db(path, readonly=True)
    try:
        return [r[0] for r in conn.execute("SELECT id FROM audit_log ORDER BY seq")]
    finally:
        conn.close()


async def settle(predicate: Any, timeout: float = 10.0) -> None:
    """Poll ``predicate`` until it is true (the writer thread runs beside the loop)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def test_row_bytes_counts_the_bodies() -> None:
    assert row_bytes(rec()) == ROW_BYTES
    assert MB < row_bytes(rec(MB)) - ROW_BYTES < MB + 100
    both = AuditRecord(request_body="a" * 1000, response_body="€" * 1000)  # 2 bytes a char
    assert row_bytes(both) > ROW_BYTES + 3000


def test_the_queue_is_bounded_in_bytes_and_nothing_is_dropped(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", queue_max_bytes=3 * MB, flush_interval_s=0.01)
    big = [rec(MB) for _ in range(3)]
    small = rec()
    assert w.submit(big[0]) and w.submit(big[1])
    assert w.held_bytes == row_bytes(big[0]) * 2
    assert not w.submit(big[2])  # 3 MB of bodies would pass the bound: not yet
    assert not w.congested  # nobody is waiting, and the queue is below its bound

    async def main() -> None:
        waiting = asyncio.create_task(w.submit_async(big[2]))
        await asyncio.sleep(0.05)
        assert not waiting.done() and w.congested
        assert not w.submit(small)  # a later row does not jump the one waiting
        late = asyncio.create_task(w.submit_async(small))
        w.start()
        await asyncio.wait_for(asyncio.gather(waiting, late), 10)
        await settle(lambda: w.pending == 0)

    asyncio.run(main())
    assert w.close()
    assert w.held_bytes == 0 and not w.congested
    ids = stored_ids(tmp_path / "s.db")  # the two waiting rows went in in either order
    assert ids[:2] == [big[0].id, big[1].id] and set(ids[2:]) == {big[2].id, small.id}


def test_one_row_larger_than_the_bound_still_goes_in(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", queue_max_bytes=1024)
    huge = rec(2 * MB)
    assert w.submit(huge)  # alone in the queue: it fits, whatever its size
    assert not w.submit(rec(10))
    w.start()
    assert w.flush(timeout=10)
    assert w.close()
    assert stored_ids(tmp_path / "s.db") == [huge.id]


def test_batches_are_capped_in_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "BATCH_MAX_BYTES", int(2.5 * MB))
    w = AuditWriter(tmp_path / "s.db", flush_interval_s=0.01)
    recs = [rec(MB) for _ in range(5)]
    assert all(w.submit(r) for r in recs)
    w.start()
    assert w.flush(timeout=10)
    assert w.close()
    assert (w.written, w.batches) == (5, 3)  # 2 + 2 + 1 rows: never 2.5 MB in one
    assert stored_ids(tmp_path / "s.db") == [r.id for r in recs]


def test_wait_for_room_holds_until_the_writer_caught_up(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", queue_size=2, flush_interval_s=0.01)

    async def main() -> None:
        assert w.submit(rec()) and w.submit(rec())
        assert w.congested  # full in rows
        door = asyncio.create_task(w.wait_for_room())
        await asyncio.sleep(0.05)
        assert not door.done()
        w.start()
        await asyncio.wait_for(door, 10)
        assert not w.congested

    asyncio.run(main())
    assert w.close()


def test_wait_for_room_does_not_hold_a_closing_writer(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", queue_size=1)
    assert w.submit(rec())
    assert w.close()
    asyncio.run(asyncio.wait_for(w.wait_for_room(), 5))


def test_the_connection_is_reopened_after_many_body_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cached statement keeps copies of the values last bound to it: the writer reopens its
    connection once that could add up to ``REOPEN_AFTER_BYTES`` of bodies."""
    monkeypatch.setattr(writer_mod, "REOPEN_AFTER_BYTES", 3 * MB)
    monkeypatch.setattr(writer_mod, "BATCH_MAX_BYTES", MB)  # one 1 MB row per batch
    opened: list[sqlite3.Connection] = []

    def counting_open(path: Path) -> sqlite3.Connection:
        opened.append(open_db(path))
        return opened[-1]

    monkeypatch.setattr(writer_mod, "open_db", counting_open)
    w = AuditWriter(tmp_path / "s.db", flush_interval_s=0.01)
    for _ in range(7):
        assert w.submit(rec(MB))
    w.start()
    assert w.flush(timeout=10)
    assert w.close()
    assert w.batches == 7 and len(opened) == 3  # reopened after rows 3 and 6
    small = AuditWriter(tmp_path / "t.db", flush_interval_s=0.01)
    for _ in range(50):
        small.submit(rec(100))
    opened.clear()
    small.start()
    assert small.flush(timeout=10)
    assert small.close()
    assert len(opened) == 1  # small bodies: one connection for the writer's life


def test_queue_max_bytes_setting(tmp_path: Path) -> None:
    assert parse_settings({}).audit.queue_max_bytes == 256 * 1024 * 1024
    settings = parse_settings({"audit": {"queue_max_bytes": 64 * 1024 * 1024}})
    assert settings.audit.queue_max_bytes == 64 * 1024 * 1024
    assert build_gateway(settings, tmp_path / "s.db").audit.queue_max_bytes == 64 * 1024 * 1024
    with pytest.raises(ConfigError, match="queue_max_bytes"):
        parse_settings({"audit": {"queue_max_bytes": 1000}})  # at least 1 MiB
    with pytest.raises(ConfigError, match="queue_max_bytes"):
        parse_settings({"audit": {"queue_max_bytes": "256MB"}})


def test_free_pages_go_back_once_a_burst_of_bodies_is_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmgw.audit import heap

    real = heap.release_free_memory
    released: list[int] = []
    monkeypatch.setattr(heap, "release_free_memory", lambda: released.append(1) or True)
    clock = [100.0]
    monkeypatch.setattr(heap.time, "monotonic", lambda: clock[0])
    trim = heap.IdleTrim(after_bytes=10 * MB, idle_s=1.0)
    trim.passed(4 * MB)
    clock[0] += 5
    assert not trim.due()  # 4 MB of bodies: not worth it
    trim.passed(8 * MB)
    clock[0] += 0.5
    assert not trim.due()  # bodies went by half a second ago: the burst may go on
    clock[0] += 0.6
    assert trim.due()
    trim.run()
    assert released == [1] and trim.trims == 1
    clock[0] += 5
    assert not trim.due()  # nothing since
    assert real() in (True, False)  # the real one runs anywhere (False without glibc)


def test_the_writer_trims_and_lets_its_statements_go_after_a_burst(tmp_path: Path) -> None:
    from llmgw.audit.heap import IdleTrim

    w = AuditWriter(tmp_path / "s.db", flush_interval_s=0.01)
    w.trim = IdleTrim(after_bytes=MB, idle_s=0.05)
    assert w.submit(rec(MB))
    w.start()
    assert w.flush(timeout=10)

    async def trimmed() -> None:
        await settle(lambda: w.trim.pending == 0)

    asyncio.run(trimmed())
    assert w._conn is None  # reopened on the next row: no statement holds the body
    assert w.submit(rec())
    assert w.close()
    assert len(stored_ids(tmp_path / "s.db")) == 2


def test_durable_rows_count_in_the_bytes_and_are_never_refused(tmp_path: Path) -> None:
    w = AuditWriter(tmp_path / "s.db", queue_max_bytes=MB, flush_interval_s=0.01)

    async def main() -> None:
        futures = [w.submit_durable(rec(MB)) for _ in range(3)]  # 3 MB past a 1 MB bound
        assert w.held_bytes > 3 * MB and w.congested
        assert not w.submit(rec())  # a batched row waits for room meanwhile
        w.start()
        await asyncio.wait_for(asyncio.gather(*futures), 10)
        await settle(lambda: w.held_bytes == 0)

    asyncio.run(main())
    assert w.close()
    assert len(stored_ids(tmp_path / "s.db")) == 3
