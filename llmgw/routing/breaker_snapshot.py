"""The saved form of a circuit breaker: what survives a restart, and how it is read back.

``CircuitBreaker.snapshot()`` writes a JSON-able dict (``SNAPSHOT_VERSION``): state, forced
override, when it opened (wall clock), current cool-down, when it last changed, trip count and
the window's counts (for display only: they are not restored). ``read_snapshot`` checks such a
dict from a previous process and turns it into a ``SavedBreaker``, or raises ``ValueError``;
``CircuitBreaker.restore`` then takes it up. A forced override decides the saved state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from llmgw.routing.breaker_state import FORCED, STATES, Forced, State

SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class SavedBreaker:
    """A checked snapshot: ``opened_at`` and ``changed_at`` are wall time (unix seconds)."""

    state: State
    forced: Forced
    cooldown_s: float
    trips: int
    opened_at: float | None
    changed_at: float


def read_snapshot(
    snapshot: Mapping[str, Any], deployment_id: str, default_cooldown_s: float, now_wall: float
) -> SavedBreaker:
    """Check ``snapshot`` (see the module docstring); missing optional fields take defaults
    (``default_cooldown_s``, no trips, changed ``now_wall``). Raises ``ValueError``."""
    malformed = f"malformed breaker snapshot for {deployment_id}"
    try:
        name = str(snapshot["state"])
        forced_raw = snapshot.get("forced")
        cooldown = float(snapshot.get("cooldown_s", default_cooldown_s))
        trips = int(snapshot.get("trips", 0))
        opened_raw = snapshot.get("opened_at")
        opened_at = None if opened_raw is None else float(opened_raw)
        changed_at = float(snapshot.get("changed_at", now_wall))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(malformed) from exc
    if name not in STATES or forced_raw not in FORCED:
        raise ValueError(malformed)
    state: State = name  # narrowed by the check above
    forced = cast(Forced, forced_raw)
    if not math.isfinite(cooldown) or cooldown <= 0:
        raise ValueError(malformed)
    if forced is not None:
        state = forced  # the override decides the state
        opened_at = opened_at if opened_at is not None else changed_at
    if state == "open" and opened_at is None:
        raise ValueError(malformed)
    return SavedBreaker(state, forced, cooldown, trips, opened_at, changed_at)
