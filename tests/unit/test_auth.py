"""Key authentication: new keys work at once, revoked keys stop within a reload, bad keys are
cheap and bounded."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmgw.errors import AuthenticationFailed
from llmgw.gateway.auth import KeyTable
from llmgw.gateway.key_lookup import MissCache, StoreLookup
from llmgw.store.db import open_db
from llmgw.store.keys import KeyRecord, KeyStore
from tests.pipeline.harness import sync


def scope(secret: str) -> dict[str, object]:
    return {"headers": [(b"authorization", f"Bearer {secret}".encode())]}


def make_key(state: Path, tenant: str = "acme") -> tuple[KeyRecord, str]:
    conn = open_db(state)
    try:
        return KeyStore(conn).create(tenant, "k")
    finally:
        conn.close()


def revoke(state: Path, key_id: str) -> None:
    conn = open_db(state)
    try:
        KeyStore(conn).revoke(key_id)
    finally:
        conn.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    open_db(path).close()
    return path


@pytest.fixture
def table(state: Path) -> Iterator[KeyTable]:
    t = KeyTable(state, refresh_s=3600)  # no reload unless a test asks for one
    yield t
    t.stop()


# -- the miss cache ------------------------------------------------------------------------


def test_miss_cache_forgets_after_its_ttl_and_keeps_its_size() -> None:
    now = [100.0]
    cache = MissCache(size=3, ttl_s=5.0, clock=lambda: now[0])
    cache.add("a")
    assert "a" in cache and "b" not in cache
    now[0] += 5.0
    assert "a" not in cache and len(cache) == 0
    for name in "abcd":
        cache.add(name)
    assert len(cache) == 3 and "a" not in cache  # the oldest went
    assert "b" in cache  # a hit moves it to the young end...
    cache.add("e")
    assert "b" in cache and "c" not in cache  # ...so "c" went next
    with pytest.raises(ValueError):
        MissCache(size=0)


# -- the lookup threads --------------------------------------------------------------------


@sync
async def test_store_lookup_answers_on_the_loop_and_passes_errors(state: Path) -> None:
    def work(conn: object, arg: str) -> int:
        if arg == "boom":
            raise RuntimeError("boom")
        return len(arg)

    lookup: StoreLookup[int] = StoreLookup(state, work, threads=2)  # type: ignore[arg-type]
    try:
        assert await asyncio.gather(*(lookup.submit("x" * n) for n in range(20))) == list(range(20))
        with pytest.raises(RuntimeError, match="boom"):
            await lookup.submit("boom")
    finally:
        lookup.stop()
    assert await lookup.submit("again") == 5  # restarts after a stop
    lookup.stop()


# -- the key table -------------------------------------------------------------------------


@sync
async def test_a_key_made_after_the_table_loaded_works_on_its_first_call(
    state: Path, table: KeyTable
) -> None:
    record, secret = make_key(state)
    assert (await table.authenticate(scope(secret))).id == record.id
    assert table.lookups == 1
    assert (await table.authenticate(scope(secret))).id == record.id
    assert table.lookups == 1  # now in the table: no second lookup


@sync
async def test_missing_and_unknown_keys_are_refused(table: KeyTable) -> None:
    with pytest.raises(AuthenticationFailed, match="missing API key"):
        await table.authenticate({"headers": []})
    with pytest.raises(AuthenticationFailed, match="invalid API key"):
        await table.authenticate(scope("sk-llmgw-nope"))
    with pytest.raises(AuthenticationFailed):
        await table.authenticate(scope("sk-llmgw-nope"))
    assert table.lookups == 1  # the second refusal came from the miss cache


@sync
async def test_a_revoked_key_is_refused_after_the_next_reload(state: Path, table: KeyTable) -> None:
    record, secret = make_key(state)
    await table.authenticate(scope(secret))
    revoke(state, record.id)
    table.reload()
    with pytest.raises(AuthenticationFailed):
        await table.authenticate(scope(secret))  # the store lookup finds no active key either


@sync
async def test_a_lookup_read_before_a_revocation_does_not_outlive_the_reload_that_saw_it(
    state: Path, table: KeyTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, secret = make_key(state)
    found = KeyStore.find_active

    def racing(self: KeyStore, key_hash: str) -> KeyRecord | None:
        result = found(self, key_hash)  # read while the key was active...
        revoke(state, record.id)  # ...revoked right after...
        table.reload()  # ...and a reload installed before the lookup is done
        return result

    monkeypatch.setattr(KeyStore, "find_active", racing)
    assert (await table.authenticate(scope(secret))).id == record.id  # read before: served
    monkeypatch.setattr(KeyStore, "find_active", found)
    with pytest.raises(AuthenticationFailed):
        await table.authenticate(scope(secret))  # not left in the table by the stale lookup


@sync
async def test_revocation_takes_effect_within_a_second_with_the_reload_thread(
    state: Path,
) -> None:
    table = KeyTable(state)  # the default one-second reload
    table.start()
    try:
        record, secret = make_key(state)
        await table.authenticate(scope(secret))
        revoke(state, record.id)
        revoked_at = time.monotonic()
        while True:
            try:
                await table.authenticate(scope(secret))
            except AuthenticationFailed:
                break
            assert time.monotonic() - revoked_at < 1.5, "revoked key still valid"
            await asyncio.sleep(0.01)
    finally:
        table.stop()


@sync
async def test_a_flood_of_bad_keys_is_refused_quickly_with_bounded_memory(state: Path) -> None:
    table = KeyTable(state, refresh_s=3600, max_lookups=64, miss_size=500)
    _, good = make_key(state)
    try:
        bad = ["sk-llmgw-" + secrets.token_urlsafe(32) for _ in range(1000)]
        start = time.perf_counter()
        results = await asyncio.gather(
            *(table.authenticate(scope(k)) for k in [*bad, good]), return_exceptions=True
        )
        flood_s = time.perf_counter() - start
        assert all(isinstance(r, AuthenticationFailed) for r in results[:-1])
        assert isinstance(results[-1], AuthenticationFailed)  # queued behind 64: refused at once
        assert table.lookups == 64 and table.pending_lookups == 0
        assert flood_s < 5.0, flood_s
        for key in bad:  # one by one: every lookup is answered, the cache stays bounded
            with pytest.raises(AuthenticationFailed):
                await table.authenticate(scope(key))
        assert len(table.misses) == 500 and table.pending_lookups == 0
        assert (await table.authenticate(scope(good))).tenant == "acme"
        same = await asyncio.gather(
            *(table.authenticate(scope("sk-llmgw-same")) for _ in range(1000)),
            return_exceptions=True,
        )
        assert all(isinstance(r, AuthenticationFailed) for r in same)
        # every bad key looked up once (64 in the flood, the rest one by one), the good one
        # once, and a thousand concurrent calls with the same key shared one lookup
        assert table.lookups == 1000 + 1 + 1
    finally:
        table.stop()


@sync
async def test_a_database_failure_is_a_401_not_a_crash(
    state: Path, table: KeyTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: KeyStore, key_hash: str) -> KeyRecord | None:
        raise OSError("disk gone")

    monkeypatch.setattr(KeyStore, "find_active", broken)
    with pytest.raises(AuthenticationFailed):
        await table.authenticate(scope("sk-llmgw-whatever"))
    assert table.pending_lookups == 0 and len(table.misses) == 0  # a failure is not a miss
