"""``RedisStore`` against a real ``redis-server``: the shared contract plus what only a shared
store has to get right (replicas, concurrency, expiry, an unreachable backend)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from llmgw.limits.model import BudgetSpec, NodeLimits, Rejected
from llmgw.limits.periods import period_end, period_id
from llmgw.limits.redis_lua import BUDGET_GRACE_S
from llmgw.limits.redis_store import RedisStore, is_unchecked
from llmgw.routing.clock import FakeClock
from tests.limits_contract import (
    CONTRACT_WALL_START,
    ORG,
    TEAM,
    LimitStoreContract,
    budget,
    demand,
)
from tests.redis_server import RedisServer, closed_port

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private redis-server for the session."""
    server = RedisServer.start(Path(tmp_path_factory.mktemp("redis")))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def flushed(redis_url: str) -> str:
    """``redis_url`` with an empty database."""
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    return redis_url


def fake_clock() -> FakeClock:
    return FakeClock(start=1000.0, wall_start=CONTRACT_WALL_START)


class TestRedisStore(LimitStoreContract):
    """The exact suite the in-process store passes."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return fake_clock()

    @pytest.fixture
    def store(
        self, clock: FakeClock, flushed: str, limits_loop: asyncio.AbstractEventLoop
    ) -> Iterator[RedisStore]:
        s = RedisStore(flushed, clock=clock, timeout_s=1.0)
        yield s
        limits_loop.run_until_complete(s.aclose())


# ------------------------------------------------------------------ periods in Lua


def test_period_ids_in_lua_match_python(flushed: str) -> None:
    """The script's UTC calendar agrees with ``llmgw.limits.periods`` around every edge."""
    rng = random.Random(7)
    instants = [0.0, 951782399.0, 951782400.0, 951868800.0, 4107542399.0, 4107542400.0]
    instants += [period_end("month", rng.uniform(0, 4.1e9)) + d for _ in range(60) for d in (-1, 0)]
    instants += [rng.uniform(0, 4.1e9) for _ in range(100)]
    specs = [budget(1), budget(1, period="month"), budget(1, period="window", window_s=3600)]

    async def check() -> None:
        for wall in instants:
            clock = FakeClock(wall_start=float(int(wall)))
            store = RedisStore(flushed, clock=clock, timeout_s=1.0)
            for spec in specs:
                usage = await store.spend(ORG, spec)
                assert usage.period_id == period_id(spec.period, clock.wall(), spec.window_s)
            await store.aclose()

    asyncio.run(check())


# ------------------------------------------------------------------ two replicas


def test_two_replicas_share_one_rpm_node(flushed: str) -> None:
    """250 interleaved calls on two replicas at one instant: exactly 100 get through."""
    clock = fake_clock()
    chain = (NodeLimits(ORG, rpm=100),)

    async def burst() -> int:
        a = RedisStore(flushed, clock=clock, timeout_s=1.0)
        b = RedisStore(flushed, clock=clock, timeout_s=1.0)

        async def one(store: RedisStore) -> bool:
            try:
                await store.admit(chain, demand())
            except Rejected as err:
                assert err.kind == "rpm"
                return False
            return True

        results = await asyncio.gather(*(one(a if i % 2 else b) for i in range(250)))
        await a.aclose()
        await b.aclose()
        return sum(results)

    assert asyncio.run(burst()) == 100


def test_two_replicas_on_redis_time(flushed: str) -> None:
    """Same burst on Redis TIME: at most 100 plus what the elapsed time refilled."""
    chain = (NodeLimits(ORG, rpm=100),)

    async def burst() -> tuple[int, float]:
        a, b = RedisStore(flushed, timeout_s=1.0), RedisStore(flushed, timeout_s=1.0)
        started = time.monotonic()
        admitted = 0
        for i in range(250):
            try:
                await (a if i % 2 else b).admit(chain, demand())
                admitted += 1
            except Rejected:
                pass
        elapsed = time.monotonic() - started
        await a.aclose()
        await b.aclose()
        return admitted, elapsed

    admitted, elapsed = asyncio.run(burst())
    assert 100 <= admitted <= 100 + int(elapsed / 0.6) + 1


