"""The gateway's runtime: everything built once at start and shared by every request.

``Gateway`` owns the providers and their transport, the key table, the price book and the audit
writer. Nothing here does I/O per request; ``start``/``stop`` run once, off the hot path.

The rooms above the gateway (operator views, budget alerts, shadow traffic) are attached by the
composition root (``llmgw.assembly``) through the Protocols in ``llmgw.gateway.hooks``; the
routes of one call get only the narrow ``llmgw.routing.route.Routing`` bundle.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from llmgw.accounting import tokens
from llmgw.accounting.pricing import PriceBook
from llmgw.audit.redact import Redactor
from llmgw.audit.writer import AuditWriter
from llmgw.cache.service import ResponseCache
from llmgw.gateway.asgi import Scope
from llmgw.gateway.auth import KeyTable
from llmgw.gateway.hooks import CallObserver, Mirror, NoSpendObserver, Service, SpendObserver
from llmgw.gateway.lanes import TenantLanes
from llmgw.gateway.limit_sync import LimitSync
from llmgw.gateway.limiter import Limiter
from llmgw.limits.capacity import CapacityBoard
from llmgw.limits.local import LocalStore
from llmgw.limits.model import LimitStore
from llmgw.providers.base import Provider
from llmgw.providers.faults import FaultInjector, FaultyProvider
from llmgw.providers.http import HttpProvider
from llmgw.providers.mock import MockProvider
from llmgw.providers.transport import AiohttpTransport, Transport
from llmgw.routing.backoff import RetryBudget
from llmgw.routing.breaker import BreakerBoard, Transition
from llmgw.routing.breaker_store import BreakerStore
from llmgw.routing.clock import Clock, SystemClock
from llmgw.routing.health import HealthBoard
from llmgw.routing.policy import RoutePlan, plan
from llmgw.routing.route import Routing
from llmgw.settings.schema import Deployment, ModelConfig, Settings
from llmgw.settings.tenancy import (
    allowed_models,
    resolve_model,
    retention_for,
    tenant_chain,
    tenant_known,
)
from llmgw.types import Retention

log = logging.getLogger("llmgw.gateway")


@dataclass(slots=True)
class TenantPolicy:
    """What the pipeline needs to know about a tenant, resolved once per tenant path."""

    known: bool  # declared in the config (or an ancestor/descendant of a declared tenant)
    allowed: frozenset[str] | None
    retention: Retention
    weight: int = 1  # fair-queue share: the nearest declared tenant's weight


@dataclass
class Gateway:
    settings: Settings
    state_path: Path
    providers: dict[str, Provider]
    keys: KeyTable
    prices: PriceBook
    audit: AuditWriter
    transport: Transport
    clock: Clock
    breakers: BreakerBoard
    breaker_store: BreakerStore
    health: HealthBoard
    retry_budget: RetryBudget
    faults: FaultInjector
    transitions: TransitionLog
    limiter: Limiter
    capacity: CapacityBoard
    routing: Routing
    alerts: SpendObserver = field(default_factory=NoSpendObserver)
    admin_key: str | None = None
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    audit_backlog: set[asyncio.Task[None]] = field(default_factory=set)  # rows waiting for room
    _models: dict[str, ModelConfig | None] = field(default_factory=dict)
    _policies: dict[str, TenantPolicy] = field(default_factory=dict)
    _prices: dict[str, Decimal | None] = field(default_factory=dict)
    _persist: BreakerPersister | None = None
    limit_sync: LimitSync | None = None
    shadow: Mirror | None = None  # shadow traffic, when a tenant mirrors calls
    live: CallObserver | None = None  # operator views, the call tail and metrics
    cache: ResponseCache | None = None  # None when [cache] enabled = false
    services: list[Service] = field(default_factory=list)  # attached rooms, started first
    lanes: TenantLanes = field(default_factory=TenantLanes)  # large bodies, one per tenant

    def model(self, name: str) -> ModelConfig | None:
        """The public model for a requested name or alias (memoised)."""
        try:
            return self._models[name]
        except KeyError:
            found = self._models[name] = resolve_model(self.settings, name)
            return found

    def policy(self, tenant: str) -> TenantPolicy:
        """Allowed models and retention for a tenant path (memoised; settings are immutable)."""
        policy = self._policies.get(tenant)
        if policy is None:
            policy = TenantPolicy(
                tenant_known(self.settings, tenant),
                allowed_models(self.settings, tenant),
                retention_for(self.settings, tenant),
                tenant_weight(self.settings, tenant),
            )
            self._policies[tenant] = policy
        return policy

    def visible_models(self, tenant: str) -> list[ModelConfig]:
        policy = self.policy(tenant)
        if not policy.known:
            return []
        allowed = policy.allowed
        return [m for m in self.settings.models.values() if allowed is None or m.name in allowed]

    def route_plan(
        self, tenant: str, model: ModelConfig, allowed: frozenset[str] | None, scope: Scope
    ) -> RoutePlan:
        """Which deployments and fallbacks this call may use (tenant policy + override headers)."""
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name.startswith(b"x-llmgw-")
        }
        return plan(self.settings, tenant, model, headers, allowed)

    def price_per_mtok(self, dep: Deployment) -> Decimal | None:
        """Input + output list price of a deployment (for the ``cost`` strategy), memoised."""
        try:
            return self._prices[dep.id]
        except KeyError:
            kind = self.settings.providers[dep.provider].kind
            price = self.prices.lookup(kind, dep.model)
            total = None if price is None else price.input_per_mtok + price.output_per_mtok
            self._prices[dep.id] = total
            return total

    def attach(self, service: Service) -> None:
        """Start ``service`` with the gateway (before anything else) and stop it first."""
        self.services.append(service)

    async def start(self) -> None:
        for service in self.services:
            await service.start()
        self.breakers.restore_all(self.breaker_store.load())
        self._persist = BreakerPersister(self.breakers, self.breaker_store, self.transitions)
        self._persist.start()
        self.audit.start()
        if self.cache is not None:
            self.cache.start()
        self.keys.start()
        await self.limiter.store.start()  # Redis: warm connections and scripts (bounded)
        self.limit_sync = LimitSync(self.limiter, self.state_path)
        await self.limit_sync.start()
        tokens.warm([d.model for m in self.settings.models.values() for d in m.deployments])
        # Everything built so far lives as long as the process: keep the cyclic GC from
        # walking it again on every full collection (shorter, rarer pauses under load).
        gc.collect()
        gc.freeze()
        self.ready = True

    async def stop(self) -> None:
        """Flush the audit log and close upstream connections. Called after in-flight calls end."""
        self.ready = False
        for service in reversed(self.services):  # e.g. ends the admin SSE streams first
            await service.stop()
        if self.shadow is not None:
            await self.shadow.aclose()
        if self.audit_backlog:  # rows that waited for queue room go in before the writer closes
            await asyncio.gather(*self.audit_backlog)
        if self.cache is not None:
            await self.cache.stop()
        for provider in self.providers.values():
            await provider.aclose()
        await self.limiter.store.aclose()
        self.limiter.offload.close()
        await self.transport.aclose()
        if self._persist is not None:
            self._persist.stop()
        if self.limit_sync is not None:
            self.limit_sync.stop()
        self.keys.stop()
        self.audit.close(timeout=30)


def observe_rate_headers(
    board: CapacityBoard, provider: str, model: str, headers: Mapping[str, str]
) -> None:
    """A provider's own rate-limit headers hold new calls when it says it is nearly out."""
    board.update_from_headers(f"{provider}/{model}", headers)


