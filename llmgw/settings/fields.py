"""Typed readers for parsed TOML values, each failing with a ``ConfigError``.

``FieldReader`` checks one value at a time (type, range, unknown keys) and builds the error
``<file>: <key.path>: <what is wrong>``, with key paths spelled as TOML spells them
(``tenants."acme/search".models``). ``llmgw.settings.parse`` walks the sections with it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class ConfigError(Exception):
    """A configuration the gateway cannot run on. ``str()`` is ``file: key.path: message``."""

    def __init__(self, file: Path | str | None, key_path: str, message: str):
        super().__init__(message)
        self.file = file
        self.key_path = key_path
        self.message = message

    def __str__(self) -> str:
        parts = [str(self.file) if self.file is not None else "<config>"]
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
    """Reads typed values out of TOML tables; every failure is a ``ConfigError``."""

    def __init__(self, file: Path | str | None):
        self.file = file

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(self.file, path, message)

    def table(self, value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(path, f"expected a table, got {type_name(value)}")
        return value

    def check_keys(self, table: dict[str, Any], allowed: Iterable[str], path: str) -> None:
        allowed = tuple(allowed)
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise self.error(key_join(path, key), f"unknown key '{key}'{hint}")

    def string(self, table: dict[str, Any], key: str, path: str, default: Any = ...) -> Any:
        if key not in table:
            if default is ...:
                raise self.error(path, f"missing required key '{key}'")
            return default
        value = table[key]
        if not isinstance(value, str):
            raise self.error(key_join(path, key), f"expected a string, got {type_name(value)}")
        return value

    def integer(
        self,
        table: dict[str, Any],
        key: str,
        path: str,
        default: int,
        low: int = 0,
        high: int | None = None,
    ) -> int:
        if key not in table:
            return default
        value = table[key]
        where = key_join(path, key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(where, f"expected an integer, got {type_name(value)}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise self.error(where, f"{value} is out of range (must be {bound})")
        return value

    def number(
        self, table: dict[str, Any], key: str, path: str, default: float, positive: bool = True
    ) -> float:
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

    def optional_number(self, table: dict[str, Any], key: str, path: str) -> float | None:
        """A number greater than 0, or None when the key is absent."""
        if key not in table:
            return None
        return self.number(table, key, path, 0.0)

    def rate(self, table: dict[str, Any], key: str, path: str, default: float) -> float:
        """A share in (0, 1]: ``0.5`` is half."""
        value = self.number(table, key, path, default)
        if value > 1:
            raise self.error(key_join(path, key), f"{value} is out of range (must be in (0, 1])")
        return value

    def boolean(self, table: dict[str, Any], key: str, path: str, default: Any) -> Any:
        """``true`` or ``false`` (not 0 / 1, not a string); ``default`` when absent."""
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            raise self.error(key_join(path, key), f"expected a boolean, got {type_name(value)}")
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

    def money(self, table: dict[str, Any], key: str, path: str, required: bool) -> Decimal | None:
        """A dollar amount: a TOML string or number, converted exactly (numbers via ``str``)."""
        if key not in table:
            if required:
                raise self.error(path, f"missing required key '{key}'")
            return None
        value = table[key]
        where = key_join(path, key)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.error(where, f"expected a decimal number, got {type_name(value)}")
        try:
            amount = Decimal(value.strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise self.error(where, f"{value!r} is not a decimal number") from None
        if not amount.is_finite():
            raise self.error(where, f"{value!r} is not a finite decimal number")
        if amount < 0:
            raise self.error(where, f"{value!r} is negative")
        return amount

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