def test_shared_budget_never_exceeds_hard_limit(flushed: str) -> None:
    """200 concurrent admit/settle tasks over two replicas respect one hard budget exactly."""
    spec = BudgetSpec(key="day", period="day", limit_nanos=1_000_000)
    chain = (NodeLimits(ORG, budgets=(spec,)), NodeLimits(TEAM, concurrency=50))
    rng = random.Random(3)
    costs = [rng.randint(0, 10_000) for _ in range(200)]

    async def run() -> tuple[int, int, int, int]:
        a, b = RedisStore(flushed, timeout_s=2.0), RedisStore(flushed, timeout_s=2.0)
        charged = 0
        admitted = 0
        peak = 0

        async def call(i: int) -> None:
            nonlocal charged, admitted, peak
            store = a if i % 2 else b
            try:
                adm = await store.admit(chain, demand(cost=10_000))
            except Rejected as err:
                assert err.kind in ("budget", "concurrency")
                return
            admitted += 1
            await asyncio.sleep(0)
            usages = await store.settle(adm, tokens=5, cost_nanos=costs[i])
            charged += costs[i]
            peak = max(peak, *(u.spent_nanos + u.reserved_nanos for u in usages))

        await asyncio.gather(*(call(i) for i in range(200)))
        usage = await a.spend(ORG, spec)
        await a.aclose()
        await b.aclose()
        assert usage.reserved_nanos == 0
        # the period id comes from Redis TIME inside the script
        assert usage.period_id in {period_id("day", t) for t in (started, time.time())}
        return usage.spent_nanos, charged, admitted, peak

    started = time.time()
    spent, charged, admitted, peak = asyncio.run(run())
    assert spent == charged <= 1_000_000
    assert peak <= 1_000_000
    assert 0 < admitted < 200


def test_restore_spend_from_second_replica_does_not_overwrite(flushed: str) -> None:
    clock = fake_clock()
    spec = budget(10_000)

    async def run() -> int:
        first = RedisStore(flushed, clock=clock, timeout_s=1.0)
        second = RedisStore(flushed, clock=clock, timeout_s=1.0)
        await first.restore_spend(ORG, spec, 700)
        adm = await first.admit((NodeLimits(ORG, budgets=(spec,)),), demand(cost=100))
        await first.settle(adm, tokens=1, cost_nanos=50)
        await second.restore_spend(ORG, spec, 9_000)  # a stale ledger total loses
        spent = (await second.spend(ORG, spec)).spent_nanos
        await first.aclose()
        await second.aclose()
        return spent

    assert asyncio.run(run()) == 750


# ------------------------------------------------------------------ unreachable backend


def test_fail_closed_rejects_quickly() -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"

    async def run() -> tuple[Rejected, float]:
        store = RedisStore(url, fail_mode="closed")
        started = time.monotonic()
        with pytest.raises(Rejected) as info:
            await store.admit((NodeLimits(ORG), NodeLimits(TEAM, rpm=1)), demand())
        elapsed = time.monotonic() - started
        with pytest.raises(Rejected):
            await store.spend(ORG, budget(1))
        await store.aclose()
        return info.value, elapsed

    err, elapsed = asyncio.run(run())
    assert (err.kind, err.node, err.retry_after_s) == ("unavailable", TEAM, 1)
    assert err.message == "limits backend unreachable"
    assert elapsed < 1.0