def tenant_weight(settings: Settings, tenant: str) -> int:
    for node in reversed(tenant_chain(tenant)):
        declared = settings.tenants.get(node)
        if declared is not None:
            return declared.weight
    return 1


def limit_store(settings: Settings, clock: Clock) -> LimitStore:
    """The counters behind tenant limits: in process, or shared by replicas through Redis."""
    cfg = settings.limits
    if cfg.backend == "redis":
        from llmgw.limits.redis_store import RedisStore

        # the store always fails closed; the limiter applies fail-open per route (model)
        return RedisStore(
            cfg.redis_url,
            fail_mode="closed",
            connect_timeout_s=cfg.redis_connect_timeout_s,
            timeout_s=cfg.redis_timeout_s,
            start_wait_s=cfg.redis_start_wait_s,
        )
    return LocalStore(clock)


def build_gateway(
    settings: Settings, state_path: Path, *, transport: Transport | None = None
) -> Gateway:
    """Wire up a gateway for ``settings`` with its state in ``state_path`` (created if absent).

    ``transport`` replaces the aiohttp client for HTTP providers (tests pass
    ``llmgw.providers.mock_transport.MockTransport``)."""
    if transport is None:
        max_conns = max((p.max_connections for p in settings.providers.values()), default=256)
        transport = AiohttpTransport(max_connections=max_conns)
    injector = FaultInjector()
    providers: dict[str, Provider] = {}
    for name, cfg in settings.providers.items():
        inner: Provider = MockProvider(cfg) if cfg.kind == "mock" else HttpProvider(cfg, transport)
        providers[name] = FaultyProvider(inner, injector)
    clock = SystemClock()
    capacity = CapacityBoard.from_settings(settings, clock)
    for inner in providers.values():
        wrapped = getattr(inner, "inner", inner)
        if isinstance(wrapped, HttpProvider):
            wrapped.on_headers = functools.partial(observe_rate_headers, capacity, wrapped.name)
    audit_cfg = settings.audit
    breaker_store = BreakerStore(state_path)
    prices = PriceBook.builtin(settings.pricing)
    transitions = TransitionLog()
    breakers = BreakerBoard(settings.routing.breaker, clock, on_transition=transitions.append)
    health = HealthBoard(clock)
    retry_budget = RetryBudget(settings.routing.retry, clock)
    gw = Gateway(
        settings=settings,
        state_path=state_path,
        providers=providers,
        keys=KeyTable(state_path),
        prices=prices,
        audit=AuditWriter(
            state_path,
            batch_size=audit_cfg.batch_size,
            flush_interval_s=audit_cfg.flush_interval_s,
            queue_size=audit_cfg.queue_size,
            queue_max_bytes=audit_cfg.queue_max_bytes,
            redactor=Redactor(audit_cfg.redact_patterns),
        ),
        transport=transport,
        clock=clock,
        breakers=breakers,
        breaker_store=breaker_store,
        health=health,
        retry_budget=retry_budget,
        faults=injector,
        transitions=transitions,
        limiter=Limiter(settings, limit_store(settings, clock), prices),
        capacity=capacity,
        routing=Routing(
            providers=providers,
            breakers=breakers,
            health=health,
            retry_budget=retry_budget,
            capacity=capacity,
            clock=clock,
            config=settings.routing,
            price_per_mtok=lambda dep: None,  # replaced below: the gateway's memo
        ),
        cache=ResponseCache(settings, state_path) if settings.cache.enabled else None,
        admin_key=os.environ.get(settings.server.admin_key_env) or None,
    )
    gw.routing.price_per_mtok = gw.price_per_mtok
    return gw


class TransitionLog:
    """Breaker transitions waiting to be written (appended on the loop, drained by a thread)."""

    def __init__(self) -> None:
        self._items: deque[Transition] = deque(maxlen=10_000)

    def append(self, transition: Transition) -> None:
        self._items.append(transition)
        log.warning(
            "breaker %s: %s -> %s (%s)",
            transition.deployment_id,
            transition.from_state,
            transition.to_state,
            transition.reason,
        )

    def drain(self) -> list[Transition]:
        out = []
        while self._items:
            out.append(self._items.popleft())
        return out


class BreakerPersister:
    """Saves breaker state to SQLite every second, and once more on stop (off the event loop)."""

    def __init__(
        self,
        board: BreakerBoard,
        store: BreakerStore,
        transitions: TransitionLog,
        every_s: float = 1.0,
    ) -> None:
        self._board = board
        self._store = store
        self._transitions = transitions
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llmgw-breakers", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._save()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self._save()

    def _save(self) -> None:
        try:
            self._store.save(self._board.snapshot_all())
            pending = self._transitions.drain()
            if pending:
                self._store.record_transitions(pending)
        except Exception:  # keep routing; the next save retries
            log.exception("saving breaker state failed")
