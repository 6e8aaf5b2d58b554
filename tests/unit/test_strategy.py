"""Ordering deployments: priority, weighted, latency, cost, least busy."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from llmgw.routing.clock import FakeClock
from llmgw.routing.health import HealthBoard
from llmgw.routing.strategy import blended_price, order
from llmgw.settings.schema import Deployment, Price

A = Deployment("a", "m", weight=1)
B = Deployment("b", "m", weight=3)
C = Deployment("c", "m", weight=6)
CANDIDATES = (A, B, C)


def no_price(_: Deployment) -> Decimal | None:
    return None


def run(strategy: str, board: HealthBoard | None = None, prices=no_price, seed: int = 0):
    return order(
        CANDIDATES, strategy, board or HealthBoard(FakeClock()), prices, random.Random(seed)
    )


def test_priority_is_config_order_and_a_new_list() -> None:
    result = run("priority")
    assert result == [A, B, C]
    assert isinstance(result, list)


def test_single_candidate() -> None:
    assert order((A,), "weighted", HealthBoard(FakeClock()), no_price, random.Random(1)) == [A]


def test_unknown_strategy() -> None:
    with pytest.raises(ValueError):
        run("fastest")


def test_weighted_first_pick_follows_weights() -> None:
    rng = random.Random(42)
    board = HealthBoard(FakeClock())
    n = 20_000
    first = Counter(order(CANDIDATES, "weighted", board, no_price, rng)[0] for _ in range(n))
    assert first[A] / n == pytest.approx(0.1, abs=0.015)
    assert first[B] / n == pytest.approx(0.3, abs=0.015)
    assert first[C] / n == pytest.approx(0.6, abs=0.015)


def test_weighted_second_pick_is_without_replacement() -> None:
    # given C first, B follows with probability 3 / (1 + 3) = 0.75
    rng = random.Random(7)
    board = HealthBoard(FakeClock())
    after_c = Counter()
    for _ in range(20_000):
        result = order(CANDIDATES, "weighted", board, no_price, rng)
        assert sorted(d.provider for d in result) == ["a", "b", "c"]
        if result[0] is C:
            after_c[result[1]] += 1
    total = sum(after_c.values())
    assert after_c[B] / total == pytest.approx(0.75, abs=0.02)


def test_weighted_is_reproducible_with_a_seed() -> None:
    assert run("weighted", seed=3) == run("weighted", seed=3)


def test_latency_explores_then_exploits() -> None:
    board = HealthBoard(FakeClock())
    # nothing measured: config order
    assert run("latency", board) == [A, B, C]
    board.get(A.id).record_success(0.9)
    board.get(C.id).record_success(0.2)
    # B has no data yet: explored first, then the fastest measured
    assert run("latency", board) == [B, C, A]
    board.get(B.id).record_success(0.5)
    assert run("latency", board) == [C, B, A]


def test_latency_only_failures_go_last() -> None:
    board = HealthBoard(FakeClock())
    board.get(A.id).record_failure()
    board.get(B.id).record_success(2.0)
    board.get(C.id).record_success(1.0)
    assert run("latency", board) == [C, B, A]


def test_latency_ties_keep_config_order() -> None:
    board = HealthBoard(FakeClock())
    for d in CANDIDATES:
        board.get(d.id).record_success(0.3)
    assert run("latency", board) == [A, B, C]


def test_cost_cheapest_first_unknown_last() -> None:
    table = {"a": None, "b": Decimal("12.5"), "c": Decimal("0.75")}
    assert run("cost", prices=lambda d: table[d.provider]) == [C, B, A]


def test_cost_ties_and_all_unknown_keep_config_order() -> None:
    assert run("cost", prices=lambda d: Decimal("1")) == [A, B, C]
    assert run("cost") == [A, B, C]


def test_blended_price() -> None:
    price = Price("m", Decimal("0.15"), Decimal("0.60"))
    assert blended_price(price) == Decimal("0.75")
    assert blended_price(None) is None


def test_least_busy() -> None:
    board = HealthBoard(FakeClock())
    for _ in range(3):
        board.get(A.id).begin()
    board.get(B.id).begin()
    assert run("least_busy", board) == [C, B, A]
    board.get(A.id).end()
    board.get(A.id).end()
    assert run("least_busy", board) == [C, A, B]  # A and B tie at 1: config order
