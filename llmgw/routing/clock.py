"""Time sources for the routing primitives.

Everything in ``llmgw.routing`` takes a ``Clock`` instead of calling ``time`` directly, so the
logic is testable without sleeping: tests pass a ``FakeClock`` and ``advance()`` it.

Two readings are needed: ``monotonic()`` for durations (windows, cool-downs, deadlines; never
jumps) and ``wall()`` for timestamps that must survive a restart (``opened_at`` of a breaker,
transition events).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of time, in seconds."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences are meaningful."""
        ...

    def wall(self) -> float:
        """Unix time (seconds since the epoch)."""
        ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``time.time``."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class FakeClock:
    """A clock that only moves when told to.

    ``start`` is the initial monotonic reading; ``wall_start`` the initial wall reading
    (defaults to ``start``). ``advance()`` moves both by the same amount, so a simulated restart
    is a new ``FakeClock`` with a different ``start`` and a later ``wall_start``.
    """

    __slots__ = ("_mono", "_wall")

    def __init__(self, start: float = 1000.0, wall_start: float | None = None) -> None:
        self._mono = float(start)
        self._wall = float(start if wall_start is None else wall_start)

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> float:
        return self._wall

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._mono += seconds
        self._wall += seconds