def test_fail_open_admits_unchecked_and_warns_once_per_10s(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    clock = fake_clock()
    chain = (NodeLimits(ORG, rpm=1, concurrency=1, budgets=(budget(1),)),)

    async def run() -> None:
        store = RedisStore(url, fail_mode="open", clock=clock)
        first = await store.admit(chain, demand(cost=5))
        second = await store.admit(chain, demand(cost=5))  # nothing was counted
        assert is_unchecked(first) and is_unchecked(second)
        assert first.budget_periods == {} and first.requests is None
        assert await store.settle(first, tokens=1, cost_nanos=1) == []
        await store.release(second)
        clock.advance(10)
        await store.admit(chain, demand())
        await store.aclose()

    with caplog.at_level(logging.WARNING, logger="llmgw.limits.redis"):
        asyncio.run(run())
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 2


# ------------------------------------------------------------------ expiry and leases


def test_keys_expire(flushed: str) -> None:
    clock = fake_clock()
    spec = budget(10_000)
    chain = (NodeLimits(ORG, rpm=100, tpm=6000, concurrency=3, budgets=(spec,)),)

    async def run() -> RedisStore:
        store = RedisStore(flushed, clock=clock, timeout_s=1.0, lease_s=120)
        adm = await store.admit(chain, demand(tokens=600, cost=10))
        await store.admit(chain, demand(tokens=0, cost=10))  # still in flight
        await store.settle(adm, tokens=600, cost_nanos=10)
        await store.aclose()
        return store

    asyncio.run(run())
    day_left = period_end("day", clock.wall()) - clock.wall()
    pid = period_id("day", clock.wall())
    with redis.Redis.from_url(flushed) as client:
        assert 600 < client.pttl(f"llmgw:r:{ORG}") <= 1_202  # two requests at 100/min
        assert 5_000 < client.pttl(f"llmgw:t:{ORG}") <= 6_002  # 600 tokens at 6000/min
        assert client.ttl(f"llmgw:b:{ORG}|day|{pid}") == pytest.approx(
            day_left + BUDGET_GRACE_S, abs=2
        )
        assert 0 < client.ttl(f"llmgw:c:{ORG}") <= 120
        assert all(client.ttl(k) > 0 for k in client.keys("llmgw:a:*"))
        assert all(client.ttl(k) > 0 for k in client.keys("*") if k != b"llmgw:leases")
        assert client.zcard("llmgw:leases") == 1


def test_dead_replica_lease_is_reaped(flushed: str) -> None:
    """A replica that never settles holds its slot and reservation only until its lease ends;
    a late settle still charges but refunds nothing twice."""
    clock = fake_clock()
    spec = budget(1000)
    chain = (NodeLimits(ORG, concurrency=1, budgets=(spec,)),)

    async def run() -> tuple[int, int]:
        dead = RedisStore(flushed, clock=clock, timeout_s=1.0, lease_s=60)
        live = RedisStore(flushed, clock=clock, timeout_s=1.0, lease_s=60)
        lost = await dead.admit(chain, demand(cost=800))
        with pytest.raises(Rejected):
            await live.admit(chain, demand(cost=100))
        clock.advance(61)
        adm = await live.admit(chain, demand(cost=900))
        await dead.settle(lost, tokens=1, cost_nanos=50)
        await live.release(adm)
        usage = await live.spend(ORG, spec)
        await dead.aclose()
        await live.aclose()
        return usage.spent_nanos, usage.reserved_nanos

    assert asyncio.run(run()) == (50, 0)


def test_one_round_trip_per_admit_and_settle(flushed: str) -> None:
    clock = fake_clock()
    chain = (NodeLimits(ORG, rpm=1000, tpm=10**6, concurrency=5, budgets=(budget(10**9),)),)

    def calls(client: redis.Redis) -> dict[str, int]:
        stats = client.info("commandstats")
        names = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_script|load", "cmdstat_time")
        return {n: int(stats.get(n, {}).get("calls", 0)) for n in names}  # type: ignore[union-attr]

    async def run() -> None:
        store = RedisStore(flushed, clock=clock, timeout_s=1.0)
        await store.settle(await store.admit(chain, demand()), 1, 1)  # loads the scripts
        with redis.Redis.from_url(flushed) as client:
            before = calls(client)
            for _ in range(10):
                adm = await store.admit(chain, demand(cost=10))
                await store.settle(adm, tokens=5, cost_nanos=5)
            after = calls(client)
        await store.aclose()
        assert {n: after[n] - before[n] for n in after} == {
            "cmdstat_evalsha": 20,  # one script call each, nothing else on the wire
            "cmdstat_eval": 0,
            "cmdstat_script|load": 0,
            "cmdstat_time": 0,  # the injected clock replaces Redis TIME
        }

    asyncio.run(run())
