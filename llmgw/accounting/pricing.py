"""Versioned prices: which :class:`~llmgw.settings.schema.Price` applies to a provider model
on a date.

The built-in table lives in ``prices.toml`` next to this module (package data). Operators add to
it or override it with ``[[pricing]]`` entries in ``llmgw.toml``; :meth:`PriceBook.builtin`
merges the two.

Lookup rules (:meth:`PriceBook.lookup`):

* Among the entries for a model, the newest one whose ``effective`` date is on or before the
  asked date wins. An entry without a provider matches every provider; on equal dates an entry
  naming the provider beats one that does not.
* The exact model name is tried first. Failing that, a dated or versioned snapshot falls back to
  the longest known model name it extends, but only when the rest of the name is a version
  suffix (``-2024-08-06``, ``-20250929``, ``@20250929``, ``-001``, ``-latest``, ``-v2``):
  ``gpt-4o-2024-08-06`` prices as ``gpt-4o``, while ``gpt-4o-mini`` never prices as ``gpt-4o``.
* Results are memoised per (provider, model, date), so the per-request cost is a dict lookup.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import tomllib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from importlib import resources
from typing import Any

from llmgw.settings.money import AmountError, parse_usd
from llmgw.settings.schema import Price

PRICES_RESOURCE = "prices.toml"
_VERSION_SUFFIX = re.compile(r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3}|latest|v\d+)")
_CACHE_MAX = 65_536
_MONEY_KEYS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok")
_ENTRY_KEYS = frozenset(("model", "provider", "effective", *_MONEY_KEYS))


class PriceTableError(ValueError):
    """A price entry is malformed (bad amount, bad date, unknown key)."""


def _money(value: object, where: str) -> Decimal:
    """A price in dollars per million tokens, read by the one money parser
    (``llmgw.settings.money.parse_usd``: exact, non-negative, at most 9 decimal places)."""
    try:
        return parse_usd(value)
    except AmountError as e:
        raise PriceTableError(f"{where}: {e}") from None


def parse_date(value: str, where: str = "effective") -> dt.date:
    """An ISO ``YYYY-MM-DD`` date, or :class:`PriceTableError`."""
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise PriceTableError(f"{where}: expected a YYYY-MM-DD date, got {value!r}") from e


def price_from_mapping(entry: Mapping[str, Any], where: str = "price") -> Price:
    """A :class:`Price` from one TOML table with the ``llmgw.toml`` ``[[pricing]]`` keys."""
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise PriceTableError(f"{where}: unknown keys {sorted(unknown)}")
    model = entry.get("model")
    if not isinstance(model, str) or not model:
        raise PriceTableError(f"{where}: 'model' must be a non-empty string")
    provider = entry.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise PriceTableError(f"{where}: 'provider' must be a string")
    for key in ("input_per_mtok", "output_per_mtok"):
        if key not in entry:
            raise PriceTableError(f"{where}: missing '{key}'")
    effective = entry.get("effective", "1970-01-01")
    if isinstance(effective, dt.date):
        effective = effective.isoformat()
    parse_date(effective, f"{where}.effective")
    cached = entry.get("cached_input_per_mtok")
    return Price(
        model=model,
        provider=provider,
        input_per_mtok=_money(entry["input_per_mtok"], f"{where}.input_per_mtok"),
        output_per_mtok=_money(entry["output_per_mtok"], f"{where}.output_per_mtok"),
        cached_input_per_mtok=(
            None if cached is None else _money(cached, f"{where}.cached_input_per_mtok")
        ),
        effective=effective,
    )


def parse_price_table(text: str, source: str = PRICES_RESOURCE) -> tuple[Price, ...]:
    """Parse a price table: a TOML document with one ``[[price]]`` table per entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PriceTableError(f"{source}: {e}") from e
    entries = data.get("price", [])
    if not isinstance(entries, list):
        raise PriceTableError(f"{source}: 'price' must be an array of tables")
    return tuple(price_from_mapping(e, f"{source}: price[{i}]") for i, e in enumerate(entries))


def load_builtin_prices() -> tuple[Price, ...]:
    """The built-in price table shipped with the package (``llmgw/accounting/prices.toml``)."""
    text = resources.files(__package__).joinpath(PRICES_RESOURCE).read_text(encoding="utf-8")
    return parse_price_table(text)


def _shadowed(builtin: Price, override: Price) -> bool:
    """True when ``override`` replaces ``builtin``: same model, matching provider, not older.

    An override without a provider speaks for every provider of that model.
    """
    return (
        builtin.model == override.model
        and (override.provider is None or builtin.provider in (None, override.provider))
        and parse_date(builtin.effective) >= parse_date(override.effective)
    )


class PriceBook:
    """An immutable set of versioned prices with memoised lookups. Safe to share across threads."""

    def __init__(self, prices: Sequence[Price]) -> None:
        by_model: dict[str, list[tuple[dt.date, bool, Price]]] = {}
        for p in prices:
            day = parse_date(p.effective, f"price for {p.model}")
            by_model.setdefault(p.model, []).append((day, p.provider is not None, p))
        # newest first; on equal dates an entry naming its provider first
        self._by_model: dict[str, tuple[tuple[dt.date, Price], ...]] = {
            model: tuple(
                (d, p) for d, _, p in sorted(rows, key=lambda r: (r[0], r[1]), reverse=True)
            )
            for model, rows in by_model.items()
        }
        self._prices = tuple(prices)
        self._cache: dict[tuple[str, str, dt.date], Price | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def builtin(cls, overrides: Sequence[Price] = ()) -> PriceBook:
        """The built-in table with ``overrides`` (from config) laid over it.

        An override replaces every built-in entry for the same model and provider whose
        ``effective`` date is the same as or newer than its own; older built-in entries stay, so
        dates before the override still price as they did. Reads the package's price file:
        build the book once at start, not per request.
        """
        kept = [b for b in load_builtin_prices() if not any(_shadowed(b, o) for o in overrides)]
        return cls([*kept, *overrides])

    @property
    def prices(self) -> tuple[Price, ...]:
        """Every entry in the book, in the order given."""
        return self._prices

    def models(self) -> frozenset[str]:
        """Model names with at least one entry."""
        return frozenset(self._by_model)

    def _newest(self, provider: str, model: str, on: dt.date) -> Price | None:
        for day, price in self._by_model.get(model, ()):
            if day <= on and (price.provider is None or price.provider == provider):
                return price
        return None

    def _resolve(self, provider: str, model: str, on: dt.date) -> Price | None:
        exact = self._newest(provider, model, on)
        if exact is not None or model in self._by_model:
            return exact
        # longest known prefix whose remainder is a version suffix
        for cut in range(len(model) - 1, 0, -1):
            if (
                model[cut] in "-@"
                and model[:cut] in self._by_model
                and _VERSION_SUFFIX.fullmatch(model, cut)
            ):
                return self._newest(provider, model[:cut], on)
        return None

    def lookup(self, provider: str, model: str, on: dt.date | None = None) -> Price | None:
        """The price of ``model`` served by ``provider`` on date ``on`` (today, UTC, if None).

        ``provider`` is compared as-is with each entry's ``provider`` (entries without one match
        any). Returns None when no entry applies: unknown model, or every entry is newer than
        ``on``.
        """
        day = on if on is not None else dt.datetime.now(dt.UTC).date()
        key = (provider, model, day)
        try:
            return self._cache[key]
        except KeyError:
            pass
        price = self._resolve(provider, model, day)
        with self._lock:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = price
        return price
