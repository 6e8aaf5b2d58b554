"""FairGate: capacity, weighted fairness, flood isolation, timeouts, cancellation, queue bound."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from llmgw.limits.fairqueue import FairGate
from llmgw.limits.model import Rejected
from llmgw.routing.clock import FakeClock, SystemClock


def sync(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Run an async test on a fresh event loop."""

    @functools.wraps(fn)
    def run() -> None:
        asyncio.run(fn())

    return run


async def settle() -> None:
    """Let every ready task run until nothing changes (no real time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


def gate(capacity: int = 1, timeout: float = 10.0, **kw: object) -> FairGate:
    return FairGate(capacity, FakeClock(), timeout, name="p/m", **kw)  # type: ignore[arg-type]


async def holder(
    g: FairGate, tenant: str, weight: int, order: list[str], go: asyncio.Event
) -> None:
    """Take a slot, note the grant, hold it until ``go`` is set."""
    async with g.slot(tenant, weight):
        order.append(tenant)
        await go.wait()


@sync
async def test_admits_up_to_capacity_then_queues() -> None:
    g = gate(capacity=2)
    await g.acquire("a")
    await g.acquire("a")
    waiter = asyncio.create_task(g.acquire("b"))
    await settle()
    assert not waiter.done()
    assert g.stats().in_flight == 2 and g.stats().queued == {"b": 1}
    g.release()
    await settle()
    assert waiter.done() and g.in_flight == 2 and g.queued_total() == 0
    g.release()
    g.release()
    assert g.in_flight == 0


@sync
async def test_weights_one_to_three_share_grants_one_to_three() -> None:
    g = gate(capacity=1, max_queued_per_tenant=100)
    await g.acquire("first")
    order: list[str] = []

    async def one(tenant: str, weight: int) -> None:
        async with g.slot(tenant, weight):
            order.append(tenant)
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(one("light", 1)) for _ in range(40)]
    tasks += [asyncio.create_task(one("heavy", 3)) for _ in range(40)]
    await settle()
    assert g.stats().queued == {"light": 40, "heavy": 40}
    g.release()
    await asyncio.gather(*tasks)
    first = Counter(order[:40])
    assert first == {"light": 10, "heavy": 30}
    assert len(order) == 80 and g.in_flight == 0


@sync
async def test_quiet_tenant_waits_at_most_one_turnover_behind_a_flood() -> None:
    g = gate(capacity=2, max_queued_per_tenant=100)
    finish = asyncio.Semaphore(0)  # each release() lets one slot-holding noisy call end
    order: list[str] = []

    async def noisy() -> None:
        async with g.slot("noisy"):
            order.append("noisy")
            await finish.acquire()

    flood = [asyncio.create_task(noisy()) for _ in range(60)]
    await settle()
    assert g.in_flight == 2 and g.queued("noisy") == 58
    for _ in range(3):  # the quiet tenant calls one at a time, three times
        done = asyncio.Event()
        quiet = asyncio.create_task(holder(g, "quiet", 1, order, done))
        await settle()
        turnovers = 0
        while order[-1] != "quiet" and turnovers < 10:
            finish.release()  # one noisy call ends: one slot turns over
            turnovers += 1
            await settle()
        assert order[-1] == "quiet"
        assert turnovers <= 2  # at most one noisy call (queued before it) went first
        done.set()
        await quiet
        await settle()
    assert g.queued("noisy") > 40 and g.in_flight == 2
    for _ in range(60):
        finish.release()
    await asyncio.gather(*flood)
    assert g.in_flight == 0 and order.count("noisy") == 60


@sync
async def test_idle_tenant_cannot_bank_credit() -> None:
    g = gate(capacity=1, max_queued_per_tenant=100)
    await g.acquire("x")
    order: list[str] = []

    async def one(tenant: str) -> None:
        async with g.slot(tenant):
            order.append(tenant)
            await asyncio.sleep(0)

    a = [asyncio.create_task(one("a")) for _ in range(6)]
    await settle()
    g.release()
    await asyncio.gather(*a)  # "a" served 6 times while "b" was idle
    await g.acquire("x")
    both = [asyncio.create_task(one(t)) for t in ("a", "b") * 4]
    await settle()
    g.release()
    await asyncio.gather(*both)
    assert Counter(order[6:10]) == {"a": 2, "b": 2}  # alternate, no catch-up burst for "b"


@sync
async def test_waiter_times_out_with_rejected_on_the_gate_clock() -> None:
    clock = FakeClock()
    g = FairGate(1, clock, 10.0, name="openai/gpt-4o")
    await g.acquire("a")
    waiter = asyncio.create_task(g.acquire("b"))
    await settle()
    clock.advance(9.9)
    assert g.expire() == 0
    clock.advance(0.1)
    assert g.expire() == 1
    with pytest.raises(Rejected) as info:
        await waiter
    exc = info.value
    assert exc.kind == "concurrency" and exc.node == "b"
    assert exc.message == "deployment openai/gpt-4o is at capacity; waited 10.0s"
    assert exc.retry_after_s is not None and exc.retry_after_s >= 1.0
    assert g.stats().rejected == {"b": 1} and g.queued_total() == 0
    g.release()
    assert g.in_flight == 0  # the timed-out waiter was not handed the slot


@sync
async def test_event_loop_timer_rejects_without_a_manual_sweep() -> None:
    g = FairGate(1, SystemClock(), 0.02, name="p/m")
    await g.acquire("a")
    with pytest.raises(Rejected, match="waited"):
        await asyncio.wait_for(g.acquire("b"), 5)


@sync
async def test_cancelled_waiter_leaves_cleanly_and_the_next_one_gets_the_slot() -> None:
    g = gate(capacity=1)
    await g.acquire("a")
    gone = asyncio.create_task(g.acquire("b"))
    stays = asyncio.create_task(g.acquire("c"))
    await settle()
    gone.cancel()
    await settle()
    assert gone.cancelled() and g.stats().queued == {"c": 1}
    g.release()
    await settle()
    assert stays.done() and g.in_flight == 1 and g.queued_total() == 0


@sync
async def test_slot_granted_as_the_caller_is_cancelled_is_handed_on() -> None:
    g = gate(capacity=1)
    await g.acquire("a")
    first = asyncio.create_task(g.acquire("b"))
    second = asyncio.create_task(g.acquire("c"))
    await settle()
    g.release()  # grants "b"'s future ...
    first.cancel()  # ... but its task is cancelled before it runs again
    await settle()
    assert first.cancelled() and second.done()
    assert g.in_flight == 1
    g.release()
    assert g.in_flight == 0


@sync
async def test_per_tenant_queue_bound_rejects_a_flood_at_once() -> None:
    g = gate(capacity=1, max_queued_per_tenant=2)
    await g.acquire("x")
    queued = [asyncio.create_task(g.acquire("noisy")) for _ in range(2)]
    await settle()
    with pytest.raises(Rejected) as info:
        await g.acquire("noisy")
    assert info.value.kind == "concurrency" and "2 calls of this tenant" in info.value.message
    other = asyncio.create_task(g.acquire("quiet"))  # other tenants still queue
    await settle()
    stats = g.stats()
    assert stats.queued == {"noisy": 2, "quiet": 1} and stats.rejected == {"noisy": 1}
    for t in [*queued, other]:
        t.cancel()
    await settle()
    assert g.queued_total() == 0


def test_default_queue_bound_is_four_times_capacity() -> None:
    assert gate(capacity=3).max_queued == 12
    with pytest.raises(ValueError):
        gate(capacity=0)


@sync
async def test_retry_after_follows_observed_hold_time() -> None:
    clock = FakeClock()
    g = FairGate(1, clock, 10.0)
    assert g.retry_after_s() == 1.0
    async with g.slot("a"):
        clock.advance(3.0)
    assert g.retry_after_s() == 3.0
