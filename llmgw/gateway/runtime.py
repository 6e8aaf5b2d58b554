"""The gateway's runtime: everything built once at start and shared by every request.

``Gateway`` owns the providers and their transport, the key table, the price book and the audit
writer. Nothing here does I/O per request; ``start``/``stop`` run once, off the hot path.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from llmgw.accounting import tokens
from llmgw.accounting.pricing import PriceBook
from llmgw.audit.writer import AuditWriter
from llmgw.config import ModelConfig, Settings
from llmgw.gateway.auth import KeyTable
from llmgw.providers.base import Provider
from llmgw.providers.http import HttpProvider
from llmgw.providers.mock import MockProvider
from llmgw.providers.transport import AiohttpTransport
from llmgw.settings import allowed_models, resolve_model, retention_for, tenant_known

log = logging.getLogger("llmgw.gateway")


@dataclass(slots=True)
class TenantPolicy:
    """What the pipeline needs to know about a tenant, resolved once per tenant path."""

    known: bool  # declared in the config (or an ancestor/descendant of a declared tenant)
    allowed: frozenset[str] | None
    retention: str


@dataclass
class Gateway:
    settings: Settings
    state_path: Path
    providers: dict[str, Provider]
    keys: KeyTable
    prices: PriceBook
    audit: AuditWriter
    transport: AiohttpTransport
    started_at: float = field(default_factory=time.time)
    ready: bool = False
    audit_backlog: set[asyncio.Task[None]] = field(default_factory=set)  # rows waiting for room
    _models: dict[str, ModelConfig | None] = field(default_factory=dict)
    _policies: dict[str, TenantPolicy] = field(default_factory=dict)

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
            )
            self._policies[tenant] = policy
        return policy

    def visible_models(self, tenant: str) -> list[ModelConfig]:
        policy = self.policy(tenant)
        if not policy.known:
            return []
        allowed = policy.allowed
        return [m for m in self.settings.models.values() if allowed is None or m.name in allowed]

    async def start(self) -> None:
        self.audit.start()
        self.keys.start()
        tokens.warm([d.model for m in self.settings.models.values() for d in m.deployments])
        # Everything built so far lives as long as the process: keep the cyclic GC from
        # walking it again on every full collection (shorter, rarer pauses under load).
        gc.collect()
        gc.freeze()
        self.ready = True

    async def stop(self) -> None:
        """Flush the audit log and close upstream connections. Called after in-flight calls end."""
        self.ready = False
        if self.audit_backlog:  # rows that waited for queue room go in before the writer closes
            await asyncio.gather(*self.audit_backlog)
        for provider in self.providers.values():
            await provider.aclose()
        await self.transport.aclose()
        self.keys.stop()
        self.audit.close(timeout=30)


def build_gateway(settings: Settings, state_path: Path) -> Gateway:
    """Wire up a gateway for ``settings`` with its state in ``state_path`` (created if absent)."""
    max_conns = max((p.max_connections for p in settings.providers.values()), default=256)
    transport = AiohttpTransport(max_connections=max_conns)
    providers: dict[str, Provider] = {}
    for name, cfg in settings.providers.items():
        if cfg.kind == "mock":
            providers[name] = MockProvider(cfg)
        else:
            providers[name] = HttpProvider(cfg, transport)
    audit_cfg = settings.audit
    return Gateway(
        settings=settings,
        state_path=state_path,
        providers=providers,
        keys=KeyTable(state_path),
        prices=PriceBook.builtin(settings.pricing),
        audit=AuditWriter(
            state_path,
            batch_size=audit_cfg.batch_size,
            flush_interval_s=audit_cfg.flush_interval_s,
            queue_size=audit_cfg.queue_size,
        ),
        transport=transport,
    )
