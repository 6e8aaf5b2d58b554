"""One call's way through its deployments: order, breakers, retries, fallbacks, deadline.

``Route.next(err)`` answers "where does the next attempt go?" given how the last one failed:

- the model's deployments first, ordered by its strategy, then each fallback model's;
- a deployment whose breaker is open is skipped (its cool-down feeds ``Retry-After``);
- a retryable failure moves on at once to the next deployment; with none left, the same
  deployments are retried after a full-jitter backoff that honours ``Retry-After`` — but a
  deployment that timed out is abandoned, not retried;
- ``context_length_exceeded`` switches once to the model's ``context_fallback``; other
  non-retryable classes (``content_filter``, ``invalid_request``, ``auth``) end the route;
- every retry draws from the gateway-wide retry budget, and nothing starts past the deadline
  or beyond ``retry.max_attempts``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from llmgw.errors import UpstreamError
from llmgw.gateway.runtime import Gateway
from llmgw.limits.capacity import CapacityBoard
from llmgw.limits.model import Rejected
from llmgw.providers.base import Provider
from llmgw.routing.backoff import Deadline, retry_delay
from llmgw.routing.breaker import CircuitBreaker
from llmgw.routing.health import DeploymentHealth
from llmgw.routing.policy import RoutePlan
from llmgw.settings.schema import Deployment, ModelConfig

_rng = random.Random()


@contextlib.asynccontextmanager
async def _capacity_slot(
    board: CapacityBoard, dep: Deployment, tenant: str, weight: int, tokens: int
) -> AsyncIterator[None]:
    """The deployment's capacity gate; its refusal becomes ``AtCapacity`` (nothing inside the
    slot raises ``Rejected``: admission happened before)."""
    try:
        async with board.slot(dep, tenant, weight, tokens):
            yield
    except Rejected as rej:
        raise AtCapacity(rej) from None


class AtCapacity(UpstreamError):
    """Our own capacity gate for a deployment refused the attempt (it waited its bounded time
    in the fair queue, or its tenant's queue was full). Not the upstream's fault: no breaker
    penalty, and the same deployment is not retried for this call."""

    def __init__(self, rejected: Rejected) -> None:
        super().__init__(
            "rate_limited",
            f"{rejected.node}: {rejected.message}",
            retry_after=rejected.retry_after_s or 1.0,
        )
        self.code = "deployment_at_capacity"


@dataclass(slots=True)
class Hop:
    """One attempt's target. Exactly one of ``succeeded``/``failed``/``abandoned`` ends it."""

    deployment: Deployment
    provider: Provider
    breaker: CircuitBreaker
    health: DeploymentHealth
    model: ModelConfig  # the public model it serves (differs from the requested on fallback)

    def succeeded(self, latency_s: float, ttft_s: float | None = None) -> None:
        self.breaker.record_success(latency_s)
        self.health.end()
        self.health.record_success(latency_s, ttft_s)

    def failed(self, err: UpstreamError, latency_s: float) -> None:
        self.breaker.record_failure(err.error_class, latency_s)
        self.health.end()
        self.health.record_failure()

    def slot(self, gw: Gateway, tenant: str, weight: int, tokens: int) -> Any:
        """The deployment's capacity for this attempt (a no-op where none is declared)."""
        dep_id = self.deployment.id
        if not gw.capacity.limits(dep_id):
            return contextlib.nullcontext()
        return _capacity_slot(gw.capacity, self.deployment, tenant, weight, tokens)

    def abandoned(self) -> None:
        """The call stopped before the upstream could prove anything (the client left)."""
        self.breaker.release()
        self.health.end()


@dataclass
class Route:
    gw: Gateway
    plan: RoutePlan
    deadline: Deadline
    attempts: int = 0
    open_waits: list[float] = field(default_factory=list)
    budget_exhausted: bool = False
    _queue: deque[tuple[Deployment, ModelConfig]] = field(default_factory=deque)
    _retryable: list[tuple[Deployment, ModelConfig]] = field(default_factory=list)
    _context_switched: bool = False
    _last: tuple[Deployment, ModelConfig] | None = None

    @classmethod
    def start(cls, gw: Gateway, plan: RoutePlan) -> Route:
        route = cls(gw, plan, Deadline(gw.settings.routing.timeouts.total_s, gw.clock))
        route._queue.extend(gw.ordered(plan.model, plan.deployments, plan.strategy))
        for model in plan.fallbacks:  # already narrowed to what the tenant may use
            route._queue.extend(gw.ordered(model, model.deployments, None))
        gw.retry_budget.record_call()
        return route

    async def next(self, err: UpstreamError | None) -> Hop | None:
        """Where the next attempt goes, or None when the route is over."""
        if err is not None and not self._after_failure(err):
            return None
        cfg = self.gw.settings.routing.retry
        while self.attempts < cfg.max_attempts and not self.deadline.expired:
            picked = self._pick()
            if picked is None:
                return None
            (dep, model), repeat = picked
            breaker = self.gw.breakers.get(dep.id)
            if not breaker.allow():
                self.open_waits.append(breaker.retry_after())
                continue
            if self.attempts > 0:
                if not self.gw.retry_budget.try_acquire():
                    breaker.release()
                    self.budget_exhausted = True
                    return None
                if repeat:
                    delay = retry_delay(
                        self.attempts - 1, err.retry_after if err else None, cfg, _rng
                    )
                    if not self.deadline.can_wait(delay):
                        breaker.release()
                        return None
                    if delay > 0:
                        await asyncio.sleep(delay)
            self.attempts += 1
            self._last = (dep, model)
            health = self.gw.health.get(dep.id)
            health.begin()
            return Hop(dep, self.gw.providers[dep.provider], breaker, health, model)
        return None

    def _after_failure(self, err: UpstreamError) -> bool:
        """Decide from the last failure whether the route goes on (and how)."""
        last = self._last
        if err.error_class == "context_length_exceeded":
            target = self.plan.context_fallback
            if target is None or self._context_switched:
                return False
            self._context_switched = True
            self._queue.clear()
            self._retryable.clear()
            self._queue.extend(self.gw.ordered(target, target.deployments, None))
            return True
        if not err.retryable:
            return False
        if last is not None and err.error_class != "timeout" and not isinstance(err, AtCapacity):
            self._retryable.append(last)  # may be tried again after a backoff
        return True

    def _pick(self) -> tuple[tuple[Deployment, ModelConfig], bool] | None:
        if self._queue:
            return self._queue.popleft(), False
        if self._retryable:
            return self._retryable.pop(0), True
        return None

    def remaining(self, phase_s: float) -> float:
        """A phase timeout cut to what is left of the deadline."""
        return max(0.001, min(phase_s, self.deadline.remaining()))

    def exhausted_error(self, last: UpstreamError | None) -> UpstreamError:
        """The error to answer with when no attempt succeeded."""
        wait = min(self.open_waits) if self.open_waits else None
        if last is None:
            name = self.plan.model.name
            reason = "retry budget exhausted" if self.budget_exhausted else "circuit open"
            err = UpstreamError(
                "overloaded", f"every deployment of {name!r} is unavailable ({reason})"
            )
            err.retry_after = max(1.0, wait or 1.0)
            return err
        if last.retry_after is None and wait is not None:
            last.retry_after = max(1.0, wait)
        return last
