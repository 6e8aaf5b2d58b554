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

A route needs only the narrow collaborators in ``Routing`` (providers, breakers, health, the
retry budget, the capacity gate, a clock and the routing settings), never the whole gateway.
A ``Hop`` that ``next`` hands out holds a breaker admission (a half-open probe, when the
breaker is half-open) and a health in-flight count: ``llmgw.routing.attempts`` makes sure one
of ``succeeded``/``failed``/``abandoned`` returns them on every path.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from llmgw.errors import UpstreamError
from llmgw.providers.base import Provider
from llmgw.routing.backoff import Deadline, RetryBudget, retry_delay
from llmgw.routing.breaker import BreakerBoard, CircuitBreaker
from llmgw.routing.clock import Clock
from llmgw.routing.health import DeploymentHealth, HealthBoard
from llmgw.routing.policy import RoutePlan
from llmgw.routing.strategy import order
from llmgw.settings.schema import Deployment, ModelConfig, RoutingConfig

Candidate = tuple[Deployment, ModelConfig]


class CapacityGate(Protocol):
    """A deployment's own capacity (``llmgw.limits.capacity.CapacityBoard``)."""

    def limits(self, deployment_id: str) -> bool:
        """Whether attempts on this deployment need a slot at all."""
        ...

    def slot(
        self, deployment: Deployment, tenant: str, weight: int, tokens: int
    ) -> AbstractAsyncContextManager[None]:
        """Hold capacity for one attempt; raises ``llmgw.limits.model.Rejected`` if none."""
        ...


@dataclass(slots=True)
class Routing:
    """What routes need, built once per gateway and shared by every call."""

    providers: Mapping[str, Provider]
    breakers: BreakerBoard
    health: HealthBoard
    retry_budget: RetryBudget
    capacity: CapacityGate
    clock: Clock
    config: RoutingConfig
    price_per_mtok: Callable[[Deployment], Decimal | None]
    rng: random.Random = field(default_factory=random.Random)

    def ordered(
        self, model: ModelConfig, deployments: Sequence[Deployment], strategy: str | None
    ) -> list[Candidate]:
        """``deployments`` of ``model`` in the order its strategy prefers, for this call."""
        chosen = strategy or model.strategy
        if len(deployments) > 1 and chosen != "priority":
            deployments = order(deployments, chosen, self.health, self.price_per_mtok, self.rng)
        return [(d, model) for d in deployments]


class AtCapacity(UpstreamError):
    """Our own capacity gate for a deployment refused the attempt (it waited its bounded time
    in the fair queue, or its tenant's queue was full). Not the upstream's fault: no breaker
    penalty, and the same deployment is not retried for this call."""

    def __init__(self, node: str, message: str, retry_after_s: float | None) -> None:
        super().__init__("rate_limited", f"{node}: {message}", retry_after=retry_after_s or 1.0)
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

    def abandoned(self) -> None:
        """The attempt stopped before the upstream could prove anything (the client left,
        our own gate refused it, or the deployment cannot serve this kind of attempt)."""
        self.breaker.release()
        self.health.end()


@dataclass
class Route:
    deps: Routing
    plan: RoutePlan
    deadline: Deadline
    attempts: int = 0
    open_waits: list[float] = field(default_factory=list)
    budget_exhausted: bool = False
    _queue: deque[Candidate] = field(default_factory=deque)
    _retryable: list[Candidate] = field(default_factory=list)
    _context_switched: bool = False
    _last: Candidate | None = None

    @classmethod
    def start(cls, deps: Routing, plan: RoutePlan) -> Route:
        route = cls(deps, plan, Deadline(deps.config.timeouts.total_s, deps.clock))
        route._queue.extend(deps.ordered(plan.model, plan.deployments, plan.strategy))
        for model in plan.fallbacks:  # already narrowed to what the tenant may use
            route._queue.extend(deps.ordered(model, model.deployments, None))
        deps.retry_budget.record_call()
        return route

    async def next(self, err: UpstreamError | None) -> Hop | None:
        """Where the next attempt goes, or None when the route is over."""
        if err is not None and not self._after_failure(err):
            return None
        deps = self.deps
        cfg = deps.config.retry
        while self.attempts < cfg.max_attempts and not self.deadline.expired:
            picked = self._pick()
            if picked is None:
                return None
            (dep, model), repeat = picked
            breaker = deps.breakers.get(dep.id)
            if not breaker.allow():
                self.open_waits.append(breaker.retry_after())
                continue
            if self.attempts > 0:
                if not deps.retry_budget.try_acquire():
                    breaker.release()
                    self.budget_exhausted = True
                    return None
                if repeat:
                    delay = retry_delay(
                        self.attempts - 1, err.retry_after if err else None, cfg, deps.rng
                    )
                    if not self.deadline.can_wait(delay):
                        breaker.release()
                        return None
                    if delay > 0:
                        try:
                            await asyncio.sleep(delay)
                        except BaseException:  # cancelled while backing off: give it back
                            breaker.release()
                            raise
            self.attempts += 1
            self._last = (dep, model)
            health = deps.health.get(dep.id)
            health.begin()
            return Hop(dep, deps.providers[dep.provider], breaker, health, model)
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
            self._queue.extend(self.deps.ordered(target, target.deployments, None))
            return True
        if not err.retryable:
            return False
        if last is not None and err.error_class != "timeout" and not isinstance(err, AtCapacity):
            self._retryable.append(last)  # may be tried again after a backoff
        return True

    def _pick(self) -> tuple[Candidate, bool] | None:
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
