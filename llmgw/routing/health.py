"""Live health of each deployment: latency, time to first token, load and recent errors.

``DeploymentHealth`` is updated on every upstream call, so every update is O(1):

- ``latency_s`` and ``ttft_s`` are exponentially weighted moving averages (EWMA) per sample:
  ``avg = alpha * sample + (1 - alpha) * avg``, the first sample taken as is. With the default
  ``alpha = 0.2`` a sample's weight halves after ``ln 0.5 / ln 0.8 ≈ 3.1`` newer samples (the
  half-life), so the average follows a change within a handful of calls and one slow outlier
  moves it by a fifth. Only successful calls feed the averages: a fast failure must not make a
  broken deployment look quick.
- ``in_flight`` counts calls between ``begin()`` and ``end()``.
- ``error_rate()`` is failures / calls over a sliding window (default 30 s) of the injected
  clock's monotonic time (``llmgw.routing.window.SlidingWindow``).

``HealthBoard`` holds one ``DeploymentHealth`` per deployment id (``provider/model``), created
on first use. Nothing here sleeps or reads the system clock directly: tests pass a fake clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from llmgw.routing.clock import Clock, SystemClock
from llmgw.routing.window import SlidingWindow

DEFAULT_ALPHA = 0.2  # EWMA weight of the newest sample (half-life ≈ 3.1 samples)
DEFAULT_ERROR_WINDOW_S = 30.0  # sliding window of error_rate()

_CALLS = "calls"
_ERRORS = "errors"


def ewma(average: float | None, sample: float, alpha: float) -> float:
    """The next exponentially weighted moving average; the first sample is taken as is."""
    if average is None:
        return sample
    return average + alpha * (sample - average)


class DeploymentHealth:
    """Running statistics of one deployment, fed by the calls made to it."""

    __slots__ = (
        "_alpha",
        "_clock",
        "_window",
        "deployment_id",
        "failures",
        "in_flight",
        "last_failure_at",
        "last_success_at",
        "latency_s",
        "successes",
        "ttft_s",
    )

    def __init__(
        self,
        deployment_id: str,
        clock: Clock,
        alpha: float = DEFAULT_ALPHA,
        error_window_s: float = DEFAULT_ERROR_WINDOW_S,
    ) -> None:
        if not 0 < alpha <= 1:
            raise ValueError("alpha must be in (0, 1]")
        self.deployment_id = deployment_id
        self._clock = clock
        self._alpha = alpha
        self._window = SlidingWindow(error_window_s, clock, (_CALLS, _ERRORS))
        self.latency_s: float | None = None  # EWMA of successful call durations
        self.ttft_s: float | None = None  # EWMA of time to first token (streams)
        self.in_flight = 0
        self.successes = 0  # since start
        self.failures = 0  # since start
        self.last_success_at: float | None = None  # clock.monotonic() readings
        self.last_failure_at: float | None = None

    # -- load --------------------------------------------------------------------------------

    def begin(self) -> None:
        """A call to this deployment started."""
        self.in_flight += 1

    def end(self) -> None:
        """A call started with ``begin()`` finished (however it ended)."""
        if self.in_flight > 0:
            self.in_flight -= 1

    # -- outcomes ----------------------------------------------------------------------------

    def record_success(self, latency_s: float, ttft_s: float | None = None) -> None:
        """A call succeeded after ``latency_s`` (whole call); ``ttft_s`` for streams."""
        self.latency_s = ewma(self.latency_s, latency_s, self._alpha)
        if ttft_s is not None:
            self.ttft_s = ewma(self.ttft_s, ttft_s, self._alpha)
        self.successes += 1
        self.last_success_at = self._clock.monotonic()
        self._window.add(_CALLS)

    def record_failure(self) -> None:
        """A call failed (any error class); counts toward ``error_rate()``."""
        self.failures += 1
        self.last_failure_at = self._clock.monotonic()
        self._window.add(_CALLS)
        self._window.add(_ERRORS)

    # -- reading -----------------------------------------------------------------------------

    @property
    def has_data(self) -> bool:
        """True once any outcome was recorded (success or failure)."""
        return self.successes > 0 or self.failures > 0

    def window_calls(self) -> int:
        """Calls that ended within the error window."""
        return self._window.total(_CALLS)

    def error_rate(self) -> float:
        """Share of failed calls within the error window; 0.0 when there were none."""
        calls = self._window.total(_CALLS)
        return self._window.total(_ERRORS) / calls if calls else 0.0

    def snapshot(self) -> dict[str, object]:
        """A JSON-ready picture for the admin API, metrics and the TUI."""
        return {
            "deployment": self.deployment_id,
            "latency_ms": _ms(self.latency_s),
            "ttft_ms": _ms(self.ttft_s),
            "in_flight": self.in_flight,
            "successes": self.successes,
            "failures": self.failures,
            "window_calls": self.window_calls(),
            "error_rate": round(self.error_rate(), 4),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


class HealthBoard:
    """One ``DeploymentHealth`` per deployment id, created on first ``get``."""

    __slots__ = ("_alpha", "_by_id", "_clock", "_error_window_s")

    def __init__(
        self,
        clock: Clock | None = None,
        alpha: float = DEFAULT_ALPHA,
        error_window_s: float = DEFAULT_ERROR_WINDOW_S,
    ) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._alpha = alpha
        self._error_window_s = error_window_s
        self._by_id: dict[str, DeploymentHealth] = {}

    def get(self, deployment_id: str) -> DeploymentHealth:
        """The health record of ``deployment_id`` (``provider/model``)."""
        health = self._by_id.get(deployment_id)
        if health is None:
            health = DeploymentHealth(deployment_id, self._clock, self._alpha, self._error_window_s)
            self._by_id[deployment_id] = health
        return health

    def peek(self, deployment_id: str) -> DeploymentHealth | None:
        """The health record if one exists, without creating it."""
        return self._by_id.get(deployment_id)

    def all(self) -> Mapping[str, DeploymentHealth]:
        """Every record so far, by deployment id (a read-only live view)."""
        return MappingProxyType(self._by_id)

    def snapshot(self) -> list[dict[str, object]]:
        """``snapshot()`` of every record, sorted by deployment id."""
        return [self._by_id[k].snapshot() for k in sorted(self._by_id)]
