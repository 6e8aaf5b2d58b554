"""The vocabulary of a circuit breaker: its states, its transitions, and which failures count.

States::

    closed ──(failure rate over the window, or N failures in a row)──▶ open
    open ──(cool-down over, checked lazily when asked)──▶ half_open
    half_open ──(``half_open_probes`` probes succeeded)──▶ closed
    half_open ──(a probe failed: cool-down doubles, up to max_open_s)──▶ open

An operator may hold a breaker open or closed (``Forced``) until the override is cleared.

Which failures count (``TRIPPING``): rate limits, overload, server errors, timeouts,
connection failures, and ``auth``. ``auth`` trips too: a dead or revoked credential fails
every call, so the deployment is as unusable as a down one; opening the breaker moves traffic
to the other deployments and the half-open probes notice when the key works again.
``invalid_request``, ``context_length_exceeded`` and ``content_filter`` are the caller's
problem, not the upstream's: for the breaker they are successes (the upstream answered). An
unknown class counts as a failure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from llmgw.errors import ERROR_CLASSES

State = Literal["closed", "open", "half_open"]
STATES: tuple[State, ...] = ("closed", "open", "half_open")
Forced = Literal["open", "closed"] | None
FORCED: tuple[Forced, ...] = ("open", "closed", None)

TRIPPING: frozenset[str] = frozenset(
    {"rate_limited", "overloaded", "server_error", "timeout", "connection", "auth"}
)
NON_TRIPPING: frozenset[str] = frozenset(ERROR_CLASSES) - TRIPPING


def counts_as_failure(error_class: str) -> bool:
    """Whether a failure of this class counts against the upstream's health."""
    return error_class not in NON_TRIPPING


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of one breaker; ``at`` is wall time (unix seconds)."""

    deployment_id: str
    at: float
    from_state: str
    to_state: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The transition as a JSON-able dict (the admin API, the event log)."""
        return asdict(self)
