"""Fixed-size time windows and percentiles for the live operator views (pure, O(1) updates)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


class Buckets:
    """Integer sums in ``n`` consecutive time slots of ``width`` seconds (a ring).

    ``row(now)`` is the current slot's list of fields, reset when the ring wraps onto a stale
    slot; readers only count slots stamped within the last ``n`` slots.
    """

    __slots__ = ("_fields", "_n", "_rows", "_stamps", "_width")

    def __init__(self, n: int, width: float, fields: int) -> None:
        self._n = n
        self._width = width
        self._fields = fields
        self._stamps = [-1] * n
        self._rows = [[0] * fields for _ in range(n)]

    def row(self, now: float) -> list[int]:
        """The mutable sums of the slot containing ``now``."""
        slot = int(now // self._width)
        i = slot % self._n
        row = self._rows[i]
        if self._stamps[i] != slot:
            self._stamps[i] = slot
            row[:] = [0] * self._fields
        return row

    def add(self, at: float, values: Sequence[int]) -> None:
        """Add ``values`` to the slot containing ``at``, which may be out of order: a time
        older than the ring still holds is dropped instead of clearing a newer slot."""
        slot = int(at // self._width)
        if self._stamps[slot % self._n] > slot:
            return
        row = self.row(at)
        for f, value in enumerate(values):
            row[f] += value

    def totals(self, now: float) -> list[int]:
        """Per-field sums over the last ``n`` slots (the current one included)."""
        newest = int(now // self._width)
        out = [0] * self._fields
        for stamp, row in zip(self._stamps, self._rows, strict=True):
            if newest - self._n < stamp <= newest:
                for f in range(self._fields):
                    out[f] += row[f]
        return out

    def series(self, now: float, slots: int, field: int = 0) -> list[int]:
        """One field over the last ``slots`` slots, oldest first (0 for empty slots)."""
        newest = int(now // self._width)
        out = []
        for slot in range(newest - slots + 1, newest + 1):
            i = slot % self._n
            out.append(self._rows[i][field] if self._stamps[i] == slot else 0)
        return out


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in (0, 1]) of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]
