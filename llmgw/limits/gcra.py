"""GCRA (generic cell rate algorithm): a token bucket kept as one number.

A bucket of ``burst`` units refilled at ``limit`` units per minute is represented by its
*theoretical arrival time* ``tat``: the instant at which the bucket would be full again if
nothing else arrived. Each admitted unit pushes ``tat`` forward by the emission interval
``T = 60 / limit`` seconds; a request of ``cost`` units is admitted when the new ``tat`` is no
more than ``tau = burst * T`` ahead of now. With the default ``burst = limit`` this means:

- sustained throughput of ``limit`` units per minute;
- after an idle minute, a burst of up to ``limit`` units at once;
- a rejected request changes nothing (the caller keeps the old ``tat``).

Costs are weighted, so the same arithmetic serves requests per minute (cost 1) and tokens per
minute (cost = tokens). Times are floats in seconds; comparisons allow ``EPSILON`` so that
sums of float intervals that land exactly on the boundary are admitted.

Everything here is pure: the store owns ``tat`` and passes it in (``0.0`` for a new bucket).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

EPSILON = 1e-6  # seconds of tolerance on the boundary
SECONDS_PER_MINUTE = 60.0


class GcraResult(NamedTuple):
    """Outcome of :meth:`Gcra.check`.

    ``retry_after_s`` is 0 when allowed, the wait until the same request fits when rejected,
    and None when it can never fit (cost larger than the burst). ``remaining`` is how many
    more units fit right now; ``reset_s`` is how long until the bucket is full again.
    """

    allowed: bool
    tat: float
    retry_after_s: float | None
    remaining: int
    reset_s: float


@dataclass(slots=True, frozen=True)
class Gcra:
    """A bucket refilled at ``limit_per_min`` units per minute holding ``burst`` units."""

    limit_per_min: int
    burst: int | None = None

    def __post_init__(self) -> None:
        if self.limit_per_min <= 0:
            raise ValueError("limit_per_min must be > 0")
        if self.burst is not None and self.burst <= 0:
            raise ValueError("burst must be > 0")

    @property
    def capacity(self) -> int:
        """Units the full bucket holds (``burst``, defaulting to the per-minute limit)."""
        return self.limit_per_min if self.burst is None else self.burst

    @property
    def interval(self) -> float:
        """Seconds one unit occupies in the bucket (the emission interval ``T``)."""
        return SECONDS_PER_MINUTE / self.limit_per_min

    @property
    def tolerance(self) -> float:
        """How far ahead of now ``tat`` may be (``tau = burst * T``)."""
        return self.capacity * self.interval

    def remaining_at(self, tat: float, now: float) -> int:
        """Units that would be admitted right now given ``tat``."""
        ahead = max(tat, now) - now
        free = (self.tolerance - ahead) / self.interval
        return max(0, math.floor(free + EPSILON / self.interval))

    def check(self, tat: float, now: float, cost: int = 1) -> GcraResult:
        """Try to take ``cost`` units at time ``now``. On success use the returned ``tat``;
        on failure the caller keeps its old one."""
        if cost < 0:
            raise ValueError("cost must be >= 0")
        base = max(tat, now)
        new_tat = base + cost * self.interval
        ahead = new_tat - now
        if ahead <= self.tolerance + EPSILON:
            return GcraResult(True, new_tat, 0.0, self.remaining_at(new_tat, now), ahead)
        current_reset = base - now
        if cost > self.capacity:
            return GcraResult(False, tat, None, self.remaining_at(tat, now), current_reset)
        retry = ahead - self.tolerance
        return GcraResult(False, tat, retry, self.remaining_at(tat, now), current_reset)

    def refund(self, tat: float, now: float, cost: int) -> float:
        """Give back ``cost`` units reserved but not used; the bucket never goes above full
        (``tat`` never moves below ``now``)."""
        if cost <= 0:
            return tat
        return max(tat - cost * self.interval, now)

    def charge(self, tat: float, now: float, cost: int) -> float:
        """Take ``cost`` extra units unconditionally (a call used more than it reserved)."""
        if cost <= 0:
            return tat
        return max(tat, now) + cost * self.interval
