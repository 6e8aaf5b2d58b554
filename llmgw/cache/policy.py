"""Who may be answered from the cache, and for how long: tenant policy resolved per model.

A cache policy is layered like every tenant setting: the built-in defaults, then ``[cache]``,
then each node of the tenant's chain from the org down (``acme``, ``acme/search``, ...), each
followed by its per-model rule for the called model. The nearest value set wins. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmgw.settings.schema import Settings
from llmgw.settings.tenancy import tenant_chain


@dataclass(slots=True, frozen=True)
class CachePolicy:
    """The resolved cache policy of one (tenant, public model)."""

    mode: str  # deterministic | always | off
    scope: str  # key | tenant | team | org
    ttl_s: int
    max_ttl_s: int
    semantic: bool
    semantic_threshold: float | None  # None: the embedder's calibrated default
    semantic_tools: bool
    semantic_nondeterministic: bool

    @property
    def off(self) -> bool:
        return self.mode == "off"


def resolve_policy(settings: Settings, tenant: str, model: str) -> CachePolicy:
    """The cache policy for calls of ``tenant`` to public model ``model``."""
    rule = settings.cache.defaults
    for node in tenant_chain(tenant):
        declared = settings.tenants.get(node)
        if declared is None:
            continue
        rule = rule.overlay(declared.cache).overlay(declared.cache_models.get(model))
    mode = rule.mode if settings.cache.enabled else "off"
    return CachePolicy(
        mode=mode or "off",
        scope=rule.scope or "tenant",
        ttl_s=rule.ttl_s if rule.ttl_s is not None else 0,
        max_ttl_s=rule.max_ttl_s if rule.max_ttl_s is not None else 0,
        semantic=bool(rule.semantic),
        semantic_threshold=rule.semantic_threshold,
        semantic_tools=bool(rule.semantic_tools),
        semantic_nondeterministic=bool(rule.semantic_nondeterministic),
    )


def scope_id(scope: str, tenant: str, key_id: str | None) -> str:
    """The cache partition a call reads and writes: never wider than its org.

    ``key:<key id>``, ``tenant:<path>``, ``team:<first two segments>`` or
    ``org:<first segment>``. A call without a key id (never the case behind auth) falls back
    to its tenant path.
    """
    if scope == "key" and key_id:
        return f"key:{key_id}"
    parts = tenant.split("/")
    if scope == "org":
        return f"org:{parts[0]}"
    if scope == "team":
        return f"team:{'/'.join(parts[:2])}"
    return f"tenant:{tenant}"
