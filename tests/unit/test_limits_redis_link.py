"""``RedisLink`` against a real ``redis-server``: which failures are retried (and that a retry
never counts twice), the warm start, and a start bounded when Redis is away or late."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from llmgw.limits.model import NodeLimits, Rejected
from llmgw.limits.periods import period_id
from llmgw.limits.redis_link import RedisLink, retryable
from llmgw.limits.redis_store import SCRIPTS, RedisStore
from llmgw.routing.clock import FakeClock
from tests.limits_contract import CONTRACT_WALL_START, ORG, budget, demand
from tests.redis_server import RedisServer, closed_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    s = RedisServer.start(Path(tmp_path_factory.mktemp("redis-link")))
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def flushed(server: RedisServer) -> str:
    with redis.Redis.from_url(server.url) as client:
        client.flushdb()
        client.script_flush()
    return server.url


def fake_clock() -> FakeClock:
    return FakeClock(start=1000.0, wall_start=CONTRACT_WALL_START)


def fail_once(link: RedisLink, name: str, exc: Exception, *, after_running: bool) -> None:
    """Make the next run of script ``name`` raise ``exc``: after the script ran on the server
    (its reply lost on the way back) or before it was sent."""
    link.client()
    real = link._scripts[name]
    failed = False

    async def flaky(keys: Any = None, args: Any = None, client: Any = None) -> Any:
        nonlocal failed
        if failed:
            return await real(args=args)
        failed = True
        if after_running:
            await real(args=args)
        raise exc

    link._scripts[name] = flaky  # type: ignore[assignment]


# ------------------------------------------------------------------ the retry policy


def test_which_failures_are_retried() -> None:
    pool_full = RedisConnectionError("No connection available.")
    pool_full.__cause__ = TimeoutError()
    for name in ("admit", "settle", "spend"):
        assert retryable(name, RedisConnectionError("Connection reset by peer"))
        assert retryable(name, ConnectionRefusedError())
        assert not retryable(name, pool_full)  # busy, not broken
    for timeout in (RedisTimeoutError("Timeout reading"), TimeoutError()):
        assert not retryable("admit", timeout)
        assert retryable("settle", timeout) and retryable("spend", timeout)


def test_an_admit_whose_reply_was_lost_is_retried_and_counted_once(flushed: str) -> None:
    clock = fake_clock()
    spec = budget(10_000)
    chain = (NodeLimits(ORG, rpm=3, concurrency=10, budgets=(spec,)),)

    async def run() -> None:
        store = RedisStore(flushed, clock=clock)
        fail_once(store.link, "admit", RedisConnectionError("reset"), after_running=True)
        adm = await store.admit(chain, demand(cost=100))
        assert store.link.retries == 1
        assert adm.budget_periods == {f"{ORG}|day": period_id("day", clock.wall())}
        assert (await store.spend(ORG, spec)).reserved_nanos == 100  # reserved once
        await store.admit(chain, demand())
        await store.admit(chain, demand())  # rpm 3: the retried admit counted one request
        with pytest.raises(Rejected) as info:
            await store.admit(chain, demand())
        assert info.value.kind == "rpm"
        await store.settle(adm, tokens=10, cost_nanos=40)
        usage = await store.spend(ORG, spec)
        assert (usage.spent_nanos, usage.reserved_nanos) == (40, 0)  # one lease, one refund
        await store.aclose()

    asyncio.run(run())
    with redis.Redis.from_url(flushed) as client:
        assert client.zcard(f"llmgw:c:{ORG}") == 2  # the two later admits; the first settled


def test_an_admit_that_timed_out_is_not_retried(flushed: str) -> None:
    chain = (NodeLimits(ORG, rpm=3),)

    async def run() -> None:
        store = RedisStore(flushed, clock=fake_clock())
        fail_once(store.link, "admit", RedisTimeoutError("slow"), after_running=True)
        with pytest.raises(Rejected) as info:
            await store.admit(chain, demand())
        assert info.value.kind == "unavailable" and store.link.retries == 0
        await store.aclose()

    asyncio.run(run())


def test_a_settle_that_timed_out_is_retried(flushed: str) -> None:
    spec = budget(10_000)
    chain = (NodeLimits(ORG, budgets=(spec,)),)

    async def run() -> None:
        store = RedisStore(flushed, clock=fake_clock())
        adm = await store.admit(chain, demand(cost=100))
        fail_once(store.link, "settle", RedisTimeoutError("slow"), after_running=True)
        usage = await store.settle(adm, tokens=1, cost_nanos=60)
        assert store.link.retries == 1
        # the retry found the lease done, so it reported nothing and charged nothing twice
        assert usage == []
        spend = await store.spend(ORG, spec)
        assert (spend.spent_nanos, spend.reserved_nanos) == (60, 0)
        await store.aclose()

    asyncio.run(run())


def test_a_refused_connection_is_retried_once_then_fails_fast() -> None:
    async def run() -> None:
        store = RedisStore(f"redis://127.0.0.1:{closed_port()}/0")
        started = time.monotonic()
        with pytest.raises(Rejected):
            await store.admit((NodeLimits(ORG, rpm=1),), demand())
        assert store.link.retries == 1 and time.monotonic() - started < 1
        await store.aclose()

    asyncio.run(run())


# ------------------------------------------------------------------ warm start


def stats(client: redis.Redis) -> tuple[int, int]:
    """(connections accepted so far, SCRIPT LOAD calls so far)."""
    accepted = int(client.info("stats")["total_connections_received"])  # type: ignore[index]
    loads = client.info("commandstats").get("cmdstat_script|load", {})  # type: ignore[union-attr]
    return accepted, int(loads.get("calls", 0))


def test_start_opens_the_pool_and_loads_the_scripts(flushed: str) -> None:
    chain = (NodeLimits(ORG, rpm=10_000, budgets=(budget(10**9),)),)
    shas = [hashlib.sha1(body.encode()).hexdigest() for body in SCRIPTS.values()]

    async def run(client: redis.Redis) -> None:
        store = RedisStore(flushed, clock=fake_clock(), max_connections=8)
        assert await store.link.start()
        assert client.script_exists(*shas) == [True, True, True]
        before = stats(client)
        await asyncio.gather(*(store.admit(chain, demand(cost=1)) for _ in range(40)))
        assert stats(client) == before  # no connection opened, no script loaded in the burst
        await store.aclose()

    with redis.Redis.from_url(flushed) as client:
        accepted = stats(client)[0]
        asyncio.run(run(client))
        assert stats(client)[0] - accepted == 8  # the whole pool, at start


def test_start_gives_up_after_start_wait_s_and_the_fail_mode_applies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"

    async def run() -> None:
        store = RedisStore(url, fail_mode="closed", start_wait_s=0.5)
        started = time.monotonic()
        assert not await store.link.start()
        assert 0.5 <= time.monotonic() - started < 2
        with pytest.raises(Rejected) as info:
            await store.admit((NodeLimits(ORG, rpm=1),), demand())
        assert info.value.kind == "unavailable"
        await store.aclose()

    with caplog.at_level(logging.WARNING, logger="llmgw.limits.redis"):
        asyncio.run(run())
    assert any("unreachable at start" in r.getMessage() for r in caplog.records)


def test_start_waits_for_a_redis_that_comes_up_late(tmp_path: Path) -> None:
    port = closed_port()
    url = f"redis://127.0.0.1:{port}/0"
    servers: list[RedisServer] = []

    async def run() -> None:
        store = RedisStore(url, clock=fake_clock(), start_wait_s=20)
        starting = asyncio.create_task(store.link.start())
        await asyncio.sleep(0.3)  # the first attempts are refused
        assert not starting.done()
        servers.append(await asyncio.to_thread(RedisServer.start, tmp_path, 10.0, port))
        assert await starting
        await store.admit((NodeLimits(ORG, rpm=1),), demand())
        await store.aclose()

    try:
        asyncio.run(run())
    finally:
        for s in servers:
            s.stop()
