"""The cache's SQLite side: writes, lookups, expiry, LRU caps, purge, stats, and isolation."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from llmgw.cache.entry import CachedAnswer, storable
from llmgw.cache.stats import cache_stats
from llmgw.cache.store import CacheReads, CacheWriter, NewEntry, evict_over_caps, purge
from llmgw.store.db import open_db


def answer(text: str = "four", cost: int = 1_000) -> CachedAnswer:
    return CachedAnswer(text, "gpt-x", "up", 10, 2, cost, "req_1")


def entry(scope: str, key: str, tenant: str = "acme", ttl: int = 60, **kw: object) -> NewEntry:
    return NewEntry(scope, tenant, "small", key, kw.pop("ans", answer()), ttl, **kw)  # type: ignore[arg-type]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    open_db(path).close()
    return path


def writer(state: Path, **kw: int) -> CacheWriter:
    return CacheWriter(
        state, max_entries=kw.get("max_entries", 1000), max_bytes=kw.get("max_bytes", 10**9)
    )


def test_put_then_exact_lookup_in_its_scope_only(state: Path) -> None:
    w = writer(state)
    ids: list[int] = []
    w.put(entry("tenant:acme", "k1", on_stored=ids.append))
    w.flush()
    reads = CacheReads(state)
    found = reads.exact("tenant:acme", "k1", time.time())
    assert found is not None and found.answer == answer() and found.id == ids[0]
    assert reads.exact("tenant:globex", "k1", time.time()) is None
    assert reads.exact("tenant:acme", "k2", time.time()) is None


def test_a_lookup_is_one_index_search_on_scope_and_key(state: Path) -> None:
    """Another tenant's rows are never read: the plan is a point search on (scope, key)."""
    conn = sqlite3.connect(state)
    plan = " ".join(
        str(r[-1])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id, answer, created_at FROM cache_entries "
            "WHERE scope = ? AND key = ? AND expires_at > ?",
            ("tenant:a", "k", 0.0),
        )
    )
    assert "USING INDEX cache_entries_key (scope=? AND key=?)" in plan


def test_expired_entries_are_not_served_and_are_swept(state: Path) -> None:
    w = writer(state)
    w.put(entry("tenant:acme", "old", ttl=0))
    w.put(entry("tenant:acme", "new", ttl=60))
    w.flush()
    reads = CacheReads(state)
    assert reads.exact("tenant:acme", "old", time.time()) is None
    conn = open_db(state)
    w.maintain(conn)
    keys = [r[0] for r in conn.execute("SELECT key FROM cache_entries")]
    assert keys == ["new"]


def test_same_key_replaces_the_entry(state: Path) -> None:
    w = writer(state)
    w.put(entry("tenant:acme", "k", ans=answer("one")))
    w.flush()
    w.put(entry("tenant:acme", "k", ans=answer("two")))
    w.flush()
    found = CacheReads(state).exact("tenant:acme", "k", time.time())
    assert found is not None and found.answer.content == "two"


def test_least_recently_used_go_first_when_over_the_entry_cap(state: Path) -> None:
    w = writer(state, max_entries=10)
    ids: list[int] = []
    for i in range(12):
        w.put(entry("tenant:acme", f"k{i}", on_stored=ids.append))
    w.flush()
    w.touch(ids[0], time.time() + 100)  # the oldest entry was just used
    w.flush()
    conn = open_db(state)
    removed = evict_over_caps(conn, 10, 10**9)
    left = {r[0] for r in conn.execute("SELECT key FROM cache_entries")}
    assert removed == 3  # down to 95% of the cap: 9 left
    assert "k0" in left and "k1" not in left and "k2" not in left and "k3" not in left


def test_byte_cap_evicts_too(state: Path) -> None:
    w = writer(state)
    for i in range(50):
        w.put(entry("tenant:acme", f"k{i}", ans=answer("x" * 1000)))
    w.flush()
    conn = open_db(state)
    evict_over_caps(conn, 1000, 20_000)
    size = conn.execute("SELECT sum(size) FROM cache_entries").fetchone()[0]
    assert 0 < size <= 20_000


