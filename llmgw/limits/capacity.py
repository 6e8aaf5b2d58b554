"""Upstream capacity per deployment: a fair gate, a local rate governor, and the provider's word.

``CapacityBoard`` holds, per deployment id (``provider/model``):

- a ``FairGate`` when the deployment declares ``max_concurrency`` (tenants share the slots by
  weight; see ``llmgw.limits.fairqueue``);
- a ``RateGovernor`` when it declares ``rpm``/``tpm``: two GCRA buckets (``llmgw.limits.gcra``)
  holding up to one minute's worth each, the same shape as the tenant limits;
- a ``ProviderView``: what the provider's own rate-limit headers last said (requests and
  tokens remaining, and when they reset), counted down locally for every call sent since.

``async with board.slot(deployment, tenant, weight, tokens):`` wraps one upstream attempt. A
call that would exceed a rate waits for it when the wait is within ``queue_timeout_s``,
otherwise it is refused at once with ``Rejected`` (kind ``rpm``/``tpm``/``concurrency``, node =
the deployment id, ``retry_after_s`` set): the pipeline can then try the next deployment or
answer 429. Feed the provider's headers back with ``update_from_headers`` after every answer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from llmgw.limits.fairqueue import FairGate, GateStats
from llmgw.limits.gcra import Gcra
from llmgw.limits.model import Rejected, RejectKind
from llmgw.routing.clock import Clock
from llmgw.settings.schema import Deployment, Settings

DEFAULT_RESET_S = 1.0  # when a provider says "remaining" without saying when it resets
MAX_RATE_WAITS = 3
_RPM: RejectKind = "rpm"  # re-checks after sleeping for a rate before giving up

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


# -- provider headers ------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class RateHeaders:
    """A provider's rate-limit headers, normalised: counts and seconds until reset."""

    requests_remaining: int | None = None
    requests_reset_s: float | None = None
    tokens_remaining: int | None = None
    tokens_reset_s: float | None = None

    @property
    def empty(self) -> bool:
        return self.requests_remaining is None and self.tokens_remaining is None


def parse_go_duration(text: str) -> float | None:
    """OpenAI's reset values (``1s``, ``6m0s``, ``12ms``, ``1h2m3.5s``) -> seconds."""
    text = text.strip()
    if not text:
        return None
    pos, total = 0, 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos != len(text):
        try:
            return max(0.0, float(text))  # a bare number of seconds
        except ValueError:
            return None
    return total


def parse_reset(text: str, now_wall: float) -> float | None:
    """A reset header -> seconds from now: a Go duration, seconds, or an RFC 3339 time."""
    seconds = parse_go_duration(text)
    if seconds is not None:
        return seconds
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_wall)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def parse_rate_headers(headers: Mapping[str, str], now_wall: float) -> RateHeaders:
    """OpenAI ``x-ratelimit-*`` or Anthropic ``anthropic-ratelimit-*`` headers (any case)."""
    h = {k.lower(): v for k, v in headers.items()}

    def reset(name: str) -> float | None:
        return parse_reset(h[name], now_wall) if name in h else None

    if "x-ratelimit-remaining-requests" in h or "x-ratelimit-remaining-tokens" in h:
        return RateHeaders(
            _int(h.get("x-ratelimit-remaining-requests")),
            reset("x-ratelimit-reset-requests"),
            _int(h.get("x-ratelimit-remaining-tokens")),
            reset("x-ratelimit-reset-tokens"),
        )
    tokens = "anthropic-ratelimit-tokens"
    if f"{tokens}-remaining" not in h:
        tokens = "anthropic-ratelimit-input-tokens"
    return RateHeaders(
        _int(h.get("anthropic-ratelimit-requests-remaining")),
        reset("anthropic-ratelimit-requests-reset"),
        _int(h.get(f"{tokens}-remaining")),
        reset(f"{tokens}-reset"),
    )


# -- pure state ------------------------------------------------------------------------------


class _Bucket:
    """A ``Gcra`` (one minute's worth of burst) and its theoretical arrival time."""

    __slots__ = ("gcra", "tat")

    def __init__(self, per_minute: int) -> None:
        self.gcra = Gcra(per_minute)
        self.tat = 0.0

    def _cost(self, units: int) -> int:
        return min(units, self.gcra.capacity)  # a call bigger than the bucket waits for a full one

    def wait_s(self, units: int, now: float) -> float:
        result = self.gcra.check(self.tat, now, self._cost(units))
        return 0.0 if result.allowed else float(result.retry_after_s or 0.0)

    def take(self, units: int, now: float) -> None:
        self.tat = self.gcra.charge(self.tat, now, self._cost(units))


class RateGovernor:
    """The deployment's declared ``rpm``/``tpm`` as two buckets."""

    def __init__(self, rpm: int | None, tpm: int | None) -> None:
        self.requests = _Bucket(rpm) if rpm else None
        self.tokens = _Bucket(tpm) if tpm else None

    def wait_s(self, tokens: int, now: float) -> tuple[float, RejectKind]:
        """Seconds until a call of ``tokens`` fits, and which limit binds (``rpm``/``tpm``)."""
        r = self.requests.wait_s(1, now) if self.requests else 0.0
        t = self.tokens.wait_s(tokens, now) if self.tokens and tokens else 0.0
        return (r, "rpm") if r >= t else (t, "tpm")

    def take(self, tokens: int, now: float) -> None:
        if self.requests:
            self.requests.take(1, now)
        if self.tokens and tokens:
            self.tokens.take(tokens, now)


