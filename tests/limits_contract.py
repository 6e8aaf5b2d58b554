"""A contract suite for any ``LimitStore`` (see ``llmgw.limits.model``).

Subclass ``LimitStoreContract`` in a test module and provide two fixtures:

- ``clock``: a ``FakeClock`` the store reads (both ``monotonic()`` and ``wall()`` may be used);
- ``store``: a fresh, empty store running on that clock.

The test methods are synchronous and drive the store on one event loop per test, the
``limits_loop`` fixture (autouse). A store that needs the loop to open or close connections
can take ``limits_loop`` in its own fixture, e.g.::

    @pytest.fixture
    def store(self, clock, limits_loop):
        s = RedisStore(url, clock=clock)
        yield s
        limits_loop.run_until_complete(s.aclose())

Semantics pinned here (both stores must agree):

- RPM/TPM are GCRA buckets of one minute (``llmgw.limits.gcra``): sustained ``limit``/min,
  bursts up to ``limit``; a rejected call changes nothing; ``retry_after_s`` is exact.
- A demand bigger than a whole bucket (tokens > tpm) is rejected with ``retry_after_s=None``.
- Concurrency and budget rejections carry ``retry_after_s=None``.
- A hard budget admits a call only if ``spent + reserved + cost <= limit``; a soft one admits.
- ``settle`` charges the actual cost to the period recorded at admission; ``release`` refunds;
  both free the concurrency slot, and doing either twice has no further effect.
- ``restore_spend`` never overwrites a period the store already holds.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from llmgw.limits.model import BudgetSpec, Demand, LimitStore, NodeLimits, Rejected
from llmgw.limits.periods import period_end, period_id
from llmgw.routing.clock import FakeClock

T = TypeVar("T")

# A wall time clocks of the contract may start at: 2026-11-23T12:00:00Z.
CONTRACT_WALL_START = 1795435200.0

ORG = "acme"
TEAM = "acme/search"
OTHER = "acme/ads"


def demand(tokens: int = 10, cost: int = 0, model: str = "m") -> Demand:
    """A call asking for ``tokens`` and reserving ``cost`` nanodollars."""
    return Demand(tokens=tokens, cost_nanos=cost, model=model)


def budget(
    limit: int,
    *,
    period: str = "day",
    hard: bool = True,
    key: str | None = None,
    window_s: int | None = None,
    model: str | None = None,
) -> BudgetSpec:
    """A budget spec with a key derived from its period unless given."""
    return BudgetSpec(
        key=key or period,
        period=period,  # type: ignore[arg-type]
        limit_nanos=limit,
        hard=hard,
        window_s=window_s,
        model=model,
    )


def advance_to(clock: FakeClock, wall: float) -> None:
    """Move the fake clock forward to the wall time ``wall``."""
    clock.advance(max(0.0, wall - clock.wall()))


class LimitStoreContract:
    """Behaviour every ``LimitStore`` must have. Subclasses provide ``store`` and ``clock``."""

    @pytest.fixture(autouse=True)
    def limits_loop(self) -> Iterator[asyncio.AbstractEventLoop]:
        """One event loop per test, shared by every store call of the test."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            yield loop
        finally:
            loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run one store call to completion on the test's loop."""
        return self._loop.run_until_complete(coro)

    def reject(self, store: LimitStore, chain: tuple[NodeLimits, ...], d: Demand) -> Rejected:
        """Admission that must fail; returns the rejection."""
        with pytest.raises(Rejected) as info:
            self.run(store.admit(chain, d))
        return info.value

    # ----------------------------------------------------------------- rates

    def test_rpm_limit_and_retry_after(self, store: LimitStore, clock: FakeClock) -> None:
        chain = (NodeLimits(ORG, rpm=60),)
        for _ in range(60):
            self.run(store.admit(chain, demand()))
        err = self.reject(store, chain, demand())
        assert err.kind == "rpm"
        assert err.node == ORG
        assert err.retry_after_s == pytest.approx(1.0, abs=1e-6)
        clock.advance(0.5)
        assert self.reject(store, chain, demand()).retry_after_s == pytest.approx(0.5, abs=1e-6)
        clock.advance(0.5)
        self.run(store.admit(chain, demand()))

    def test_burst_then_refill(self, store: LimitStore, clock: FakeClock) -> None:
        chain = (NodeLimits(ORG, rpm=10),)
        for _ in range(10):
            self.run(store.admit(chain, demand()))
        self.reject(store, chain, demand())
        clock.advance(30)  # half a minute refills half the bucket
        for _ in range(5):
            self.run(store.admit(chain, demand()))
        self.reject(store, chain, demand())
        clock.advance(600)  # a long idle time refills only up to the burst
        for _ in range(10):
            self.run(store.admit(chain, demand()))
        self.reject(store, chain, demand())

    def test_rate_state_for_headers(self, store: LimitStore, clock: FakeClock) -> None:
        chain = (NodeLimits(ORG, rpm=100, tpm=10_000), NodeLimits(TEAM, rpm=10))
        adm = self.run(store.admit(chain, demand(tokens=1000)))
        assert adm.requests is not None and adm.tokens is not None
        assert (adm.requests.limit, adm.requests.remaining) == (10, 9)  # the tightest node
        assert adm.requests.reset_s == pytest.approx(6.0, abs=1e-6)
        assert (adm.tokens.limit, adm.tokens.remaining) == (10_000, 9000)
        assert adm.tokens.reset_s == pytest.approx(6.0, abs=1e-6)
        plain = self.run(store.admit((NodeLimits(OTHER),), demand()))
        assert plain.requests is None and plain.tokens is None

    def test_tpm_limit_retry_after_and_settle_refund(
        self, store: LimitStore, clock: FakeClock
    ) -> None:
        chain = (NodeLimits(ORG, tpm=1000),)
        first = self.run(store.admit(chain, demand(tokens=600)))
        err = self.reject(store, chain, demand(tokens=600))
        assert err.kind == "tpm" and err.node == ORG
        assert err.retry_after_s == pytest.approx(12.0, abs=1e-6)  # 200 tokens at 1000/min
        self.run(store.settle(first, tokens=100, cost_nanos=0))  # 500 tokens given back
        self.run(store.admit(chain, demand(tokens=600)))
        self.reject(store, chain, demand(tokens=600))

    def test_tpm_demand_larger_than_bucket(self, store: LimitStore, clock: FakeClock) -> None:
        err = self.reject(store, (NodeLimits(ORG, tpm=100),), demand(tokens=101))
        assert err.kind == "tpm" and err.retry_after_s is None

    def test_release_refunds_tokens_but_keeps_request(
        self, store: LimitStore, clock: FakeClock
    ) -> None:
        chain = (NodeLimits(ORG, rpm=2, tpm=100),)
        adm = self.run(store.admit(chain, demand(tokens=100)))
        self.reject(store, chain, demand(tokens=1))
        self.run(store.release(adm))
        self.run(store.admit(chain, demand(tokens=100)))  # tokens came back ...
        err = self.reject(store, chain, demand(tokens=0))  # ... but both requests still count
        assert err.kind == "rpm"

    # ------------------------------------------------------------ concurrency

    def test_concurrency(self, store: LimitStore, clock: FakeClock) -> None:
        chain = (NodeLimits(ORG, concurrency=2),)
        a = self.run(store.admit(chain, demand()))
        b = self.run(store.admit(chain, demand()))
        err = self.reject(store, chain, demand())
        assert err.kind == "concurrency" and err.node == ORG and err.retry_after_s is None
        self.run(store.settle(a, tokens=10, cost_nanos=0))
        c = self.run(store.admit(chain, demand()))
        self.reject(store, chain, demand())
        self.run(store.release(b))
        self.run(store.release(c))
        self.run(store.admit(chain, demand()))
        self.run(store.admit(chain, demand()))

    def test_settle_and_release_are_idempotent(self, store: LimitStore, clock: FakeClock) -> None:
        chain = (NodeLimits(ORG, concurrency=1, budgets=(budget(10_000),)),)
        adm = self.run(store.admit(chain, demand(cost=1000)))
        self.run(store.settle(adm, tokens=10, cost_nanos=400))
        assert self.run(store.settle(adm, tokens=10, cost_nanos=400)) == []
        self.run(store.release(adm))
        usage = self.run(store.spend(ORG, chain[0].budgets[0]))
        assert (usage.spent_nanos, usage.reserved_nanos) == (400, 0)
        other = self.run(store.admit(chain, demand(cost=1000)))  # exactly one slot free
        self.reject(store, chain, demand())
        self.run(store.release(other))

    # ---------------------------------------------------------- all or nothing

    def test_reject_on_child_leaves_parent_untouched(
        self, store: LimitStore, clock: FakeClock
    ) -> None:
        org = NodeLimits(ORG, rpm=2, tpm=1000, concurrency=5, budgets=(budget(10_000),))
        team = NodeLimits(TEAM, concurrency=1)
        self.run(store.admit((org, team), demand(tokens=100, cost=1000)))
        err = self.reject(store, (org, team), demand(tokens=100, cost=1000))
        assert (err.kind, err.node) == ("concurrency", TEAM)
        usage = self.run(store.spend(ORG, org.budgets[0]))
        assert (usage.spent_nanos, usage.reserved_nanos) == (0, 1000)
        other = NodeLimits(OTHER)
        adm = self.run(store.admit((org, other), demand(tokens=900, cost=1000)))
        assert adm.requests is not None and adm.requests.remaining == 0
        assert adm.tokens is not None and adm.tokens.remaining == 0
        assert self.reject(store, (org, other), demand(tokens=0)).node == ORG

    def test_reject_on_parent_leaves_child_untouched(
        self, store: LimitStore, clock: FakeClock
    ) -> None:
        org = NodeLimits(ORG, budgets=(budget(1000),))
        team = NodeLimits(TEAM, rpm=1, concurrency=1, budgets=(budget(10_000),))
        err = self.reject(store, (org, team), demand(cost=1001))
        assert (err.kind, err.node) == ("budget", ORG)
        usage = self.run(store.spend(TEAM, team.budgets[0]))
        assert usage.reserved_nanos == 0
        self.run(store.admit((team,), demand(cost=1001)))  # rpm and the slot were free

    # ---------------------------------------------------------------- budgets

    def test_hard_budget_rejects_reservation_over_limit(
        self, store: LimitStore, clock: FakeClock
    ) -> None:
        spec = budget(1000)
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        a = self.run(store.admit(chain, demand(cost=600)))
        err = self.reject(store, chain, demand(cost=401))
        assert (err.kind, err.node, err.retry_after_s) == ("budget", ORG, None)
        assert "day" in err.message
        b = self.run(store.admit(chain, demand(cost=400)))  # exactly the limit
        usage = self.run(store.spend(ORG, spec))
        assert (usage.spent_nanos, usage.reserved_nanos, usage.limit_nanos) == (0, 1000, 1000)
        assert usage.period_id == period_id("day", clock.wall())
        assert usage.hard and usage.node == ORG and usage.key == "day"
        self.run(store.settle(a, tokens=5, cost_nanos=100))
        self.run(store.settle(b, tokens=5, cost_nanos=100))
        self.run(store.admit(chain, demand(cost=800)))
        self.reject(store, chain, demand(cost=1))

    def test_soft_budget_admits_and_reports(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(1000, hard=False)
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        adm = self.run(store.admit(chain, demand(cost=5000)))
        usages = self.run(store.settle(adm, tokens=10, cost_nanos=4000))
        assert len(usages) == 1
        u = usages[0]
        assert (u.node, u.key, u.spent_nanos, u.reserved_nanos) == (ORG, "day", 4000, 0)
        assert (u.limit_nanos, u.hard) == (1000, False)
        self.run(store.admit(chain, demand(cost=5000)))

    def test_settle_charges_exactly_on_every_node(
        self, store: LimitStore, clock: FakeClock
    ) -> None:
        org_b = budget(10**9, period="month")
        team_b = budget(10**9)
        chain = (NodeLimits(ORG, budgets=(org_b,)), NodeLimits(TEAM, budgets=(team_b,)))
        a = self.run(store.admit(chain, demand(cost=5000)))
        b = self.run(store.admit(chain, demand(cost=7000)))
        assert set(a.budget_periods) == {f"{ORG}|month", f"{TEAM}|day"}
        usages = self.run(store.settle(a, tokens=10, cost_nanos=1234))
        assert {(u.node, u.key) for u in usages} == {(ORG, "month"), (TEAM, "day")}
        for u in usages:
            assert (u.spent_nanos, u.reserved_nanos) == (1234, 7000)
        self.run(store.release(b))
        for node, spec in ((ORG, org_b), (TEAM, team_b)):
            usage = self.run(store.spend(node, spec))
            assert (usage.spent_nanos, usage.reserved_nanos) == (1234, 0)

    def test_settle_above_reservation_is_charged(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(1000)
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        adm = self.run(store.admit(chain, demand(cost=500)))
        self.run(store.settle(adm, tokens=10, cost_nanos=1100))  # estimate came out low
        usage = self.run(store.spend(ORG, spec))
        assert (usage.spent_nanos, usage.reserved_nanos) == (1100, 0)
        self.reject(store, chain, demand(cost=1))

    def test_aborted_stream_pays_partial(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(10_000)
        chain = (NodeLimits(ORG, tpm=10_000, budgets=(spec,)),)
        adm = self.run(store.admit(chain, demand(tokens=5000, cost=9000)))
        self.run(store.settle(adm, tokens=1200, cost_nanos=2500))
        usage = self.run(store.spend(ORG, spec))
        assert (usage.spent_nanos, usage.reserved_nanos) == (2500, 0)
        nxt = self.run(store.admit(chain, demand(tokens=8800, cost=7500)))
        assert nxt.tokens is not None and nxt.tokens.remaining == 0

    def test_release_refunds_money(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(1000)
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        adm = self.run(store.admit(chain, demand(cost=1000)))
        self.reject(store, chain, demand(cost=1))
        self.run(store.release(adm))
        usage = self.run(store.spend(ORG, spec))
        assert (usage.spent_nanos, usage.reserved_nanos) == (0, 0)
        self.run(store.admit(chain, demand(cost=1000)))

    def test_per_model_budget(self, store: LimitStore, clock: FakeClock) -> None:
        big = budget(1000, key="day:big", model="big")
        chain = (NodeLimits(ORG, budgets=(big,)),)
        a = self.run(store.admit(chain, demand(cost=900, model="big")))
        assert f"{ORG}|day:big" in a.budget_periods
        self.reject(store, chain, demand(cost=200, model="big"))
        small = self.run(store.admit(chain, demand(cost=5000, model="small")))
        assert small.budget_periods == {}
        assert self.run(store.settle(small, tokens=10, cost_nanos=5000)) == []
        self.run(store.settle(a, tokens=10, cost_nanos=900))
        usage = self.run(store.spend(ORG, big))
        assert (usage.spent_nanos, usage.reserved_nanos) == (900, 0)

    # ---------------------------------------------------------------- periods

    def test_day_rollover(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(1000)
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        advance_to(clock, period_end("day", clock.wall()) - 10)
        day1 = period_id("day", clock.wall())
        adm = self.run(store.admit(chain, demand(cost=800)))
        self.reject(store, chain, demand(cost=800))
        clock.advance(20)
        day2 = period_id("day", clock.wall())
        assert day2 != day1
        fresh = self.run(store.admit(chain, demand(cost=800)))  # a new day, a new budget
        assert fresh.budget_periods == {f"{ORG}|day": day2}
        usages = self.run(store.settle(adm, tokens=10, cost_nanos=700))
        assert [(u.period_id, u.spent_nanos, u.reserved_nanos) for u in usages] == [(day1, 700, 0)]
        usage = self.run(store.spend(ORG, spec))
        assert (usage.period_id, usage.spent_nanos, usage.reserved_nanos) == (day2, 0, 800)

    def test_month_rollover(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(1000, period="month")
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        adm = self.run(store.admit(chain, demand(cost=1000)))
        self.run(store.settle(adm, tokens=1, cost_nanos=1000))
        self.reject(store, chain, demand(cost=1))
        month1 = period_id("month", clock.wall())
        advance_to(clock, period_end("month", clock.wall()) + 1)
        assert period_id("month", clock.wall()) != month1
        self.run(store.admit(chain, demand(cost=1000)))

    def test_window_rollover(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(1000, period="window", key="window3600", window_s=3600)
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        adm = self.run(store.admit(chain, demand(cost=1000)))
        expected = f"w{math.floor(clock.wall() / 3600)}"
        assert adm.budget_periods == {f"{ORG}|window3600": expected}
        self.run(store.settle(adm, tokens=1, cost_nanos=600))
        self.reject(store, chain, demand(cost=401))
        advance_to(clock, period_end("window", clock.wall(), 3600))
        usage = self.run(store.spend(ORG, spec))
        assert usage.period_id != expected and usage.spent_nanos == 0
        self.run(store.admit(chain, demand(cost=1000)))

    # ------------------------------------------------------ restore and views

    def test_restore_spend_sets_only_once(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(1000)
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        self.run(store.restore_spend(ORG, spec, 900))
        self.run(store.restore_spend(ORG, spec, 100))  # already held: ignored
        usage = self.run(store.spend(ORG, spec))
        assert (usage.spent_nanos, usage.reserved_nanos) == (900, 0)
        self.reject(store, chain, demand(cost=101))
        self.run(store.admit(chain, demand(cost=100)))

    def test_restore_spend_does_not_overwrite_live_spend(
        self, store: LimitStore, clock: FakeClock
    ) -> None:
        spec = budget(1000)
        chain = (NodeLimits(ORG, budgets=(spec,)),)
        adm = self.run(store.admit(chain, demand(cost=300)))
        self.run(store.settle(adm, tokens=1, cost_nanos=250))
        self.run(store.restore_spend(ORG, spec, 0))
        assert self.run(store.spend(ORG, spec)).spent_nanos == 250

    def test_spend_of_untouched_budget(self, store: LimitStore, clock: FakeClock) -> None:
        spec = budget(5000, period="month", hard=False)
        usage = self.run(store.spend(TEAM, spec))
        assert usage.node == TEAM and usage.key == "month"
        assert usage.period_id == period_id("month", clock.wall())
        assert (usage.spent_nanos, usage.reserved_nanos, usage.limit_nanos) == (0, 0, 5000)
        assert usage.hard is False