def test_purge_covers_the_subtree_and_optionally_one_model(state: Path) -> None:
    w = writer(state)
    w.put(entry("tenant:acme", "a", tenant="acme"))
    w.put(entry("tenant:acme/x", "b", tenant="acme/x"))
    w.put(entry("tenant:acme2", "c", tenant="acme2"))
    w.put(NewEntry("tenant:acme", "acme", "large", "d", answer(), 60))
    w.flush()
    conn = open_db(state)
    assert purge(conn, "acme", "large")[0] == 1
    assert purge(conn, "acme")[0] == 2
    assert [r[0] for r in conn.execute("SELECT tenant FROM cache_entries")] == ["acme2"]


def test_counters_sum_into_stats(state: Path) -> None:
    w = writer(state)
    w.put(entry("tenant:acme", "a"))
    w.count("acme", "small", "miss")
    w.count("acme", "small", "hit-exact", 12, 1_000)
    w.count("acme", "small", "hit-exact", 12, 1_000)
    w.count("acme", "small", "hit-semantic", 12, 1_000)
    w.count("acme", "small", "bypass")
    w.count("globex", "small", "miss")
    w.flush()
    conn = open_db(state)
    rows = {r["tenant"]: r for r in cache_stats(conn)}
    acme = rows["acme"]
    assert (acme["hit_exact"], acme["hit_semantic"], acme["miss"], acme["bypass"]) == (2, 1, 1, 1)
    assert acme["hit_rate"] == 0.75
    assert acme["saved_nanos"] == 3_000 and acme["saved_usd"] == "0.000003"
    assert acme["entries"] == 1 and acme["bytes"] > 0
    assert rows["globex"]["hit_rate"] == 0.0
    assert [r["tenant"] for r in cache_stats(conn, "globex")] == ["globex"]


def test_writer_thread_commits_in_the_background(state: Path) -> None:
    w = writer(state)
    w.start()
    try:
        w.put(entry("tenant:acme", "bg"))
        deadline = time.monotonic() + 5
        while CacheReads(state).exact("tenant:acme", "bg", time.time()) is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        w.close()


@pytest.mark.parametrize(
    ("outcome", "finish", "content", "tools", "fallback", "resumed", "ok"),
    [
        ("ok", "stop", "hi", False, False, False, True),
        ("error", "stop", "hi", False, False, False, False),
        ("aborted", "stop", "hi", False, False, False, False),
        ("degraded", "stop", "hi", False, False, False, False),
        ("ok", "length", "hi", False, False, False, False),
        ("ok", "content_filter", "hi", False, False, False, False),
        ("ok", "tool_calls", None, True, False, False, False),
        ("ok", "stop", "", False, False, False, False),
        ("ok", "stop", "hi", False, True, False, False),
        ("ok", "stop", "hi", False, False, True, False),
    ],
)
def test_only_complete_first_hand_answers_are_storable(
    outcome: str,
    finish: str,
    content: str | None,
    tools: bool,
    fallback: bool,
    resumed: bool,
    ok: bool,
) -> None:
    assert storable(outcome, finish, content, tools, fallback, resumed) is ok


def test_answer_replays_as_word_pieces_then_finish_and_usage() -> None:
    text = "The answer is four, as everyone knows, and it will always be four."
    chunks = answer(text).chunks()
    assert "".join(c.text or "" for c in chunks) == text
    assert sum(1 for c in chunks if c.text) >= 2
    assert chunks[-2].finish_reason == "stop" and chunks[-1].usage is not None
    assert CachedAnswer.from_json(answer(text).to_json()) == answer(text)


def test_entries_waiting_to_be_stored_are_bounded_in_bytes(
    state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``QUEUE_MAX_BYTES`` of text waiting for the writer, an entry is dropped (counted):
    a lost store costs one future hit, never memory without bound."""
    from llmgw.cache import store

    monkeypatch.setattr(store, "QUEUE_MAX_BYTES", 3_000_000)
    w = writer(state)
    big = "word " * 200_000  # 1 MB of answer
    for i in range(3):
        w.put(entry("tenant:acme", f"k{i}", ans=answer(big), prompt=f"question {i}"))
    assert w.dropped == 1  # the third would pass 3 MB
    w.flush()
    w.put(entry("tenant:acme", "k3", ans=answer(big)))  # room again once written
    w.flush()
    reads = CacheReads(state)
    found = [reads.exact("tenant:acme", f"k{i}", time.time()) for i in range(4)]
    assert [f is not None for f in found] == [True, True, False, True]
