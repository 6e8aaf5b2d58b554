"""Breaker snapshots and transition events in a real SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from llmgw.routing.breaker import BreakerBoard, Transition
from llmgw.routing.breaker_store import BreakerStore
from llmgw.routing.clock import FakeClock
from llmgw.settings.schema import BreakerConfig
from llmgw.store.db import open_db


def test_snapshots_round_trip_through_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "llmgw.db"
    clock = FakeClock(wall_start=1_700_000_000.0)
    events: list[Transition] = []
    board = BreakerBoard(BreakerConfig(consecutive_failures=2, open_s=30.0), clock, events.append)
    for _ in range(2):
        assert board.get("openai/gpt-4o").allow()
        board.get("openai/gpt-4o").record_failure("overloaded")
    board.get("anthropic/claude").force("closed")
    store = BreakerStore(path)
    store.save(board.snapshot_all())
    store.record_transitions(events)
    clock.advance(10.0)
    store.save(board.snapshot_all())  # upsert, not a second row

    loaded = BreakerStore(path).load()
    assert set(loaded) == {"openai/gpt-4o", "anthropic/claude"}
    later = FakeClock(start=1.0, wall_start=clock.wall() + 5.0)
    board2 = BreakerBoard(BreakerConfig(consecutive_failures=2, open_s=30.0), later)
    assert board2.restore_all(loaded) == []
    assert board2.get("openai/gpt-4o").state == "open"
    assert board2.get("openai/gpt-4o").retry_after() == 15.0
    assert board2.get("anthropic/claude").forced == "closed"

    conn = open_db(path)
    try:
        assert conn.execute("SELECT count(*) FROM breakers").fetchone()[0] == 2
    finally:
        conn.close()


def test_transitions_log_newest_first_and_filtered(tmp_path: Path) -> None:
    store = BreakerStore(tmp_path / "s.db")
    store.record_transitions([])
    rows = [
        Transition(
            "a/m",
            100.0 + i,
            "closed" if i % 2 == 0 else "open",
            "open" if i % 2 == 0 else "closed",
            f"r{i}",
        )
        for i in range(6)
    ]
    rows.append(Transition("b/m", 50.0, "closed", "open", "5 consecutive failures"))
    store.record_transitions(rows)
    assert store.recent_transitions("a/m", limit=2) == [rows[5], rows[4]]
    everything = store.recent_transitions()
    assert len(everything) == 7 and everything[-1] == rows[6]
    assert store.recent_transitions("b/m") == [rows[6]]
    assert store.recent_transitions("nope") == []


def test_unreadable_rows_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = BreakerStore(path)
    store.save({"a/m": {"state": "closed"}})
    conn = open_db(path)
    try:
        conn.execute("INSERT INTO breakers VALUES ('b/m', '{not json', 0)")
    finally:
        conn.close()
    assert store.load() == {"a/m": {"state": "closed"}}


def test_migration_creates_tables(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    BreakerStore(path).load()
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"breakers", "breaker_events", "api_keys", "audit_log"} <= tables
