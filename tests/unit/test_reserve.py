"""Worst-case reservations: exact nanodollars, rounded up, the priciest deployment."""

from __future__ import annotations

from decimal import Decimal

from llmgw.accounting.pricing import PriceBook
from llmgw.limits.model import Demand
from llmgw.limits.reserve import output_bound, reservation, worst_case
from llmgw.settings.schema import Price

BOOK = PriceBook(
    [
        Price("cheap", Decimal("0.15"), Decimal("0.60"), provider="openai"),
        Price("dear", Decimal("3"), Decimal("15"), provider="anthropic"),
        Price("odd", Decimal("0.0001"), Decimal("0.0003")),
    ]
)


def test_exact_worst_case_with_margin() -> None:
    r = reservation(BOOK, "openai", "cheap", 1000, 500, 4096, Decimal("1.10"))
    # 1000 * 150 + 500 * 600 = 450_000 n$, times 1.1
    assert r.tokens == 1500
    assert r.cost_nanos == 495_000
    assert r.demand("gpt") == Demand(tokens=1500, cost_nanos=495_000, model="gpt")


def test_default_output_bound_when_max_tokens_missing() -> None:
    r = reservation(BOOK, "anthropic", "dear", 10, None, 100, Decimal(1))
    assert r.tokens == 110
    assert r.cost_nanos == 10 * 3000 + 100 * 15000
    assert output_bound(None, 7) == 7 and output_bound(3, 7) == 3 and output_bound(-1, 7) == 0


def test_rounds_up_fractions_of_a_nanodollar() -> None:
    # 1 token * 0.1 n$ + 1 token * 0.3 n$ = 0.4 n$ -> 1 n$
    assert reservation(BOOK, "x", "odd", 1, 1, 0, Decimal(1)).cost_nanos == 1
    # margin fraction: 450_000 * 1.0000001 = 450_000.045 -> 450_001
    r = reservation(BOOK, "openai", "cheap", 1000, 500, 0, Decimal("1.0000001"))
    assert r.cost_nanos == 450_001


def test_unknown_model_reserves_tokens_only() -> None:
    r = reservation(BOOK, "openai", "nope", 5, 5, 0, Decimal("1.1"))
    assert r == (10, 0)


def test_worst_case_picks_the_priciest_deployment() -> None:
    pairs = [("openai", "cheap"), ("anthropic", "dear"), ("openai", "nope")]
    r = worst_case(BOOK, pairs, 100, 100, 0, Decimal(1))
    assert r.cost_nanos == 100 * 3000 + 100 * 15000
    assert worst_case(BOOK, [], 3, None, 4, Decimal(2)) == (7, 0)
