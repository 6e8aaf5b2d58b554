"""Typed reads of a parsed drill file, each failing with a ``DrillError`` naming the key path."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn


class DrillError(Exception):
    """A drill that cannot run. ``str()`` is ``file: key.path: problem``."""

    def __init__(self, file: Path | str | None, key_path: str, message: str) -> None:
        super().__init__(message)
        self.file = file
        self.key_path = key_path
        self.message = message

    def __str__(self) -> str:
        parts = [str(self.file) if self.file is not None else "<drill>"]
        if self.key_path:
            parts.append(self.key_path)
        return ": ".join([*parts, self.message])


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Reader:
    """Typed reads of parsed TOML values, each failing with a ``DrillError`` naming the key."""

    def __init__(self, file: Path | str | None) -> None:
        self.file = file

    def fail(self, path: str, message: str) -> NoReturn:
        raise DrillError(self.file, path, message)

    @staticmethod
    def _join(path: str, key: str) -> str:
        return f"{path}.{key}" if path else key

    def keys(self, t: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in t:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                more = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.fail(self._join(path, key), f"unknown key{more}")

    def table(self, t: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        value = t.get(key, {})
        if not isinstance(value, dict):
            self.fail(self._join(path, key), "must be a table")
        return value

    def tables(self, t: dict[str, Any], key: str) -> Iterator[tuple[dict[str, Any], str]]:
        value = t.get(key, [])
        if not isinstance(value, list):
            self.fail(key, f"must be an array of tables ([[{key}]])")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(f"{key}[{i}]", "must be a table")
            yield item, f"{key}[{i}]"

    def string(self, t: dict[str, Any], key: str, path: str, required: bool = False) -> str | None:
        if key not in t:
            if required:
                self.fail(self._join(path, key), "is required")
            return None
        value = t[key]
        if not isinstance(value, str):
            self.fail(self._join(path, key), f"must be a string, got {value!r}")
        return value

    def name(self, t: dict[str, Any], key: str, path: str) -> str:
        value = self.string(t, key, path, required=True) or ""
        if not _NAME.match(value):
            self.fail(self._join(path, key), f"{value!r} is not a name (letters, digits, _.-)")
        return value

    def strings(self, t: dict[str, Any], key: str, path: str, required: bool = False) -> list[str]:
        if key not in t:
            if required:
                self.fail(self._join(path, key), "is required")
            return []
        value = t[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(self._join(path, key), "must be a list of strings")
        return value

    def number(
        self,
        t: dict[str, Any],
        key: str,
        path: str,
        required: bool = False,
        minimum: float | None = None,
        positive: bool = False,
    ) -> float | None:
        if key not in t:
            if required:
                self.fail(self._join(path, key), "is required")
            return None
        value = t[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(self._join(path, key), f"must be a number, got {value!r}")
        if positive and value <= 0:
            self.fail(self._join(path, key), f"must be above 0, got {value}")
        if minimum is not None and value < minimum:
            self.fail(self._join(path, key), f"must be at least {minimum}, got {value}")
        return float(value)

    def integer(
        self, t: dict[str, Any], key: str, path: str, minimum: int | None = None
    ) -> int | None:
        if key not in t:
            return None
        value = t[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(self._join(path, key), f"must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            self.fail(self._join(path, key), f"must be at least {minimum}, got {value}")
        return value
