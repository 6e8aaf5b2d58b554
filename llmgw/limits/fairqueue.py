"""A fair gate in front of one deployment's concurrency: weighted fair queuing over tenants.

``FairGate`` admits at most ``capacity`` calls at once. When it is full, callers wait in a
queue of their own tenant, and a freed slot goes to the tenant chosen by *start-time fair
queuing* (SFQ) over tenants:

- the gate keeps a virtual time ``V`` (the tag of the last waiter served);
- a tenant that becomes backlogged gets the tag ``max(V, its last finish tag)``, so an idle
  tenant cannot bank credit, and a tenant that was served many times recently starts later;
- the tenant with the smallest tag is served; its next tag is ``tag + 1 / weight``.

So under contention each tenant gets slots in proportion to its weight (grants, not seconds of
hold time: calls of similar length share the capacity by weight), and a tenant with one call
waiting is served before a flooding tenant's second: its wait is bounded by one slot turnover
per other backlogged tenant. Tags are given to a tenant's head waiter only, so waiters that time
out or are cancelled cost their tenant nothing.

Each operation is O(log t) in the number of backlogged tenants (a heap of tenants), amortised
O(1) per waiter (a FIFO per tenant with lazy removal of waiters that gave up).

A waiter gives up after ``queue_timeout_s`` (``Rejected("concurrency", ...)``); a tenant with
``max_queued_per_tenant`` calls already waiting is refused at once, so a flood is answered 429
immediately instead of piling up. A cancelled waiter (client gone) leaves cleanly, and a slot
granted to a waiter that was cancelled at the same moment is handed on.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from llmgw.limits.model import Rejected
from llmgw.routing.clock import Clock

QUEUE_FACTOR = 4  # default per-tenant queue bound: capacity x this
HOLD_EWMA_ALPHA = 0.2  # smoothing of the observed slot hold time (for Retry-After)
MIN_RETRY_AFTER_S = 1.0


@dataclass(slots=True, frozen=True)
class GateStats:
    """A snapshot of one gate: slots in use, waiters and refusals per tenant."""

    capacity: int
    in_flight: int
    queued: dict[str, int]
    rejected: dict[str, int]


@dataclass(slots=True, eq=False)
class _Waiter:
    tenant: str
    weight: int
    future: asyncio.Future[None]
    enqueued_at: float
    timer: asyncio.TimerHandle | None = None
    gone: bool = False  # timed out or cancelled: skipped when it reaches the head


@dataclass(slots=True)
class _Tenant:
    waiters: deque[_Waiter] = field(default_factory=deque)
    live: int = 0  # waiters not gone
    finish: float = 0.0  # virtual finish tag of the last waiter served
    scheduled: bool = False  # has an entry in the tenant heap


class FairGate:
    """At most ``capacity`` calls at once; waiters served by weighted fair queuing."""

    def __init__(
        self,
        capacity: int,
        clock: Clock,
        queue_timeout_s: float,
        *,
        name: str = "",
        max_queued_per_tenant: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.clock = clock
        self.queue_timeout_s = queue_timeout_s
        self.name = name or "deployment"
        self.max_queued = max_queued_per_tenant or capacity * QUEUE_FACTOR
        self.in_flight = 0
        self._vtime = 0.0
        self._seq = itertools.count()
        self._heap: list[tuple[float, int, str]] = []
        self._tenants: dict[str, _Tenant] = {}
        self._arrivals: deque[_Waiter] = deque()  # every waiter, oldest first (deadlines)
        self._rejected: dict[str, int] = {}
        self._live = 0  # waiters not gone, over all tenants
        self._hold_s: float | None = None

    # -- public -----------------------------------------------------------------------------

    @asynccontextmanager
    async def slot(self, tenant: str, weight: int = 1) -> AsyncIterator[None]:
        """Hold one slot for the body; raises ``Rejected`` when none comes in time."""
        await self.acquire(tenant, weight)
        began = self.clock.monotonic()
        try:
            yield
        finally:
            self._observe_hold(self.clock.monotonic() - began)
            self.release()

    async def acquire(self, tenant: str, weight: int = 1) -> None:
        """Take a slot, waiting in ``tenant``'s queue if needed. Pair with ``release()``."""
        if self.in_flight < self.capacity and not self._live:
            self.in_flight += 1
            return
        state = self._tenants.setdefault(tenant, _Tenant())
        if state.live >= self.max_queued:
            self._count_rejection(tenant)
            raise Rejected(
                "concurrency",
                tenant,
                f"deployment {self.name} is at capacity; {state.live} calls of this tenant "
                "already waiting",
                retry_after_s=self.retry_after_s(),
            )
        loop = asyncio.get_running_loop()
        waiter = _Waiter(tenant, max(1, weight), loop.create_future(), self.clock.monotonic())
        state.waiters.append(waiter)
        state.live += 1
        self._live += 1
        self._trim_arrivals()
        self._arrivals.append(waiter)
        if not state.scheduled:
            self._schedule(tenant, state, max(self._vtime, state.finish))
        waiter.timer = loop.call_later(self.queue_timeout_s, self._time_out, waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                if waiter.future.exception() is None:
                    self.release()  # granted just as the caller went away: hand it on
            else:
                self._give_up(waiter)
            raise
        finally:
            if waiter.timer is not None:
                waiter.timer.cancel()

    def release(self) -> None:
        """Free a slot: hand it straight to the next waiter by fair order, if any."""
        while True:
            waiter = self._next_waiter()
            if waiter is None:
                self.in_flight = max(0, self.in_flight - 1)
                return
            if not waiter.future.done():
                waiter.future.set_result(None)
                return

    def expire(self) -> int:
        """Refuse every waiter whose deadline has passed on the gate's clock; returns how many.

        The event loop's timers do this on their own; this is for clocks that are driven by
        hand (tests) and for a periodic sweep.
        """
        now = self.clock.monotonic()
        count = 0
        while True:
            self._trim_arrivals()
            if not self._arrivals:
                break
            head = self._arrivals[0]
            if now - head.enqueued_at < self.queue_timeout_s:
                break
            self._arrivals.popleft()
            self._time_out(head)
            count += 1
        return count

    def queued_total(self) -> int:
        return self._live

    def queued(self, tenant: str) -> int:
        state = self._tenants.get(tenant)
        return state.live if state else 0

    def retry_after_s(self) -> float:
        """A hint for refused callers: about one observed slot hold, at least a second."""
        hold = self._hold_s if self._hold_s is not None else MIN_RETRY_AFTER_S
        return float(max(MIN_RETRY_AFTER_S, math.ceil(hold * 10) / 10))

    def stats(self) -> GateStats:
        queued = {name: t.live for name, t in self._tenants.items() if t.live}
        return GateStats(self.capacity, self.in_flight, queued, dict(self._rejected))

    # -- internals --------------------------------------------------------------------------

    def _schedule(self, tenant: str, state: _Tenant, tag: float) -> None:
        heapq.heappush(self._heap, (tag, next(self._seq), tenant))
        state.scheduled = True

    def _next_waiter(self) -> _Waiter | None:
        """Pop the head waiter of the tenant with the smallest start tag (skipping the gone)."""
        while self._heap:
            tag, _, name = heapq.heappop(self._heap)
            state = self._tenants[name]
            state.scheduled = False
            while state.waiters and state.waiters[0].gone:
                state.waiters.popleft()
            if not state.waiters:
                self._forget_if_idle(name, state)
                continue
            waiter = state.waiters.popleft()
            state.live -= 1
            self._live -= 1
            self._vtime = tag
            state.finish = tag + 1.0 / waiter.weight
            while state.waiters and state.waiters[0].gone:
                state.waiters.popleft()
            if state.waiters:
                self._schedule(name, state, state.finish)
            else:
                self._forget_if_idle(name, state)
            return waiter
        return None

    def _forget_if_idle(self, name: str, state: _Tenant) -> None:
        # An idle tenant whose finish tag is already behind V would restart at V anyway.
        if not state.waiters and not state.scheduled and state.finish <= self._vtime:
            self._tenants.pop(name, None)

    def _trim_arrivals(self) -> None:
        while self._arrivals and (self._arrivals[0].gone or self._arrivals[0].future.done()):
            self._arrivals.popleft()

    def _give_up(self, waiter: _Waiter) -> None:
        if waiter.gone:
            return
        waiter.gone = True
        state = self._tenants.get(waiter.tenant)
        if state is not None:
            state.live -= 1
            self._live -= 1

    def _time_out(self, waiter: _Waiter) -> None:
        if waiter.gone or waiter.future.done():
            return
        self._give_up(waiter)
        self._count_rejection(waiter.tenant)
        waited = self.clock.monotonic() - waiter.enqueued_at
        waiter.future.set_exception(
            Rejected(
                "concurrency",
                waiter.tenant,
                f"deployment {self.name} is at capacity; waited {waited:.1f}s",
                retry_after_s=self.retry_after_s(),
            )
        )

    def _count_rejection(self, tenant: str) -> None:
        self._rejected[tenant] = self._rejected.get(tenant, 0) + 1

    def _observe_hold(self, seconds: float) -> None:
        if self._hold_s is None:
            self._hold_s = seconds
        else:
            self._hold_s += HOLD_EWMA_ALPHA * (seconds - self._hold_s)
