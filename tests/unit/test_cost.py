"""Exact cost in nano-dollars: known values, rounding, properties (formatting: test_money)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from llmgw.accounting.cost import cost_nanos
from llmgw.accounting.pricing import PriceBook
from llmgw.settings.money import NANOS_PER_USD
from llmgw.settings.schema import Price
from llmgw.types import Usage

MINI = Price("gpt-4o-mini", Decimal("0.15"), Decimal("0.60"), Decimal("0.075"), "openai")


def usage(inp: int = 0, out: int = 0, cached: int = 0) -> Usage:
    return Usage(input_tokens=inp, output_tokens=out, cached_input_tokens=cached)


def test_one_million_gpt_4o_mini_input_tokens() -> None:
    assert cost_nanos(MINI, usage(inp=1_000_000)) == 150_000_000
    assert cost_nanos(MINI, usage(out=1_000_000)) == 600_000_000
    assert cost_nanos(MINI, usage(inp=1_000_000, cached=1_000_000)) == 75_000_000


def test_single_tokens_are_exact() -> None:
    assert cost_nanos(MINI, usage(inp=1)) == 150
    assert cost_nanos(MINI, usage(inp=1, cached=1)) == 75
    nano = PriceBook.builtin().lookup("openai", "gpt-5-nano")
    assert nano is not None
    assert cost_nanos(nano, usage(inp=1, cached=1)) == 5  # $0.005 per million


def test_builtin_mock_price_end_to_end() -> None:
    large = PriceBook.builtin().lookup("mock", "mock-large")
    assert cost_nanos(large, usage(inp=1234, out=567)) == 1234 * 2500 + 567 * 10_000


def test_mixed_usage_charges_each_part_at_its_rate() -> None:
    cost = cost_nanos(MINI, usage(inp=1000, out=200, cached=400))
    assert cost == 600 * 150 + 400 * 75 + 200 * 600


def test_no_price_costs_nothing() -> None:
    assert cost_nanos(None, usage(inp=10**6, out=10**6)) == 0


def test_cached_tokens_without_cached_price_cost_the_input_price() -> None:
    p = Price("m", Decimal("1"), Decimal("2"))
    assert cost_nanos(p, usage(inp=10, cached=10)) == cost_nanos(p, usage(inp=10))


def test_odd_counts_are_clamped() -> None:
    assert cost_nanos(MINI, usage(inp=-5, out=-5, cached=-5)) == 0
    # more cached than input: capped at the input count
    assert cost_nanos(MINI, usage(inp=10, cached=50)) == 10 * 75


def test_sub_nano_prices_round_half_up_once_per_call() -> None:
    tiny = Price("m", Decimal("0.0005"), Decimal("0.0005"))  # 0.5 nano-dollars per token
    assert cost_nanos(tiny, usage(inp=1)) == 1
    assert cost_nanos(tiny, usage(inp=2)) == 1
    assert cost_nanos(tiny, usage(inp=3)) == 2
    assert cost_nanos(tiny, usage(inp=1, out=1)) == 1  # total 1.0, not 1 + 1
    fine = Price("m", Decimal("0.0004"), Decimal("0"))
    assert cost_nanos(fine, usage(inp=1)) == 0
    assert cost_nanos(fine, usage(inp=5)) == 2


# --- properties ----------------------------------------------------------------------------------

_exact_amounts = st.integers(0, 100_000).map(lambda n: Decimal(n).scaleb(-3))  # $0.001 steps
_any_amounts = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False)


@st.composite
def _prices(draw: st.DrawFn, amounts: st.SearchStrategy[Decimal]) -> Price:
    cached = draw(st.none() | amounts)
    return Price("m", draw(amounts), draw(amounts), cached)


@st.composite
def _usages(draw: st.DrawFn) -> Usage:
    inp = draw(st.integers(0, 10**9))
    return usage(inp=inp, out=draw(st.integers(0, 10**9)), cached=draw(st.integers(0, inp)))


@given(price=_prices(_exact_amounts), a=_usages(), b=_usages())
def test_additive_over_usage_splits_for_exact_prices(price: Price, a: Usage, b: Usage) -> None:
    whole = usage(
        inp=a.input_tokens + b.input_tokens,
        out=a.output_tokens + b.output_tokens,
        cached=a.cached_input_tokens + b.cached_input_tokens,
    )
    assert cost_nanos(price, a) + cost_nanos(price, b) == cost_nanos(price, whole)


@given(price=_prices(_exact_amounts), u=_usages())
def test_exact_prices_match_decimal_reference(price: Price, u: Usage) -> None:
    cached_rate = price.cached_input_per_mtok
    if cached_rate is None:
        cached_rate = price.input_per_mtok
    dollars = (
        (u.input_tokens - u.cached_input_tokens) * price.input_per_mtok
        + u.cached_input_tokens * cached_rate
        + u.output_tokens * price.output_per_mtok
    ) / Decimal(1_000_000)
    assert Decimal(cost_nanos(price, u)) == dollars * NANOS_PER_USD


@given(
    price=_prices(_any_amounts),
    inp=st.integers(-(10**6), 10**9),
    out=st.integers(-(10**6), 10**9),
    cached=st.integers(-(10**6), 10**9),
)
def test_never_negative(price: Price, inp: int, out: int, cached: int) -> None:
    assert cost_nanos(price, usage(inp=inp, out=out, cached=cached)) >= 0


@given(
    price=_prices(_any_amounts),
    u=_usages(),
    more_in=st.integers(0, 10**6),
    more_out=st.integers(0, 10**6),
)
def test_monotone_in_tokens(price: Price, u: Usage, more_in: int, more_out: int) -> None:
    bigger = usage(
        inp=u.input_tokens + more_in,
        out=u.output_tokens + more_out,
        cached=u.cached_input_tokens,
    )
    assert cost_nanos(price, bigger) >= cost_nanos(price, u)
