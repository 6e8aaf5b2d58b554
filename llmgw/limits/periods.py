"""Budget periods: which period a wall-clock instant falls in, and when that period ends.

All periods are UTC:

- ``day``: the calendar date, id ``2026-11-23``;
- ``month``: the calendar month, id ``2026-11``;
- ``window``: fixed windows of ``window_s`` seconds counted from the Unix epoch, id
  ``w<index>`` where ``index = floor(now / window_s)``.

Ids are plain strings so every store (in-process, Redis, the ledger) keys spend the same way.
"""

from __future__ import annotations

import datetime as dt
import math

_UTC = dt.UTC


def _require_window(window_s: int | None) -> int:
    """The window length, which must be a positive number of seconds."""
    if window_s is None or window_s <= 0:
        raise ValueError("a 'window' period needs window_s > 0")
    return int(window_s)


def period_id(period: str, now_wall: float, window_s: int | None = None) -> str:
    """The id of the period of kind ``period`` containing the Unix time ``now_wall``."""
    if period == "window":
        return f"w{math.floor(now_wall / _require_window(window_s))}"
    day = dt.datetime.fromtimestamp(now_wall, _UTC)
    if period == "day":
        return day.strftime("%Y-%m-%d")
    if period == "month":
        return day.strftime("%Y-%m")
    raise ValueError(f"unknown budget period {period!r}")


def period_start(period: str, now_wall: float, window_s: int | None = None) -> float:
    """Unix time at which the period containing ``now_wall`` began."""
    if period == "window":
        size = _require_window(window_s)
        return float(math.floor(now_wall / size) * size)
    moment = dt.datetime.fromtimestamp(now_wall, _UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    elif period == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return start.timestamp()


def period_end(period: str, now_wall: float, window_s: int | None = None) -> float:
    """Unix time at which the period containing ``now_wall`` ends (exclusive): the reset time."""
    if period == "window":
        size = _require_window(window_s)
        return float((math.floor(now_wall / size) + 1) * size)
    moment = dt.datetime.fromtimestamp(now_wall, _UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return (start + dt.timedelta(days=1)).timestamp()
    if period == "month":
        year, month = (
            (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        )
        return dt.datetime(year, month, 1, tzinfo=_UTC).timestamp()
    raise ValueError(f"unknown budget period {period!r}")
