"""The one money parser and formatter: what is accepted, what is refused, round trips."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmgw.settings.money import (
    MAX_NANOS,
    MAX_USD,
    NANOS_PER_USD,
    AmountError,
    format_cost,
    format_usd,
    nanos_to_usd,
    parse_decimal,
    parse_nanos,
    parse_usd,
    usd_text,
    usd_to_nanos,
)

nanos_amounts = st.integers(-MAX_NANOS, MAX_NANOS)


# --- accepted ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "nanos"),
    [
        (12, 12 * NANOS_PER_USD),
        (0, 0),
        ("12.50", 12_500_000_000),
        ("$12.50", 12_500_000_000),
        ("  $0.10 ", 100_000_000),
        ("1.", NANOS_PER_USD),
        (".5", 500_000_000),
        ("+3", 3 * NANOS_PER_USD),
        ("-0", 0),
        ("0.000000001", 1),
        ("1.0000000000", NANOS_PER_USD),  # zeros past the 9th place are not a fraction
        (0.1, 100_000_000),  # shortest repr: exactly 0.1, not 0.1000000000000000055...
        (2.675, 2_675_000_000),
        (1e-05, 10_000),
        (Decimal("0.15"), 150_000_000),
        (Decimal("1E+3"), 1000 * NANOS_PER_USD),
        (MAX_USD, MAX_NANOS),
        (f"${MAX_USD}", MAX_NANOS),
    ],
)
def test_accepted_amounts(value: object, nanos: int) -> None:
    assert parse_nanos(value) == nanos
    assert parse_usd(value) == Decimal(nanos).scaleb(-9)


def test_dollars_keep_their_digits() -> None:
    assert str(parse_usd("12.50")) == "12.50"
    assert str(parse_usd("$0.25")) == "0.25"
    assert str(parse_usd(10)) == "10"
    assert str(parse_usd(0.1)) == "0.1"
    assert str(parse_usd(Decimal("1E+3"))) == "1000"
    assert str(parse_usd("-0")) == "0"


def test_negatives_only_when_allowed() -> None:
    assert parse_nanos("-$1.23", allow_negative=True) == -1_230_000_000
    assert parse_nanos(-2, allow_negative=True) == -2 * NANOS_PER_USD
    assert parse_nanos(-0.5, allow_negative=True) == -500_000_000
    assert parse_nanos(-MAX_USD, allow_negative=True) == -MAX_NANOS
    for value in ("-$1.23", "-1", -1, -0.5, Decimal("-0.01")):
        with pytest.raises(AmountError, match="must be non-negative"):
            parse_nanos(value)
    with pytest.raises(AmountError, match="out of range"):
        parse_nanos(-MAX_USD - 1, allow_negative=True)


# --- refused -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, 'bad amount true: expected a number or a string such as "$12.50", got a boolean'),
        (False, "got a boolean"),
        (None, 'bad amount: expected a number or a string such as "$12.50", got nothing'),
        ([1], "got an array"),
        ({"usd": 1}, "got a table"),
        ("NaN", "bad amount 'NaN': not a finite number"),
        ("-inf", "not a finite number"),
        ("$Infinity", "not a finite number"),
        (math.nan, "bad amount nan: not a finite number"),
        (math.inf, "not a finite number"),
        (Decimal("NaN"), "not a finite number"),
        (Decimal("-Infinity"), "not a finite number"),
        ("1e3", "bad amount '1e3': expected a plain decimal such as 25, 0.50 or $12.50"),
        ("1,000", "expected a plain decimal"),
        ("ten", "expected a plain decimal"),
        ("", "expected a plain decimal"),
        ("$", "expected a plain decimal"),
        ("$-1", "expected a plain decimal"),
        ("12 USD", "expected a plain decimal"),
        ("0.0000000001", "'0.0000000001': finer than a nano-dollar (at most 9 decimal places)"),
        (Decimal("1E-10"), "finer than a nano-dollar"),
        (0.1 + 0.2, "finer than a nano-dollar"),  # 0.30000000000000004 as TOML/JSON read it
        (MAX_USD + 1, "out of range (at most $1,000,000,000)"),
        ("1" + "0" * 30, "out of range"),
        (1e300, "out of range"),
    ],
)
def test_refused_amounts_say_why_on_one_line(value: object, reason: str) -> None:
    with pytest.raises(AmountError) as info:
        parse_nanos(value)
    text = str(info.value)
    assert reason in text and text.startswith("bad amount")
    assert "\n" not in text and isinstance(info.value, ValueError)
    assert info.value.value is value


def test_long_refused_strings_are_shortened() -> None:
    with pytest.raises(AmountError) as info:
        parse_usd("x" * 500)
    assert len(str(info.value)) < 120


def test_the_cap_fits_a_signed_64_bit_integer_many_times() -> None:
    assert MAX_NANOS == MAX_USD * NANOS_PER_USD
    assert 9 * MAX_NANOS < 2**63 - 1


def test_parse_decimal_is_for_plain_numbers_not_money() -> None:
    assert parse_decimal("1.10") == Decimal("1.10") and str(parse_decimal("1.10")) == "1.10"
    assert parse_decimal(1.1) == Decimal("1.1")
    assert parse_decimal(2) == Decimal(2)
    with pytest.raises(AmountError, match="bad number '\\$1': expected a plain decimal"):
        parse_decimal("$1")
    with pytest.raises(AmountError, match="bad number true"):
        parse_decimal(True)
    with pytest.raises(AmountError, match="not a finite number"):
        parse_decimal(math.inf)


# --- formatting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nanos", "usd", "text"),
    [
        (0, "0.00", "$0.00"),
        (1, "0.000000001", "$0.000000001"),
        (123, "0.000000123", "$0.000000123"),
        (150_000_000, "0.15", "$0.15"),
        (1_500_000_000, "1.50", "$1.50"),
        (-500_000_000, "-0.50", "-$0.50"),
        (-1_230_000_000, "-1.23", "-$1.23"),
        (MAX_NANOS, "1000000000.00", "$1000000000.00"),
    ],
)
def test_usd_text_and_format_usd(nanos: int, usd: str, text: str) -> None:
    assert usd_text(nanos) == usd
    assert format_usd(nanos) == text


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "$0.000000"),
        (150_000, "$0.000150"),
        (150_000_000, "$0.150000"),
        (1, "$0.000000001"),
        (1_500, "$0.0000015"),
        (1_234_567_891, "$1.234567891"),
        (12_500_000_000, "$12.500000"),
        (-150_000, "-$0.000150"),
        (9_223_372_036_854_775_807, "$9223372036.854775807"),
    ],
)
def test_format_cost(nanos: int, text: str) -> None:
    assert format_cost(nanos) == text


def test_places() -> None:
    assert usd_text(12 * NANOS_PER_USD, 0) == "12"
    assert usd_text(12_500_000_000, 0) == "12.5"
    assert format_usd(1, 9) == "$0.000000001"
    with pytest.raises(ValueError, match="places"):
        usd_text(1, 10)


@given(nanos_amounts)
def test_parse_reads_back_what_format_writes(nanos: int) -> None:
    for text in (format_usd(nanos), format_cost(nanos), usd_text(nanos), usd_text(nanos, 9)):
        assert parse_nanos(text, allow_negative=True) == nanos
    assert parse_nanos(nanos_to_usd(nanos), allow_negative=True) == nanos
    assert parse_usd(format_usd(nanos), allow_negative=True) == nanos_to_usd(nanos)


@given(st.integers(0, MAX_NANOS))
def test_non_negative_amounts_parse_without_permission(nanos: int) -> None:
    assert parse_nanos(format_usd(nanos)) == nanos
    assert format_usd(parse_nanos(usd_text(nanos))) == format_usd(nanos)


@given(st.decimals(min_value=0, max_value=MAX_USD, places=9, allow_nan=False))
def test_decimals_of_at_most_nine_places_are_exact(amount: Decimal) -> None:
    assert parse_usd(amount) == amount
    assert parse_nanos(amount) == int(amount * NANOS_PER_USD)


@given(st.floats(min_value=0, max_value=MAX_USD, allow_nan=False))
def test_floats_read_as_their_shortest_repr_or_are_refused(value: float) -> None:
    exact = Decimal(repr(value))
    if exact == exact.quantize(Decimal("1e-9")):
        assert parse_usd(value) == exact
    else:
        with pytest.raises(AmountError, match="finer than a nano-dollar"):
            parse_usd(value)


def test_usd_to_nanos_rounds_computed_amounts_half_up() -> None:
    assert usd_to_nanos(Decimal("0.15")) == 150_000_000
    assert usd_to_nanos(Decimal("25")) == 25 * NANOS_PER_USD
    assert usd_to_nanos(3) == 3 * NANOS_PER_USD
    assert usd_to_nanos(Decimal("0.0000000005")) == 1
    assert usd_to_nanos(Decimal("0.0000000004")) == 0


def test_nanos_to_usd_is_exact() -> None:
    assert nanos_to_usd(987_654_321) == Decimal("0.987654321")
    assert nanos_to_usd(-5) == Decimal("-0.000000005")
