"""Versioned prices: the built-in table, effective dates, snapshot fallback, overrides."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmgw.accounting import pricing
from llmgw.accounting.pricing import (
    PriceBook,
    PriceTableError,
    load_builtin_prices,
    parse_price_table,
    price_from_mapping,
)
from llmgw.settings.schema import Price

D = dt.date


def price(
    model: str,
    inp: str,
    out: str = "1",
    provider: str | None = "openai",
    effective: str = "1970-01-01",
    cached: str | None = None,
) -> Price:
    return Price(
        model=model,
        input_per_mtok=Decimal(inp),
        output_per_mtok=Decimal(out),
        cached_input_per_mtok=None if cached is None else Decimal(cached),
        provider=provider,
        effective=effective,
    )


# --- the built-in table -------------------------------------------------------------------


def test_builtin_table_loads_exact_decimals() -> None:
    prices = load_builtin_prices()
    assert prices
    for p in prices:
        assert isinstance(p.input_per_mtok, Decimal)
        assert isinstance(p.output_per_mtok, Decimal)
        assert p.provider in {"openai", "anthropic", "gemini", "mock"}
        dt.date.fromisoformat(p.effective)
        # every built-in price is exact in nano-dollars ($0.001 per million tokens)
        for amount in (p.input_per_mtok, p.output_per_mtok, p.cached_input_per_mtok):
            if amount is not None:
                assert (amount * 1000) == (amount * 1000).to_integral_value()


def test_builtin_table_has_the_expected_models() -> None:
    models = {p.model for p in load_builtin_prices()}
    assert {
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o3",
        "o4-mini",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "claude-opus-4-1",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "gemini-2.5-pro",
        "gemini-2.5-flash",
        "mock-small",
        "mock-large",
    } <= models


def test_builtin_mock_and_known_prices() -> None:
    book = PriceBook.builtin()
    small = book.lookup("mock", "mock-small", D(2026, 1, 1))
    large = book.lookup("mock", "mock-large", D(2026, 1, 1))
    assert small is not None and large is not None
    assert (small.input_per_mtok, small.output_per_mtok) == (Decimal("0.15"), Decimal("0.60"))
    assert (large.input_per_mtok, large.output_per_mtok) == (Decimal("2.50"), Decimal("10.00"))
    mini = book.lookup("openai", "gpt-4o-mini", D(2026, 1, 1))
    assert mini is not None and mini.input_per_mtok == Decimal("0.15")
    assert mini.cached_input_per_mtok == Decimal("0.075")


def test_builtin_price_change_is_versioned() -> None:
    book = PriceBook.builtin()
    launch = book.lookup("openai", "o3", D(2025, 5, 1))
    cut = book.lookup("openai", "o3", D(2025, 6, 10))
    assert launch is not None and launch.input_per_mtok == Decimal("10.00")
    assert cut is not None and cut.input_per_mtok == Decimal("2.00")
    assert book.lookup("openai", "o3", D(2025, 4, 15)) is None  # before launch


def test_lookup_defaults_to_today() -> None:
    book = PriceBook(
        [price("m", "1", effective="2000-01-01"), price("m", "2", effective="2999-01-01")]
    )
    today = book.lookup("openai", "m")
    assert today is not None and today.input_per_mtok == Decimal("1")


# --- effective dates and providers -----------------------------------------------------------


def test_newest_effective_on_or_before_date_wins() -> None:
    book = PriceBook(
        [
            price("m", "1", effective="2025-01-01"),
            price("m", "3", effective="2025-03-01"),
            price("m", "2", effective="2025-02-01"),
        ]
    )

    def at(day: dt.date) -> Decimal | None:
        p = book.lookup("openai", "m", day)
        return None if p is None else p.input_per_mtok

    assert at(D(2024, 12, 31)) is None
    assert at(D(2025, 1, 1)) == Decimal("1")
    assert at(D(2025, 2, 28)) == Decimal("2")
    assert at(D(2025, 3, 1)) == Decimal("3")
    assert at(D(2030, 1, 1)) == Decimal("3")


def test_provider_none_matches_any_and_specific_wins_ties() -> None:
    book = PriceBook(
        [
            price("m", "1", provider=None, effective="2025-01-01"),
            price("m", "2", provider="azure", effective="2025-01-01"),
        ]
    )
    azure = book.lookup("azure", "m", D(2025, 6, 1))
    other = book.lookup("openai", "m", D(2025, 6, 1))
    assert azure is not None and azure.input_per_mtok == Decimal("2")
    assert other is not None and other.input_per_mtok == Decimal("1")


def test_newer_generic_entry_beats_older_specific_one() -> None:
    book = PriceBook(
        [
            price("m", "2", provider="azure", effective="2025-01-01"),
            price("m", "1", provider=None, effective="2025-06-01"),
        ]
    )
    found = book.lookup("azure", "m", D(2025, 7, 1))
    assert found is not None and found.input_per_mtok == Decimal("1")


def test_other_providers_do_not_match() -> None:
    book = PriceBook([price("m", "1", provider="openai")])
    assert book.lookup("anthropic", "m", D(2025, 1, 1)) is None


# --- snapshot fallback ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "base"),
    [
        ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
        ("openai", "o3-2025-04-16", "o3"),
        ("anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("anthropic", "claude-opus-4-20250514", "claude-opus-4"),
        ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("gemini", "gemini-2.5-flash-001", "gemini-2.5-flash"),
    ],
)
def test_dated_snapshots_fall_back_to_their_base_model(
    provider: str, model: str, base: str
) -> None:
    found = PriceBook.builtin().lookup(provider, model, D(2026, 1, 1))
    assert found is not None
    assert found.model == base


def test_prefix_fallback_never_reaches_a_different_model() -> None:
    book = PriceBook(
        [
            price("gpt-4o", "2.50"),
            price("claude-opus-4", "15", provider="anthropic"),
            price("gemini-2.5-flash", "0.30", provider="gemini"),
        ]
    )
    day = D(2026, 1, 1)
    assert book.lookup("openai", "gpt-4o-mini", day) is None
    assert book.lookup("openai", "gpt-4o-mini-2024-07-18", day) is None
    assert book.lookup("anthropic", "claude-opus-4-1", day) is None
    assert book.lookup("anthropic", "claude-opus-4-1-20250805", day) is None
    assert book.lookup("gemini", "gemini-2.5-flash-lite", day) is None
    assert book.lookup("openai", "gpt-4o-audio-preview", day) is None
    assert book.lookup("openai", "gpt-4o-1", day) is None  # a one-digit suffix is a new model
    assert book.lookup("openai", "gpt-4o-2024-08-06", day) is not None


def test_exact_entry_wins_over_prefix() -> None:
    book = PriceBook([price("gpt-4o", "2.50"), price("gpt-4o-2024-05-13", "5.00")])
    old = book.lookup("openai", "gpt-4o-2024-05-13", D(2025, 1, 1))
    new = book.lookup("openai", "gpt-4o-2024-08-06", D(2025, 1, 1))
    assert old is not None and old.input_per_mtok == Decimal("5.00")
    assert new is not None and new.input_per_mtok == Decimal("2.50")


def test_lookups_are_memoised(monkeypatch: pytest.MonkeyPatch) -> None:
    book = PriceBook([price("gpt-4o", "2.50")])
    calls: list[tuple[str, str, dt.date]] = []
    real = book._resolve

    def counting(provider: str, model: str, on: dt.date) -> Price | None:
        calls.append((provider, model, on))
        return real(provider, model, on)

    monkeypatch.setattr(book, "_resolve", counting)
    for _ in range(3):
        assert book.lookup("openai", "gpt-4o-2024-08-06", D(2025, 1, 1)) is not None
        assert book.lookup("openai", "nope", D(2025, 1, 1)) is None
    assert len(calls) == 2


# --- overrides -----------------------------------------------------------------------------------


def test_override_replaces_builtin_with_same_effective() -> None:
    override = price("gpt-4o", "9.99", effective="2024-08-06")
    book = PriceBook.builtin([override])
    found = book.lookup("openai", "gpt-4o", D(2026, 1, 1))
    assert found == override


def test_override_shadows_newer_builtin_entries_but_keeps_older_ones() -> None:
    override = price("o3", "1.00", effective="2025-05-01")
    book = PriceBook.builtin([override])
    before = book.lookup("openai", "o3", D(2025, 4, 20))
    after = book.lookup("openai", "o3", D(2025, 7, 1))
    assert before is not None and before.input_per_mtok == Decimal("10.00")
    assert after == override


def test_override_without_provider_applies_to_every_provider_and_date() -> None:
    override = price("gpt-4o", "1.23", provider=None)
    book = PriceBook.builtin([override])
    assert book.lookup("openai", "gpt-4o", D(2026, 1, 1)) == override
    assert book.lookup("azure", "gpt-4o-2024-08-06", D(2020, 1, 1)) == override


def test_override_for_another_provider_leaves_builtin_alone() -> None:
    override = price("gpt-4o", "1.23", provider="azure")
    book = PriceBook.builtin([override])
    openai = book.lookup("openai", "gpt-4o", D(2026, 1, 1))
    assert openai is not None and openai.input_per_mtok == Decimal("2.50")
    assert book.lookup("azure", "gpt-4o", D(2026, 1, 1)) == override


def test_overrides_can_add_models() -> None:
    book = PriceBook.builtin([price("my-llama", "0.01", provider=None)])
    assert book.lookup("vllm", "my-llama", D(2026, 1, 1)) is not None
    assert "gpt-5" in book.models()


# --- parsing -------------------------------------------------------------------------------------


def test_parse_price_table() -> None:
    text = """