@dataclass(slots=True)
class ProviderView:
    """What the provider last said is left, counted down locally until its reset."""

    requests: int | None = None
    requests_reset_at: float = 0.0
    tokens: int | None = None
    tokens_reset_at: float = 0.0

    def update(self, seen: RateHeaders, now: float) -> None:
        if seen.requests_remaining is not None:
            self.requests = seen.requests_remaining
            self.requests_reset_at = now + (seen.requests_reset_s or DEFAULT_RESET_S)
        if seen.tokens_remaining is not None:
            self.tokens = seen.tokens_remaining
            self.tokens_reset_at = now + (seen.tokens_reset_s or DEFAULT_RESET_S)

    def wait_s(self, tokens: int, now: float) -> tuple[float, RejectKind]:
        """Seconds to hold a call: until the reset when the provider's allowance is used up."""
        if self.requests is not None and now >= self.requests_reset_at:
            self.requests = None
        if self.tokens is not None and now >= self.tokens_reset_at:
            self.tokens = None
        if self.requests is not None and self.requests <= 0:
            return self.requests_reset_at - now, "rpm"
        if self.tokens is not None and tokens > 0 and self.tokens < tokens:
            return self.tokens_reset_at - now, "tpm"
        return 0.0, _RPM

    def take(self, tokens: int) -> None:
        if self.requests is not None:
            self.requests -= 1
        if self.tokens is not None:
            self.tokens -= tokens


@dataclass(slots=True, frozen=True)
class DeploymentStats:
    """One deployment's capacity state for the admin API and the TUI."""

    gate: GateStats | None
    provider_requests_left: int | None
    provider_tokens_left: int | None


# -- the board -------------------------------------------------------------------------------


class CapacityBoard:
    """Per deployment: fair concurrency gate, local rate governor, provider header view."""

    def __init__(
        self,
        deployments: Iterable[Deployment],
        clock: Clock,
        queue_timeout_s: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_queued_per_tenant: int | None = None,
    ) -> None:
        self.clock = clock
        self.queue_timeout_s = queue_timeout_s
        self._sleep = sleep
        self.gates: dict[str, FairGate] = {}
        self.governors: dict[str, RateGovernor] = {}
        self.views: dict[str, ProviderView] = {}
        for dep in deployments:
            if dep.max_concurrency and dep.id not in self.gates:
                self.gates[dep.id] = FairGate(
                    dep.max_concurrency,
                    clock,
                    queue_timeout_s,
                    name=dep.id,
                    max_queued_per_tenant=max_queued_per_tenant,
                )
            if (dep.rpm or dep.tpm) and dep.id not in self.governors:
                self.governors[dep.id] = RateGovernor(dep.rpm, dep.tpm)

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> CapacityBoard:
        """Every deployment of every public model (the first declaration of an id wins)."""
        deployments = [d for m in settings.models.values() for d in m.deployments]
        return cls(deployments, clock, settings.limits.queue_timeout_s)

    def limits(self, deployment_id: str) -> bool:
        """Whether calls to this deployment need a slot at all (the hot path skips it if not)."""
        return (
            deployment_id in self.gates
            or deployment_id in self.governors
            or deployment_id in self.views
        )

    @asynccontextmanager
    async def slot(
        self, deployment: Deployment | str, tenant: str, weight: int = 1, tokens: int = 0
    ) -> AsyncIterator[None]:
        """Hold the deployment's capacity for one upstream attempt; ``Rejected`` if none."""
        dep_id = deployment if isinstance(deployment, str) else deployment.id
        await self._pass_rates(dep_id, tokens)
        gate = self.gates.get(dep_id)
        if gate is None:
            yield
            return
        async with gate.slot(tenant, weight):
            yield

    def update_from_headers(self, deployment_id: str, headers: Mapping[str, str]) -> None:
        """Take in the provider's rate-limit headers from an answer of this deployment."""
        seen = parse_rate_headers(headers, self.clock.wall())
        if seen.empty:
            return
        view = self.views.setdefault(deployment_id, ProviderView())
        view.update(seen, self.clock.monotonic())

    def stats(self) -> dict[str, DeploymentStats]:
        ids = sorted({*self.gates, *self.views})
        out: dict[str, DeploymentStats] = {}
        for dep_id in ids:
            gate, view = self.gates.get(dep_id), self.views.get(dep_id)
            out[dep_id] = DeploymentStats(
                gate.stats() if gate else None,
                view.requests if view else None,
                view.tokens if view else None,
            )
        return out

    async def _pass_rates(self, dep_id: str, tokens: int) -> None:
        governor, view = self.governors.get(dep_id), self.views.get(dep_id)
        if governor is None and view is None:
            return
        waited = 0.0
        for _ in range(MAX_RATE_WAITS + 1):
            now = self.clock.monotonic()
            wait, kind = governor.wait_s(tokens, now) if governor else (0.0, _RPM)
            if view is not None:
                held, held_kind = view.wait_s(tokens, now)
                if held > wait:
                    wait, kind = held, held_kind
            if wait <= 0:
                if governor:
                    governor.take(tokens, now)
                if view:
                    view.take(tokens)
                return
            if waited + wait > self.queue_timeout_s:
                break
            await self._sleep(wait)
            waited += wait
        raise Rejected(
            kind,
            dep_id,
            f"deployment {dep_id} is at its {kind} limit; retry in {wait:.1f}s",
            retry_after_s=max(wait, 0.001),
        )
