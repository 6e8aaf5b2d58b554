"""Keys on a running gateway: a new key works on its first call, a revoked one stops within a
second, and a flood of bad keys is refused quickly without growing memory."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

from llmgw.providers.mock_transport import MockRequest, MockResponse
from llmgw.store.db import open_db
from llmgw.store.keys import KeyStore
from tests.pipeline.harness import Harness, completion, config, sync

HELLO = {"model": "chat", "messages": [{"role": "user", "content": "Say hello."}]}


def answers(request: MockRequest) -> MockResponse:
    return MockResponse.json(completion())


def create(state: Path, tenant: str = "acme") -> tuple[str, str]:
    conn = open_db(state)
    try:
        record, secret = KeyStore(conn).create(tenant, "late")
        return record.id, secret
    finally:
        conn.close()


@sync
async def test_a_key_created_after_start_works_on_its_first_call(tmp_path: Path) -> None:
    async with Harness(tmp_path, config(), answers) as h:
        _, secret = create(h.state)
        reply = await h.chat(HELLO, key=secret)
        assert reply.status == 200, reply.body
        _, other = create(h.state, "globex")  # on the other route too
        anthropic = await h.chat({**HELLO, "max_tokens": 20}, path="/v1/messages", key=other)
        assert anthropic.status == 200, anthropic.body
        rows = await h.rows()
    assert [r["tenant"] for r in rows] == ["acme", "globex"]


@sync
async def test_a_revoked_key_is_refused_within_a_second(tmp_path: Path) -> None:
    async with Harness(tmp_path, config(), answers) as h:
        key_id, secret = create(h.state)
        assert (await h.chat(HELLO, key=secret)).status == 200
        conn = open_db(h.state)
        try:
            KeyStore(conn).revoke(key_id)
        finally:
            conn.close()
        revoked_at = time.monotonic()
        while (await h.chat(HELLO, key=secret)).status != 401:
            assert time.monotonic() - revoked_at < 1.5, "a revoked key was still served"
            await asyncio.sleep(0.01)


@sync
async def test_a_flood_of_bad_keys_is_refused_quickly_and_memory_stays_bounded(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, config(), answers) as h:
        bad = ["sk-llmgw-" + secrets.token_urlsafe(32) for _ in range(1000)]
        start = time.perf_counter()
        replies = await asyncio.gather(*(h.chat(HELLO, key=k) for k in bad))
        concurrent_s = time.perf_counter() - start
        start = time.perf_counter()
        again = [await h.chat(HELLO, key=k) for k in bad]
        sequential_s = time.perf_counter() - start
        table = h.gw.keys
        assert {r.status for r in replies} == {401} and {r.status for r in again} == {401}
        assert replies[0].json()["error"]["code"] == "invalid_api_key"
        assert concurrent_s < 10.0 and sequential_s < 10.0, (concurrent_s, sequential_s)
        assert table.pending_lookups == 0
        assert len(table.misses) <= table.misses.size
        assert table.lookups <= len(bad)  # each bad key looked up at most once
        assert (await h.chat(HELLO)).status == 200  # the tenant's own key is unaffected
