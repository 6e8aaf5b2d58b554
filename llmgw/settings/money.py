"""Money in and money out: the one parser of dollar amounts and the one formatter of nano-dollars.

Inside the gateway money is an integer number of nano-dollars (1e-9 USD; ``llmgw.accounting.cost``
says why). Amounts arrive as dollars through several doors: the config file (prices, budgets),
``llmgw budgets set --daily 12.50``, ``POST /admin/budgets/...``, stored overrides, the shipped
price table, provider bills and ``--max-cost``. Every door reads them with ``parse_usd`` (exact
dollars) or ``parse_nanos`` (integer nano-dollars), so all of them accept and refuse the same
amounts:

accepted
    an ``int``; a ``Decimal``; a decimal string such as ``"12.50"``, ``"$12.50"`` or ``"-$1.23"``
    (surrounding blanks ignored); a float as TOML or JSON parsed it, converted through its
    shortest ``repr`` so ``0.1`` is exactly 0.1 dollars (not 0.1000000000000000055...).
refused, each with an ``AmountError`` whose message is one line
    booleans and other types; NaN and infinities; other notations (``"1e3"``, ``"1,000"``,
    ``"ten"``); negative amounts unless the caller allows them; amounts finer than a nano-dollar
    (a non-zero digit after the 9th decimal place); amounts beyond ``MAX_USD`` either way.

``MAX_USD`` is one billion dollars (1e18 nano-dollars): a signed 64-bit integer holds about
9.2e18, so any nine accepted amounts still add up without overflowing an ``INTEGER`` column.

Out, for the CLI and JSON: ``usd_text`` (``"1.50"``, ``"0.000000123"``, ``"-0.50"``) and
``format_usd`` (``"$1.50"``, ``"-$1.23"``, never ``"$-1.23"``): exact, trailing zeros trimmed
down to a minimum number of decimals, 2 by default; ``format_cost`` is ``format_usd`` with
``COST_PLACES`` = 6, for per-call costs (``"$0.000150"``). ``parse_nanos``
reads both back: ``parse_nanos(format_usd(n), allow_negative=True) == n``.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal, localcontext

__all__ = [
    "COST_PLACES",
    "MAX_NANOS",
    "MAX_USD",
    "NANOS_PER_USD",
    "AmountError",
    "format_cost",
    "format_usd",
    "nanos_to_usd",
    "parse_decimal",
    "parse_nanos",
    "parse_usd",
    "usd_text",
    "usd_to_nanos",
]

NANOS_PER_USD = 1_000_000_000
PLACES = 9  # decimal places of a nano-dollar
MAX_USD = 10**9
MAX_NANOS = MAX_USD * NANOS_PER_USD
COST_PLACES = 6  # least decimals shown for per-call costs: micro-dollars, readable and aligned

_NANO = Decimal(1).scaleb(-PLACES)
_ONE = Decimal(1)
# sign, optional dollar sign, digits with an optional fraction ("12", "12.", "12.50", ".5")
_PLAIN = re.compile(r"^([-+]?)(\$?)(\d+(?:\.\d*)?|\.\d+)$")
_NOT_FINITE = frozenset(("nan", "snan", "inf", "infinity"))
_SHOWN_MAX = 40  # characters of a refused string quoted back in the message


class AmountError(ValueError):
    """An amount that cannot be accepted. ``str()`` is one line: ``bad amount '-1': why``."""

    def __init__(self, value: object, reason: str, what: str = "amount") -> None:
        self.value = value
        self.reason = reason
        shown = _shown(value)
        super().__init__(f"bad {what} {shown}: {reason}" if shown else f"bad {what}: {reason}")


def _shown(value: object) -> str:
    """How a refused value is quoted: strings in quotes (shortened), numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= _SHOWN_MAX else value[: _SHOWN_MAX - 3] + "..."
        return repr(text)
    if isinstance(value, int | float | Decimal):
        return repr(value) if isinstance(value, float) else str(value)
    return ""


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _decimal(value: object, what: str, dollar_sign: bool) -> Decimal:
    """``value`` as an exact, finite Decimal (the rules of the module docstring, no range)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        example = '"$12.50"' if dollar_sign else '"1.25"'
        reason = f"expected a number or a string such as {example}, got {_kind(value)}"
        raise AmountError(value, reason, what)
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AmountError(value, "not a finite number", what)
        return Decimal(repr(value))  # the shortest repr: 0.1 -> Decimal("0.1")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise AmountError(value, "not a finite number", what)
        return value
    text = value.strip()
    match = _PLAIN.match(text)
    if match is None or (match.group(2) and not dollar_sign):
        if text.lstrip("+-$").lower() in _NOT_FINITE:
            raise AmountError(value, "not a finite number", what)
        example = "25, 0.50 or $12.50" if dollar_sign else "1 or 1.25"
        raise AmountError(value, f"expected a plain decimal such as {example}", what)
    return Decimal(match.group(1) + match.group(3))


def parse_decimal(value: object) -> Decimal:
    """A plain decimal number that is not money (a ratio such as ``reserve_margin = 1.10``):
    an int, Decimal, float (shortest repr) or decimal string without ``$``; finite, exact.
    Raises ``AmountError`` (``bad number ...``)."""
    return _decimal(value, "number", dollar_sign=False)


def parse_usd(value: object, *, allow_negative: bool = False) -> Decimal:
    """A dollar amount as an exact Decimal of at most 9 decimal places, within ``MAX_USD``.

    The one parser (see the module docstring for what it accepts); raises ``AmountError``.
    The result keeps the digits as given (``"12.50"`` stays ``Decimal("12.50")``), except
    that exponents are written out (``Decimal("1E+3")`` -> ``Decimal("1000")``) and zeros past
    the 9th place are dropped.
    """
    amount = _decimal(value, "amount", dollar_sign=True)
    if amount < 0 and not allow_negative:
        raise AmountError(value, "must be non-negative")
    if abs(amount) > MAX_USD:
        bound = f"-${MAX_USD:,} to ${MAX_USD:,}" if allow_negative else f"at most ${MAX_USD:,}"
        raise AmountError(value, f"out of range ({bound})")
    nanos = amount.quantize(_NANO)
    if nanos != amount:
        raise AmountError(value, f"finer than a nano-dollar (at most {PLACES} decimal places)")
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if exponent > 0:
        amount = amount.quantize(_ONE)
    elif exponent < -PLACES:
        amount = nanos
    return amount.copy_abs() if amount.is_zero() else amount


def parse_nanos(value: object, *, allow_negative: bool = False) -> int:
    """A dollar amount (anything ``parse_usd`` accepts) as integer nano-dollars, exactly."""
    return int(parse_usd(value, allow_negative=allow_negative).scaleb(PLACES))


def usd_to_nanos(amount: Decimal | int) -> int:
    """Dollars that were computed, not typed (a price times a count, say) as nano-dollars,
    rounded half-up; for amounts a user gives use ``parse_nanos``."""
    with localcontext() as ctx:
        ctx.prec = 60  # digits; far beyond any amount times any count
        return int((Decimal(amount) * NANOS_PER_USD).quantize(_ONE, rounding=ROUND_HALF_UP))


def nanos_to_usd(nanos: int) -> Decimal:
    """Nano-dollars as an exact Decimal number of dollars (always 9 decimal places)."""
    return Decimal(int(nanos)).scaleb(-PLACES)


def usd_text(nanos: int, places: int = 2) -> str:
    """Nano-dollars as exact dollars without a ``$``: ``1.50``, ``0.000000123``, ``-0.50``.

    Trailing zeros are trimmed, keeping at least ``places`` decimals (0 to 9). No float.
    """
    if not 0 <= places <= PLACES:
        raise ValueError(f"places must be 0..{PLACES}, got {places}")
    nanos = int(nanos)
    sign = "-" if nanos < 0 else ""
    dollars, frac = divmod(abs(nanos), NANOS_PER_USD)
    digits = f"{frac:0{PLACES}d}"
    shown = digits[: max(places, len(digits.rstrip("0")))]
    return f"{sign}{dollars}.{shown}" if shown else f"{sign}{dollars}"


def format_usd(nanos: int, places: int = 2) -> str:
    """Nano-dollars for people: ``$1.50``, ``$0.000000005``, ``-$1.23`` (the sign before the
    ``$``). ``places`` is the least number of decimals shown, as in ``usd_text``."""
    text = usd_text(nanos, places)
    return f"-${text[1:]}" if text.startswith("-") else f"${text}"


def format_cost(nanos: int) -> str:
    """``format_usd`` with at least ``COST_PLACES`` decimals, for per-call costs and the amounts
    shown beside them: ``$0.000150``, ``$12.500000``, ``$0.000000005``."""
    return format_usd(nanos, COST_PLACES)
