"""Retry pacing: jittered backoff, Retry-After, a retry budget and the call's deadline.

The gateway asks ``retry_delay()`` how long to wait before the next attempt, checks that the
wait fits the ``Deadline``, takes a token from the ``RetryBudget`` and only then sleeps (with
``asyncio.sleep``: nothing here sleeps).

Testing switch: with ``LLMGW_NO_BACKOFF=1`` in the environment when this module is imported,
``retry_delay()`` returns 0 (no backoff, and Retry-After is not waited for), so integration
tests of the gateway run at full speed. ``set_testing(no_sleep=...)`` flips it at run time;
read it through ``backoff_disabled()`` (a ``from ... import BACKOFF_DISABLED`` would keep a
stale copy). ``backoff_delay()`` is the plain formula and ignores the switch.
"""

from __future__ import annotations

import math
import os
import random

from llmgw.routing.clock import Clock
from llmgw.routing.window import SlidingWindow
from llmgw.settings.schema import RetryConfig

NO_BACKOFF_ENV = "LLMGW_NO_BACKOFF"
MAX_EXPONENT = 62  # beyond this base * 2**n is past any sensible cap anyway

BACKOFF_DISABLED: bool = os.environ.get(NO_BACKOFF_ENV, "").strip().lower() in {"1", "true", "yes"}


def set_testing(no_sleep: bool) -> None:
    """Turn retry waits off (``True``) or back on (``False``) for the whole process."""
    global BACKOFF_DISABLED
    BACKOFF_DISABLED = no_sleep


def backoff_disabled() -> bool:
    """Whether retry waits are currently turned off."""
    return BACKOFF_DISABLED


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full jitter: a delay drawn from U(0, min(cap_s, base_s * 2**attempt)).

    ``attempt`` counts retries from 0 (the wait before the first retry); negative is taken
    as 0. Full jitter spreads the retries of many callers evenly instead of in waves.
    """
    if base_s <= 0 or cap_s <= 0:
        return 0.0
    exponent = min(max(attempt, 0), MAX_EXPONENT)
    ceiling = min(cap_s, base_s * float(2**exponent))
    return rng.uniform(0.0, ceiling)


def retry_delay(
    attempt: int, retry_after: float | None, config: RetryConfig, rng: random.Random
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    A usable ``retry_after`` (what the upstream's Retry-After said) is honoured as it is:
    never less. Otherwise the jittered backoff from ``config``. Zero when backoff is disabled.
    """
    if BACKOFF_DISABLED:
        return 0.0
    if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
        return float(retry_after)
    return backoff_delay(attempt, config.backoff_base_s, config.backoff_cap_s, rng)


class RetryBudget:
    """Caps retries at a share of recent calls, so a brownout cannot become a retry storm.

    Over the sliding window of ``budget_window_s`` seconds a retry is allowed while the
    retries (this one included) stay within
    ``budget_ratio * first_attempts + budget_min_per_s * budget_window_s``. The floor keeps a
    quiet gateway able to retry at all. (Compare: Finagle's RetryBudget, Envoy's retry budget.)
    """

    def __init__(self, config: RetryConfig, clock: Clock) -> None:
        self.config = config
        self._window = SlidingWindow(config.budget_window_s, clock, ("calls", "retries"))

    def record_call(self) -> None:
        """Count a first attempt (every call, whether or not it will retry)."""
        self._window.add("calls")

    def limit(self) -> float:
        """How many retries the window allows right now."""
        cfg = self.config
        return cfg.budget_ratio * self._window.total("calls") + (
            cfg.budget_min_per_s * cfg.budget_window_s
        )

    def try_acquire(self) -> bool:
        """Ask to make a retry: True (and counted) if the budget allows it."""
        if self._window.total("retries") + 1 > self.limit():
            return False
        self._window.add("retries")
        return True

    def stats(self) -> dict[str, float]:
        """Calls, retries and the current limit in the window (JSON-able)."""
        return {
            "calls": self._window.total("calls"),
            "retries": self._window.total("retries"),
            "limit": self.limit(),
        }


class Deadline:
    """The time left for one call, retries and fallbacks included."""

    __slots__ = ("_clock", "_end", "total_s")

    def __init__(self, total_s: float, clock: Clock) -> None:
        self.total_s = total_s
        self._clock = clock
        self._end = clock.monotonic() + total_s

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - self._clock.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def can_wait(self, seconds: float) -> bool:
        """Whether waiting ``seconds`` still leaves time for an attempt afterwards."""
        return seconds < self.remaining()