[[price]]
model = "m"
input_per_mtok = "0.15"
output_per_mtok = 2
effective = "2025-01-02"
"""
    (p,) = parse_price_table(text)
    assert p == Price("m", Decimal("0.15"), Decimal("2"), None, None, "2025-01-02")


def test_price_amounts_go_through_the_money_parser() -> None:
    """Floats read as their shortest repr (0.15 is exactly 0.15), ``$`` is allowed."""
    p = price_from_mapping({"model": "m", "input_per_mtok": 0.15, "output_per_mtok": "$0.60"})
    assert (p.input_per_mtok, p.output_per_mtok) == (Decimal("0.15"), Decimal("0.60"))


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"model": "m", "input_per_mtok": True, "output_per_mtok": "1"}, "got a boolean"),
        ({"model": "m", "input_per_mtok": "x", "output_per_mtok": "1"}, "bad amount 'x'"),
        ({"model": "m", "input_per_mtok": "-1", "output_per_mtok": "1"}, "non-negative"),
        (
            {"model": "m", "input_per_mtok": "1", "output_per_mtok": "1e-10"},
            "price.output_per_mtok: bad amount '1e-10'",
        ),
        (
            {"model": "m", "input_per_mtok": "0.0000000001", "output_per_mtok": "1"},
            "finer than a nano-dollar",
        ),
        ({"model": "m", "input_per_mtok": "1"}, "missing"),
        ({"model": "", "input_per_mtok": "1", "output_per_mtok": "1"}, "model"),
        ({"model": "m", "input_per_mtok": "1", "output_per_mtok": "1", "colour": 1}, "unknown"),
        (
            {"model": "m", "input_per_mtok": "1", "output_per_mtok": "1", "effective": "soon"},
            "YYYY-MM-DD",
        ),
    ],
)
def test_bad_entries_are_refused(entry: dict[str, object], message: str) -> None:
    with pytest.raises(PriceTableError, match=message):
        price_from_mapping(entry)


def test_bad_toml_is_a_price_table_error() -> None:
    with pytest.raises(PriceTableError):
        parse_price_table("[[price]\n")


# --- property: lookup agrees with a brute-force reading of the rules -----------------------------

_days = st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 12, 31))
_entries = st.lists(
    st.tuples(st.sampled_from([None, "openai", "azure"]), _days, st.integers(0, 999)),
    min_size=1,
    max_size=8,
)


@given(entries=_entries, provider=st.sampled_from(["openai", "azure", "other"]), on=_days)
def test_lookup_matches_brute_force(
    entries: list[tuple[str | None, dt.date, int]], provider: str, on: dt.date
) -> None:
    prices = [price("m", str(n), provider=p, effective=d.isoformat()) for p, d, n in entries]
    found = PriceBook(prices).lookup(provider, "m", on)
    eligible = [
        p
        for p in prices
        if (p.provider is None or p.provider == provider) and D.fromisoformat(p.effective) <= on
    ]
    if not eligible:
        assert found is None
        return
    assert found is not None
    best_day = max(D.fromisoformat(p.effective) for p in eligible)
    assert D.fromisoformat(found.effective) == best_day
    specific_on_best = [
        p for p in eligible if D.fromisoformat(p.effective) == best_day and p.provider is not None
    ]
    if specific_on_best:
        assert found.provider == provider


def test_module_exposes_the_documented_resource() -> None:
    assert pricing.PRICES_RESOURCE == "prices.toml"
