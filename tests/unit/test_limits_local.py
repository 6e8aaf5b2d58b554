"""The limit-store contract run against the in-process ``LocalStore``."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmgw.limits.local import LocalStore
from llmgw.limits.model import Admission, BudgetSpec, Demand, NodeLimits, Rejected
from llmgw.routing.clock import FakeClock
from tests.limits_contract import CONTRACT_WALL_START, LimitStoreContract


class TestLocalStore(LimitStoreContract):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(start=1000.0, wall_start=CONTRACT_WALL_START)

    @pytest.fixture
    def store(self, clock: FakeClock) -> LocalStore:
        return LocalStore(clock)


Op = tuple[str, int, int]  # (action, index or cost, actual cost share in 0..100)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["admit", "settle", "release"]),
            st.integers(0, 400),
            st.integers(0, 100),
        ),
        max_size=60,
    )
)
def test_settlement_arithmetic(ops: list[Op]) -> None:
    """After any admit/settle/release sequence: spent == sum of settled costs, reserved ==
    sum of outstanding reservations, and a hard budget never overspends when every settle is
    within its reservation."""
    hard = BudgetSpec("day", "day", 1000, hard=True)
    soft = BudgetSpec("month", "month", 500, hard=False)
    chain = (NodeLimits("org", budgets=(soft,)), NodeLimits("org/team", budgets=(hard,)))

    async def run() -> None:
        store = LocalStore(FakeClock(start=0.0, wall_start=CONTRACT_WALL_START))
        open_: list[Admission] = []
        settled = 0
        for action, n, share in ops:
            if action == "admit":
                try:
                    open_.append(await store.admit(chain, Demand(1, n, "m")))
                except Rejected as err:
                    assert err.kind == "budget" and err.node == "org/team"
            elif open_:
                adm = open_.pop(n % len(open_))
                if action == "settle":
                    cost = adm.demand.cost_nanos * share // 100
                    await store.settle(adm, 1, cost)
                    settled += cost
                else:
                    await store.release(adm)
            outstanding = sum(a.demand.cost_nanos for a in open_)
            for node, spec in (("org", soft), ("org/team", hard)):
                usage = await store.spend(node, spec)
                assert (usage.spent_nanos, usage.reserved_nanos) == (settled, outstanding)
            assert settled + outstanding <= hard.limit_nanos

    asyncio.run(run())


def test_admission_ids_are_unique_and_at_is_the_store_clock() -> None:
    clock = FakeClock(start=42.0)

    async def run() -> list[Admission]:
        store = LocalStore(clock)
        return [await store.admit((), Demand(1, 0, "m")) for _ in range(3)]

    admissions = asyncio.run(run())
    assert len({a.id for a in admissions}) == 3
    assert all(a.at == 42.0 for a in admissions)
