"""Budget alerts: when a charge crosses 50/80/100% of a budget, and how fast money burns.

Pure logic; delivering an alert (webhook, log) is the caller's business.

- ``crossed`` compares exactly (integers and Decimal thresholds, no float products);
- ``BurnTracker`` keeps the charges of one budget over a sliding window on an injected clock
  and turns them into dollars per hour and a projected exhaustion time;
- ``Alert`` is the record sent out, ``to_dict()`` its JSON form (money as decimal strings).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from llmgw.limits.model import BudgetUsage
from llmgw.routing.clock import Clock
from llmgw.settings.money import nanos_to_usd, usd_text

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.5, 0.8, 1.0)
SECONDS_PER_HOUR = 3600
DEFAULT_BURN_WINDOW_S = 3600.0
MIN_BURN_SPAN_S = 60.0  # a rate is never extrapolated from less than a minute


def crossed(
    before_nanos: int,
    after_nanos: int,
    limit_nanos: int,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> list[float]:
    """Thresholds (shares of the limit) passed by going from ``before`` to ``after``:
    ``before < t * limit <= after``, in ascending order. A limit of 0 or less is crossed
    entirely by the first positive spend."""
    if limit_nanos <= 0:
        return sorted(thresholds) if before_nanos <= 0 < after_nanos else []
    hits = []
    for t in sorted(thresholds):
        mark = Decimal(str(t)) * limit_nanos
        if before_nanos < mark <= after_nanos:
            hits.append(t)
    return hits


class BurnTracker:
    """Recent charges of one budget, for a burn rate over the last ``window_s`` seconds.

    The rate divides the charges in the window by the time they cover: the window, or the
    time since tracking started when that is shorter (but at least a minute).
    """

    def __init__(self, clock: Clock, window_s: float = DEFAULT_BURN_WINDOW_S) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        self._clock = clock
        self._window = float(window_s)
        self._started = clock.monotonic()
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def _trim(self, now: float) -> None:
        horizon = now - self._window
        while self._events and self._events[0][0] <= horizon:
            self._total -= self._events.popleft()[1]

    def record(self, nanos: int) -> None:
        """Note a charge of ``nanos`` now (non-positive charges are ignored)."""
        if nanos <= 0:
            return
        now = self._clock.monotonic()
        self._trim(now)
        self._events.append((now, nanos))
        self._total += nanos

    def spent_in_window(self) -> int:
        """Nanodollars charged in the current window."""
        self._trim(self._clock.monotonic())
        return self._total

    def burn_rate_per_hour(self) -> Decimal:
        """Recent spend in dollars per hour (exact Decimal)."""
        now = self._clock.monotonic()
        self._trim(now)
        span = max(min(self._window, now - self._started), MIN_BURN_SPAN_S)
        return nanos_to_usd(self._total) * SECONDS_PER_HOUR / Decimal(repr(span))

    def projected_exhaustion(self, spent: int, limit: int, now: float) -> float | None:
        """Unix time at which ``limit`` nanodollars are reached at the current burn rate,
        starting from ``spent`` at ``now`` (wall time). ``now`` when already reached, None
        when nothing is being spent."""
        if spent >= limit:
            return now
        rate = self.burn_rate_per_hour()
        if rate <= 0:
            return None
        hours = nanos_to_usd(limit - spent) / rate
        return now + float(hours * SECONDS_PER_HOUR)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True, frozen=True)
class Alert:
    """A budget crossed ``threshold`` (a share of its limit) in ``period``."""

    node: str
    budget_key: str
    period: str
    threshold: float
    spent: int  # nanodollars
    limit: int  # nanodollars
    burn_rate_usd_per_hour: Decimal
    projected_exhaustion_at: float | None  # unix time
    hard: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts both as integer nanodollars and exact dollar strings."""
        return {
            "type": "budget_threshold",
            "node": self.node,
            "budget": self.budget_key,
            "period": self.period,
            "threshold": self.threshold,
            "percent": round(self.threshold * 100),
            "spent_nanos": self.spent,
            "limit_nanos": self.limit,
            "spent_usd": usd_text(self.spent, 9),  # all nine places: "0.000008000"
            "limit_usd": usd_text(self.limit, 9),
            "burn_rate_usd_per_hour": str(self.burn_rate_usd_per_hour.quantize(Decimal("1e-9"))),
            "projected_exhaustion_at": self.projected_exhaustion_at,
            "projected_exhaustion_iso": _iso(self.projected_exhaustion_at),
            "hard": self.hard,
        }


def alerts_for(
    usage: BudgetUsage,
    charged_nanos: int,
    tracker: BurnTracker,
    now_wall: float,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> list[Alert]:
    """Alerts due after ``usage`` was charged ``charged_nanos`` (as returned by ``settle``).

    Records the charge in ``tracker`` first, so the rate includes it."""
    tracker.record(charged_nanos)
    after = usage.spent_nanos
    hits = crossed(after - charged_nanos, after, usage.limit_nanos, thresholds)
    if not hits:
        return []
    rate = tracker.burn_rate_per_hour()
    eta = tracker.projected_exhaustion(after, usage.limit_nanos, now_wall)
    return [
        Alert(
            node=usage.node,
            budget_key=usage.key,
            period=usage.period_id,
            threshold=t,
            spent=after,
            limit=usage.limit_nanos,
            burn_rate_usd_per_hour=rate,
            projected_exhaustion_at=eta,
            hard=usage.hard,
        )
        for t in hits
    ]
