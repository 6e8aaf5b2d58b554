"""A sliding time window of counters, kept in time buckets.

The window is a ring of ``n`` buckets, each ``window_s / n`` seconds wide; each bucket holds
one integer per named counter. Adding is O(1); running totals are kept so reading a total is
O(1) too; expired buckets are evicted lazily when time moves on (amortised O(1)). Memory is
O(n) whatever the call rate. The window covers the current bucket and the ``n - 1`` before it,
so its effective length is between ``window_s - bucket`` and ``window_s``.
"""

from __future__ import annotations

import math

from llmgw.routing.clock import Clock

MAX_BUCKETS = 120  # ring size limit: long windows get wider buckets, not more of them


class SlidingWindow:
    """Counters summed over the last ``window_s`` seconds of ``clock.monotonic()``."""

    __slots__ = ("_buckets", "_clock", "_epochs", "_fields", "_last", "_n", "_totals", "bucket_s")

    def __init__(self, window_s: float, clock: Clock, fields: tuple[str, ...]) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self._clock = clock
        self._fields = {name: i for i, name in enumerate(fields)}
        self._n = max(1, min(MAX_BUCKETS, math.ceil(window_s)))
        self.bucket_s = window_s / self._n
        self._buckets: list[list[int]] = [[0] * len(fields) for _ in range(self._n)]
        self._epochs: list[int] = [-1] * self._n  # bucket index each ring slot currently holds
        self._totals: list[int] = [0] * len(fields)
        self._last = self._index()

    def _index(self) -> int:
        return math.floor(self._clock.monotonic() / self.bucket_s)

    def _roll(self) -> int:
        """Evict buckets that fell out of the window; returns the current bucket index."""
        now = self._index()
        if now > self._last:
            # slots for bucket indexes (last, now] are reused: drop what they held
            for idx in range(max(self._last + 1, now - self._n + 1), now + 1):
                slot = idx % self._n
                if self._epochs[slot] != idx:
                    self._drop(slot)
            self._last = now
        return now

    def _drop(self, slot: int) -> None:
        bucket = self._buckets[slot]
        for i, value in enumerate(bucket):
            self._totals[i] -= value
            bucket[i] = 0
        self._epochs[slot] = -1

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name`` in the current bucket."""
        now = self._roll()
        slot = now % self._n
        if self._epochs[slot] != now:
            self._drop(slot)
            self._epochs[slot] = now
        self._buckets[slot][self._fields[name]] += amount
        self._totals[self._fields[name]] += amount

    def total(self, name: str) -> int:
        """The sum of counter ``name`` over the window."""
        self._roll()
        return self._totals[self._fields[name]]

    def clear(self) -> None:
        """Forget everything."""
        for slot in range(self._n):
            self._drop(slot)
        self._last = self._index()
