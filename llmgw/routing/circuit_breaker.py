"""The circuit breaker of one deployment: stop sending calls to an upstream that is failing.

The states, the transition record and which error classes count as failures are in
``llmgw.routing.breaker_state``; the saved form is in ``llmgw.routing.breaker_snapshot``.

Caller contract: every ``allow()`` that returned True must be followed by exactly one of

* ``record_success(latency_s)``: the upstream answered (also for non-tripping error classes,
  which may be passed to ``record_failure`` instead: the breaker sorts them out),
* ``record_failure(error_class, latency_s)``: the call failed,
* ``release()``: the call never reached the upstream (the client left, the deadline ran out
  before sending, another guard refused it).

In half-open each ``allow()`` takes one of ``half_open_probes`` slots and only the three calls
above give it back; a caller that forgets would hold the breaker half-open. Records arriving
while the breaker is open, or in half-open with no probe out, come from calls admitted before
it opened: they are counted in the stats but change no state. A call slower than
``slow_call_s`` (when set) is a failure whatever its outcome.

Everything runs on an injected ``Clock``; there are no timers. Methods are thread-safe (a
per-breaker lock) so a background thread may take ``snapshot()`` while the event loop records.
``on_transition`` is called after the lock is released, on the thread that caused the change.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from llmgw.routing.breaker_snapshot import SNAPSHOT_VERSION, read_snapshot
from llmgw.routing.breaker_state import Forced, State, Transition, counts_as_failure
from llmgw.routing.clock import Clock
from llmgw.routing.window import SlidingWindow
from llmgw.settings.schema import BreakerConfig

log = logging.getLogger(__name__)

TRANSITION_HISTORY = 20


class CircuitBreaker:
    """The breaker of one deployment. See the module docstring for the caller contract."""

    def __init__(
        self,
        deployment_id: str,
        config: BreakerConfig,
        clock: Clock,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.deployment_id = deployment_id
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._lock = threading.RLock()
        self._window = SlidingWindow(config.window_s, clock, ("calls", "failures"))
        self._state: State = "closed"
        self._forced: Forced = None
        self._consecutive = 0
        self._trips = 0
        self._cooldown = config.open_s
        self._open_until = 0.0  # monotonic
        self._opened_at: float | None = None  # wall, while open / half-open
        self._changed_mono = clock.monotonic()
        self._changed_wall = clock.wall()
        self._probes_out = 0
        self._probe_since: deque[float] = deque()  # when each probe out was admitted
        self._probe_ok = 0
        self._history: deque[Transition] = deque(maxlen=TRANSITION_HISTORY)
        self._pending: list[Transition] = []
        self._probes = max(1, config.half_open_probes)  # 0 would leave half-open stuck

    # -- queries ---------------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The current state, with an elapsed cool-down already turned into half-open."""
        with self._lock:
            self._refresh()
            state = self._state
        self._fire()
        return state

    @property
    def forced(self) -> Forced:
        """The operator override in force, if any."""
        return self._forced

    def retry_after(self) -> float:
        """Seconds until the breaker goes half-open; 0 unless open.

        Forced open holds until cleared; it reports the current cool-down as a hint.
        """
        with self._lock:
            self._refresh()
            if self._state != "open":
                result = 0.0
            elif self._forced == "open":
                result = self._cooldown
            else:
                result = max(0.0, self._open_until - self._clock.monotonic())
        self._fire()
        return result

    def allow(self) -> bool:
        """May a call go to this deployment now? True obliges the caller to record or release."""
        with self._lock:
            self._refresh()
            if self._forced == "closed" or self._state == "closed":
                allowed = True
            elif self._state == "open":
                allowed = False
            else:  # half-open: a limited number of probes
                self._expire_probes()
                allowed = self._probes_out + self._probe_ok < self._probes
                if allowed:
                    self._probes_out += 1
                    self._probe_since.append(self._clock.monotonic())
        self._fire()
        return allowed

    # -- outcomes --------------------------------------------------------------------------

    def record_success(self, latency_s: float = 0.0) -> None:
        """The upstream answered; slower than ``slow_call_s`` counts as a failure."""
        if self._is_slow(latency_s):
            self._record(failed=True, reason_class="slow")
        else:
            self._record(failed=False, reason_class=None)

    def record_failure(self, error_class: str, latency_s: float = 0.0) -> None:
        """The call failed with ``error_class`` (see ``TRIPPING`` for what counts)."""
        failed = counts_as_failure(error_class) or self._is_slow(latency_s)
        self._record(failed=failed, reason_class=error_class)

    def release(self) -> None:
        """The admitted call never reached the upstream: give back its probe slot, if any."""
        with self._lock:
            if self._state == "half_open" and self._probes_out > 0:
                self._probe_back()

    def _probe_back(self) -> None:
        """One probe came back (judged or released)."""
        self._probes_out -= 1
        if self._probe_since:
            self._probe_since.popleft()

    def _expire_probes(self) -> None:
        """Probes out longer than ``probe_timeout_s`` free their slots (not judged): a probe
        that never comes back must not hold the breaker half-open with nobody allowed in."""
        limit = self.config.probe_timeout_s
        now = self._clock.monotonic()
        while self._probe_since and now - self._probe_since[0] > limit:
            self._probe_since.popleft()
            self._probes_out = max(0, self._probes_out - 1)

    def _is_slow(self, latency_s: float) -> bool:
        limit = self.config.slow_call_s
        return limit is not None and latency_s > limit

    def _record(self, *, failed: bool, reason_class: str | None) -> None:
        with self._lock:
            self._refresh()
            self._window.add("calls")
            if failed:
                self._window.add("failures")
                self._consecutive += 1
            else:
                self._consecutive = 0
            if self._forced is None:
                if self._state == "closed" and failed:
                    self._maybe_trip()
                elif self._state == "half_open" and self._probes_out > 0:
                    self._probe_back()
                    if failed:
                        self._cooldown = min(self.config.max_open_s, self._cooldown * 2)
                        self._open("probe failed")
                    else:
                        self._probe_ok += 1
                        if self._probe_ok >= self._probes:
                            self._close("probes succeeded")
        self._fire()

    def _maybe_trip(self) -> None:
        cfg = self.config
        if cfg.consecutive_failures > 0 and self._consecutive >= cfg.consecutive_failures:
            self._open(f"{self._consecutive} consecutive failures")
            return
        calls = self._window.total("calls")
        if calls >= max(1, cfg.min_calls):
            rate = self._window.total("failures") / calls
            if rate >= cfg.failure_rate:
                self._open(f"failure_rate {rate:.2f} over {calls} calls")

    # -- operator override -----------------------------------------------------------------

    def force(self, state: Forced) -> None:
        """Hold the breaker ``"open"`` or ``"closed"`` until ``force(None)`` clears it.

        Forced closed admits every call and never trips (stats are still kept). Clearing
        returns the breaker to closed. Each call records a transition with reason "forced".
        """
        if state not in ("open", "closed", None):
            raise ValueError(f"cannot force a breaker {state!r}")
        with self._lock:
            self._refresh()
            self._forced = state
            if state == "open":
                self._open("forced", trip=False)
            else:
                self._close("forced")
        self._fire()

    # -- state changes (lock held) ---------------------------------------------------------

    def _refresh(self) -> None:
        """Apply what time alone changes: cool-down over, cool-down reset after a calm window."""
        now = self._clock.monotonic()
        if self._forced is not None:
            return
        if self._state == "open" and now >= self._open_until:
            self._probes_out = self._probe_ok = 0
            self._probe_since.clear()
            self._transition("half_open", "cool-down over")
        elif (
            self._state == "closed"
            and self._cooldown != self.config.open_s
            and now - self._changed_mono >= self.config.window_s
        ):
            self._cooldown = self.config.open_s

    def _open(self, reason: str, *, trip: bool = True) -> None:
        now = self._clock.monotonic()
        self._open_until = math.inf if self._forced == "open" else now + self._cooldown
        self._opened_at = self._clock.wall()
        self._probes_out = self._probe_ok = 0
        self._probe_since.clear()
        if trip:
            self._trips += 1
        self._transition("open", reason)

    def _close(self, reason: str) -> None:
        if self._state != "closed":
            self._window.clear()
            self._consecutive = 0
        self._opened_at = None
        self._probes_out = self._probe_ok = 0
        self._probe_since.clear()
        self._transition("closed", reason)

    def _transition(self, to_state: State, reason: str) -> None:
        event = Transition(self.deployment_id, self._clock.wall(), self._state, to_state, reason)
        self._state = to_state
        self._changed_mono = self._clock.monotonic()
        self._changed_wall = event.at
        self._history.append(event)
        self._pending.append(event)

    def _fire(self) -> None:
        """Deliver queued transitions to ``on_transition``, outside the lock."""
        if not self._pending:
            return
        with self._lock:
            events, self._pending = self._pending, []
        if self._on_transition is None:
            return
        for event in events:
            try:
                self._on_transition(event)
            except Exception:
                log.exception("breaker transition hook failed for %s", self.deployment_id)

    # -- reporting and persistence ---------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counters for the admin API and metrics (JSON-able)."""
        with self._lock:
            self._refresh()
            calls = self._window.total("calls")
            failures = self._window.total("failures")
            result = {
                "deployment_id": self.deployment_id,
                "state": self._state,
                "forced": self._forced,
                "calls": calls,
                "failures": failures,
                "failure_rate": failures / calls if calls else 0.0,
                "consecutive_failures": self._consecutive,
                "trips": self._trips,
                "cooldown_s": self._cooldown,
                "half_open_probes_out": self._probes_out,
                "transitions": [t.as_dict() for t in self._history],
            }
        self._fire()
        result["retry_after_s"] = self.retry_after()
        return result

    def snapshot(self) -> dict[str, Any]:
        """The state worth keeping across a restart (JSON-able). Changes nothing."""
        with self._lock:
            calls = self._window.total("calls")
            return {
                "version": SNAPSHOT_VERSION,
                "deployment_id": self.deployment_id,
                "state": self._state,
                "forced": self._forced,
                "opened_at": self._opened_at,
                "cooldown_s": self._cooldown,
                "changed_at": self._changed_wall,
                "trips": self._trips,
                "window": {"calls": calls, "failures": self._window.total("failures")},
            }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Take up the state of ``snapshot()`` from a previous process.

        An open breaker stays open for what remains of its cool-down (measured on the wall
        clock); a half-open one comes back half-open with no probes out; the forced override,
        trip count and cool-down survive. Window counts are not restored. Raises ``ValueError``
        on a malformed snapshot and leaves the breaker unchanged.
        """
        saved = read_snapshot(snapshot, self.deployment_id, self.config.open_s, self._clock.wall())
        with self._lock:
            now, wall = self._clock.monotonic(), self._clock.wall()
            self._cooldown = min(saved.cooldown_s, max(self.config.max_open_s, self.config.open_s))
            self._trips = saved.trips
            self._forced = saved.forced
            self._state = saved.state
            self._opened_at = saved.opened_at if saved.state != "closed" else None
            self._probes_out = self._probe_ok = 0
            self._probe_since.clear()
            self._consecutive = 0
            self._window.clear()
            self._changed_wall = saved.changed_at
            since_change = max(0.0, wall - saved.changed_at)
            self._changed_mono = now - min(since_change, self.config.window_s)
            if saved.forced == "open":
                self._open_until = math.inf
            elif saved.state == "open" and saved.opened_at is not None:
                remaining = saved.opened_at + self._cooldown - wall
                self._open_until = now + min(max(0.0, remaining), self._cooldown)
