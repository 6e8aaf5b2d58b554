"""Circuit breakers per deployment: the board that holds one breaker for each deployment.

The pieces, each in its own module:

- ``breaker_state``: the states, the ``Transition`` record, which error classes trip
  (``TRIPPING`` / ``NON_TRIPPING``);
- ``circuit_breaker``: ``CircuitBreaker``, the state machine of one deployment, and its caller
  contract (every admitted call is recorded or released);
- ``breaker_snapshot``: the saved form that survives a restart;
- ``breaker_store``: where the gateway keeps snapshots and transitions (SQLite);
- this module: ``BreakerBoard``, the registry the router asks, and the names callers import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from llmgw.routing.breaker_state import (
    NON_TRIPPING,
    STATES,
    TRIPPING,
    Forced,
    State,
    Transition,
    counts_as_failure,
)
from llmgw.routing.circuit_breaker import CircuitBreaker
from llmgw.routing.clock import Clock
from llmgw.settings.schema import BreakerConfig

__all__ = [
    "NON_TRIPPING",
    "STATES",
    "TRIPPING",
    "BreakerBoard",
    "CircuitBreaker",
    "Forced",
    "State",
    "Transition",
    "counts_as_failure",
]

log = logging.getLogger(__name__)


class BreakerBoard:
    """The breakers of all deployments, created with the shared config on first use."""

    def __init__(
        self,
        config: BreakerConfig,
        clock: Clock,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def get(self, deployment_id: str) -> CircuitBreaker:
        """The breaker of ``deployment_id``, created closed if it did not exist."""
        breaker = self._breakers.get(deployment_id)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.get(deployment_id)
                if breaker is None:
                    breaker = CircuitBreaker(
                        deployment_id, self.config, self._clock, self._on_transition
                    )
                    self._breakers[deployment_id] = breaker
        return breaker

    __getitem__ = get

    def __contains__(self, deployment_id: object) -> bool:
        return deployment_id in self._breakers

    def __len__(self) -> int:
        return len(self._breakers)

    def all(self) -> dict[str, CircuitBreaker]:
        """A copy of the registry: deployment id -> breaker."""
        with self._lock:
            return dict(self._breakers)

    def snapshot_all(self) -> dict[str, dict[str, Any]]:
        """``snapshot()`` of every breaker, keyed by deployment id (safe from any thread)."""
        return {dep: breaker.snapshot() for dep, breaker in self.all().items()}

    def restore_all(self, snapshots: Mapping[str, Mapping[str, Any]]) -> list[str]:
        """Restore every snapshot; returns the deployment ids skipped as malformed."""
        skipped: list[str] = []
        for dep, snap in snapshots.items():
            try:
                self.get(dep).restore(snap)
            except ValueError:
                log.warning("ignoring malformed breaker snapshot for %s", dep)
                skipped.append(dep)
        return skipped
