"""Typed readers for parsed TOML values, each failing with a ``ConfigError``.

``FieldReader`` checks one value at a time (type, range, unknown keys) and builds the error
``<file>: <key.path>: <what is wrong>``, with key paths spelled as TOML spells them
(``tenants."acme/search".models``, ``faults[0].at_s``). ``llmgw.settings.parse`` walks the
``llmgw.toml`` sections with it, and ``llmgw.chaos.drill`` the sections of a drill file (raising
its ``DrillError``, a ``ConfigError``, through the reader's ``error_type``).

Conventions every reader keeps:

- an absent optional key gives the caller's default (or None); an absent required key is
  ``<table path>: missing required key '<key>'``;
- a value of the wrong TOML type is ``<key path>: expected <type>, got <TOML type>``;
- booleans are never numbers; numbers are never negative; "positive" means greater than 0;
- dollar amounts go through ``llmgw.settings.money`` (the one money parser).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, overload

from llmgw.settings.money import AmountError, parse_decimal, parse_usd

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REQUIRED: Any = object()  # sentinel: the key has no default
_T = TypeVar("_T")


class ConfigError(Exception):
    """A configuration the gateway cannot run on. ``str()`` is ``file: key.path: message``."""

    unnamed = "<config>"  # shown in place of the file name when there is none

    def __init__(self, file: Path | str | None, key_path: str, message: str):
        super().__init__(message)
        self.file = file
        self.key_path = key_path
        self.message = message

    def __str__(self) -> str:
        parts = [str(self.file) if self.file is not None else self.unnamed]
        if self.key_path:
            parts.append(self.key_path)
        parts.append(self.message)
        return ": ".join(parts)


def key_join(base: str, key: str) -> str:
    """Append ``key`` to a dotted path, quoting it as TOML would when it is not a bare key."""
    part = key if _BARE_KEY_RE.match(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{base}.{part}" if base else part


def type_name(value: object) -> str:
    """The TOML name of a parsed value's type, for error messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    if isinstance(value, dt.datetime):
        return "date-time"
    if isinstance(value, dt.date):
        return "date"
    return type(value).__name__


