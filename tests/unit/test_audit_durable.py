"""The audit writer's durable path: a row submitted with ``submit_durable`` resolves its future
only after the transaction holding it has committed, one commit serves every waiter queued
meanwhile, failures reach the waiters, and nothing is left waiting when the writer stops."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from llmgw.audit import writer as writer_mod
from llmgw.audit.commits import NotCommitted
from llmgw.audit.rows import Pending
from llmgw.audit.writer import AuditWriter, WriterClosed
from llmgw.settings import ConfigError
from llmgw.settings.parse import parse_settings
from tests.unit.test_audit_writer import rows, sample

WAIT_S = 10.0  # every await below is bounded: a hang fails the test instead of stalling it


def stored_ids(path: Path) -> set[str]:
    return {r["id"] for r in rows(path)}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, WAIT_S * 2))


def test_the_future_resolves_only_once_the_row_is_committed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    seen: list[bool] = []

    async def main() -> None:
        # a long interval: only the durable submit can make the writer commit this soon
        w = AuditWriter(path, flush_interval_s=30)
        w.start()
        rec = sample()
        await asyncio.wait_for(w.submit_durable(rec), WAIT_S)
        seen.append(rec.id in stored_ids(path))  # read on another connection, at once
        assert w.close()

    run(main())
    assert seen == [True]


def test_one_commit_wakes_every_waiter_queued_while_the_previous_one_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = AuditWriter._insert
    entered, release = threading.Event(), threading.Event()
    sizes: list[int] = []

    def held(self: AuditWriter, batch: list[Pending]) -> None:
        sizes.append(len(batch))
        if len(sizes) == 1:  # hold the first commit while more calls queue their rows
            entered.set()
            release.wait(WAIT_S)
        real(self, batch)

    monkeypatch.setattr(AuditWriter, "_insert", held)
    path = tmp_path / "s.db"

    async def main() -> None:
        w = AuditWriter(path, flush_interval_s=30)
        w.start()
        first = w.submit_durable(sample())
        assert await asyncio.to_thread(entered.wait, WAIT_S)
        recs = [sample() for _ in range(50)]
        later = [w.submit_durable(r) for r in recs]
        await asyncio.sleep(0.05)
        assert not first.done() and not any(f.done() for f in later)  # nothing before COMMIT
        release.set()
        await asyncio.wait_for(asyncio.gather(first, *later), WAIT_S)
        assert stored_ids(path) >= {r.id for r in recs}
        assert w.close()
        assert w.batches == 2 and w.written == 51

    run(main())
    assert sizes == [1, 50]  # group commit: the 50 queued rows went in one transaction


def test_many_concurrent_callers_share_commits(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    async def main() -> None:
        w = AuditWriter(path, flush_interval_s=30)
        w.start()

        async def call() -> str:
            rec = sample()
            await asyncio.sleep(0)
            await w.submit_durable(rec)
            return rec.id

        ids = await asyncio.wait_for(asyncio.gather(*(call() for _ in range(300))), WAIT_S)
        assert set(ids) <= stored_ids(path)
        assert w.close()
        assert w.written == 300 and 1 <= w.batches < 300

    run(main())


def test_a_row_that_cannot_be_stored_fails_only_its_own_waiter(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    async def main() -> None:
        w = AuditWriter(path, flush_interval_s=30)
        good = [sample() for _ in range(3)]
        dup = sample(id=good[0].id)
        unencodable = sample(attempt_log=({"provider": object()},))
        # queued before the thread starts, so all five share one batch
        futures = [w.submit_durable(r) for r in [*good, dup, unencodable]]
        w.start()
        results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), WAIT_S)
        assert results[:3] == [None, None, None]
        assert isinstance(results[3], NotCommitted) and dup.id in str(results[3])
        assert isinstance(results[4], NotCommitted)
        assert w.close()
        assert (w.written, w.failed) == (3, 2)
        assert stored_ids(path) == {r.id for r in good}

    run(main())


def test_close_commits_and_resolves_every_waiter(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    async def main() -> None:
        w = AuditWriter(path, flush_interval_s=30)
        recs = [sample() for _ in range(20)]
        futures = [w.submit_durable(r) for r in recs]
        assert w.close()  # starts the thread, writes everything queued, stops
        await asyncio.wait_for(asyncio.gather(*futures), WAIT_S)
        with pytest.raises(WriterClosed):
            w.submit_durable(sample())
        assert stored_ids(path) == {r.id for r in recs}

    run(main())


def test_a_close_that_times_out_fails_the_waiters_instead_of_leaving_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "RETRY_FIRST_S", 0.001)
    monkeypatch.setattr(writer_mod, "RETRY_MAX_S", 0.005)
    broken = {"on": True}
    real = AuditWriter._insert

    def failing(self: AuditWriter, batch: list[Pending]) -> None:
        if broken["on"]:
            raise sqlite3.OperationalError("disk I/O error")
        real(self, batch)

    monkeypatch.setattr(AuditWriter, "_insert", failing)

    async def main() -> None:
        w = AuditWriter(tmp_path / "s.db", flush_interval_s=30)
        w.start()
        futures = [w.submit_durable(sample()) for _ in range(3)]
        assert not await asyncio.to_thread(w.close, 0.2)
        results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), WAIT_S)
        assert all(isinstance(r, NotCommitted) for r in results)
        broken["on"] = False  # the disk recovers: the thread finishes and skips the settled
        assert await asyncio.to_thread(w.close, WAIT_S)
        assert w.written == 3

    run(main())


def test_a_writer_thread_that_dies_fails_its_waiters_and_refuses_new_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bug(self: AuditWriter, batch: list[Any]) -> None:
        raise RuntimeError("a bug in the writer")

    monkeypatch.setattr(AuditWriter, "_write_batch", bug)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # expected; keep quiet

    async def main() -> None:
        w = AuditWriter(tmp_path / "s.db", flush_interval_s=30)
        w.start()
        future = w.submit_durable(sample())
        with pytest.raises(NotCommitted):
            await asyncio.wait_for(future, WAIT_S)
        assert w._thread is not None
        await asyncio.to_thread(w._thread.join, WAIT_S)
        with pytest.raises(WriterClosed):
            w.submit_durable(sample())

    run(main())


def test_a_cancelled_waiter_still_gets_its_row_written(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    async def main() -> None:
        w = AuditWriter(path, flush_interval_s=30)
        gone, kept = sample(), sample()
        first = w.submit_durable(gone)
        first.cancel()  # the call ended (client gone, shutdown) before the commit
        second = w.submit_durable(kept)
        w.start()
        await asyncio.wait_for(second, WAIT_S)
        assert w.close()
        assert stored_ids(path) == {gone.id, kept.id}

    run(main())


def test_waiters_of_a_closed_event_loop_do_not_break_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    w = AuditWriter(path, flush_interval_s=30)
    orphan = sample()

    async def submit_and_leave() -> None:
        w.submit_durable(orphan)

    asyncio.run(submit_and_leave())  # that loop is closed before the row is committed
    later = sample()

    async def main() -> None:
        w.start()
        await asyncio.wait_for(w.submit_durable(later), WAIT_S)

    run(main())
    assert w.close()
    assert stored_ids(path) == {orphan.id, later.id}


def test_the_durability_setting_defaults_to_batched_and_takes_strict() -> None:
    base = {"providers": {"m": {"kind": "mock"}}}
    assert parse_settings(base).audit.durability == "batched"
    assert parse_settings({**base, "audit": {"durability": "strict"}}).audit.durability == "strict"
    with pytest.raises(ConfigError, match=r"audit\.durability.*unknown durability 'fsync'"):
        parse_settings({**base, "audit": {"durability": "fsync"}})