class FieldReader:
    """Reads typed values out of TOML tables; every failure is an ``error_type`` (by default
    ``ConfigError``) naming ``file`` and the key path."""

    def __init__(self, file: Path | str | None, error_type: type[ConfigError] = ConfigError):
        self.file = file
        self.error_type = error_type

    def error(self, path: str, message: str) -> ConfigError:
        return self.error_type(self.file, path, message)

    # -- tables ------------------------------------------------------------------------------

    def table(self, value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {type_name(value)}")
        return value

    def section(self, t: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        """The table under ``key`` (an empty one when absent)."""
        return self.table(t.get(key, {}), key_join(path, key))

    def tables(self, t: dict[str, Any], key: str, path: str) -> list[tuple[dict[str, Any], str]]:
        """An array of tables (``[[key]]``) as ``(table, its path)`` pairs; none when absent."""
        value = t.get(key, [])
        where = key_join(path, key)
        if not isinstance(value, list):
            raise self.error(where, f"expected an array of tables, got {type_name(value)}")
        return [
            (self.table(item, f"{where}[{i}]"), f"{where}[{i}]") for i, item in enumerate(value)
        ]

    def check_keys(self, table: dict[str, Any], allowed: Iterable[str], path: str) -> None:
        allowed = tuple(allowed)
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.error(key_join(path, key), f"unknown key '{key}'{hint}")

    def require(self, table: dict[str, Any], key: str, path: str) -> None:
        """Fail unless ``key`` is present in the table at ``path``."""
        if key not in table:
            raise self.error(path, f"missing required key '{key}'")

    def unique(self, names: Iterable[str], path: str, key: str = "name") -> None:
        """Fail on the first repeated ``names[i]``, at ``path[i].key``."""
        seen: set[str] = set()
        for i, name in enumerate(names):
            if name in seen:
                raise self.error(f"{path}[{i}].{key}", f"duplicate name {name!r}")
            seen.add(name)

    # -- strings -----------------------------------------------------------------------------

    @overload
    def string(self, table: dict[str, Any], key: str, path: str) -> str: ...

    @overload
    def string(self, table: dict[str, Any], key: str, path: str, default: _T) -> str | _T: ...

    def string(self, table: dict[str, Any], key: str, path: str, default: Any = _REQUIRED) -> Any:
        """A string; ``default`` when absent, or an error when no default is given."""
        if key not in table:
            if default is _REQUIRED:
                raise self.error(path, f"missing required key '{key}'")
            return default
        value = table[key]
        if not isinstance(value, str):
            raise self.error(key_join(path, key), f"expected a string, got {type_name(value)}")
        return value

    def name(self, table: dict[str, Any], key: str, path: str) -> str:
        """A required name of letters, digits, ``_``, ``.`` and ``-`` (a letter or digit first)."""
        value = self.string(table, key, path)
        if not NAME_RE.match(value):
            raise self.error(
                key_join(path, key), f"{value!r} is not a name (letters, digits, _ . -)"
            )
        return value

    def choice(
        self, table: dict[str, Any], key: str, path: str, choices: tuple[str, ...], what: str
    ) -> str | None:
        """A string that must be one of ``choices``; None when absent."""
        value = self.string(table, key, path, None)
        if value is not None and value not in choices:
            raise self.error(
                key_join(path, key),
                f"unknown {what} {value!r} (expected one of: {', '.join(choices)})",
            )
        return value

    def string_list(self, table: dict[str, Any], key: str, path: str) -> tuple[str, ...] | None:
        if key not in table:
            return None
        value = table[key]
        where = key_join(path, key)
        if not isinstance(value, list):
            raise self.error(where, f"expected an array of strings, got {type_name(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.error(f"{where}[{i}]", f"expected a string, got {type_name(item)}")
        return tuple(value)

    # -- numbers -----------------------------------------------------------------------------

    def integer(
        self,
        table: dict[str, Any],
        key: str,
        path: str,
        default: int,
        low: int | None = 0,
        high: int | None = None,
    ) -> int:
        """An integer in ``[low, high]`` (None: unbounded); ``default`` when absent."""
        if key not in table:
            return default
        value = table[key]
        where = key_join(path, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(where, f"expected an integer, got {type_name(value)}")
        if (low is not None and value < low) or (high is not None and value > high):
            if low is not None and high is not None:
                bound = f"between {low} and {high}"
            else:
                bound = f"at least {low}" if low is not None else f"at most {high}"
            raise self.error(where, f"{value} is out of range (must be {bound})")
        return value

    def optional_int(
        self, table: dict[str, Any], key: str, path: str, low: int | None = 1
    ) -> int | None:
        """An integer of at least ``low`` (None: any), or None when the key is absent."""
        if key not in table:
            return None
        return self.integer(table, key, path, 0, low)

    def number(
        self, table: dict[str, Any], key: str, path: str, default: float, positive: bool = True
    ) -> float:
        """A finite number, greater than 0 (``positive``) or at least 0; ``default`` when absent."""
        if key not in table:
            return default
        value = table[key]
        where = key_join(path, key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(where, f"expected a number, got {type_name(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(where, "must be a finite number")
        if value < 0 or (positive and value == 0):
            raise self.error(where, f"must be {'greater than 0' if positive else 'at least 0'}")
        return float(value)

    def optional_number(
        self, table: dict[str, Any], key: str, path: str, positive: bool = True
    ) -> float | None:
        """A number as ``number`` reads it, or None when the key is absent."""
        if key not in table:
            return None
        return self.number(table, key, path, 0.0, positive)

    def required_number(
        self, table: dict[str, Any], key: str, path: str, positive: bool = True
    ) -> float:
        """A number as ``number`` reads it; the key must be present."""
        self.require(table, key, path)
        return self.number(table, key, path, 0.0, positive)

    def rate(self, table: dict[str, Any], key: str, path: str, default: float) -> float:
        """A share in (0, 1]: ``0.5`` is half."""
        value = self.number(table, key, path, default)
        if value > 1:
            raise self.error(key_join(path, key), f"{value} is out of range (must be in (0, 1])")
        return value

    def share(self, table: dict[str, Any], key: str, path: str) -> float | None:
        """A share in [0, 1] (0 allowed), or None when the key is absent."""
        value = self.optional_number(table, key, path, positive=False)
        if value is not None and value > 1:
            raise self.error(key_join(path, key), f"{value:g} is out of range (must be in [0, 1])")
        return value

    def money(self, table: dict[str, Any], key: str, path: str, required: bool) -> Decimal | None:
        """A dollar amount, read by ``llmgw.settings.money.parse_usd`` (exact, non-negative)."""
        if key not in table:
            if required:
                raise self.error(path, f"missing required key '{key}'")
            return None
        try:
            return parse_usd(table[key])
        except AmountError as exc:
            raise self.error(key_join(path, key), str(exc)) from None

    def decimal(self, table: dict[str, Any], key: str, path: str) -> Decimal | None:
        """An exact decimal number that is not money (a ratio), or None when absent."""
        if key not in table:
            return None
        try:
            return parse_decimal(table[key])
        except AmountError as exc:
            raise self.error(key_join(path, key), str(exc)) from None

    # -- others ------------------------------------------------------------------------------

    @overload
    def boolean(self, table: dict[str, Any], key: str, path: str, default: bool) -> bool: ...

    @overload
    def boolean(self, table: dict[str, Any], key: str, path: str, default: _T) -> bool | _T: ...

    def boolean(self, table: dict[str, Any], key: str, path: str, default: Any) -> Any:
        """``true`` or ``false`` (not 0 / 1, not a string); ``default`` when absent."""
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            raise self.error(key_join(path, key), f"expected a boolean, got {type_name(value)}")
        return value

    def date(self, t: dict[str, Any], key: str, path: str) -> str:
        if key not in t:
            return "1970-01-01"
        value = t[key]
        where = key_join(path, key)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value.isoformat()
        if not isinstance(value, str):
            raise self.error(where, f"expected a date YYYY-MM-DD, got {type_name(value)}")
        try:
            if not _DATE_RE.match(value):
                raise ValueError
            dt.date.fromisoformat(value)
        except ValueError:
            raise self.error(where, f"{value!r} is not a date YYYY-MM-DD") from None
        return value
