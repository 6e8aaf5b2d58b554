"""What one call may use: a tenant's routing policy applied to the requested model.

``tenant_policy(settings, path)`` folds the ``[tenants."x".routing]`` tables down the tenant
chain (root first) into a ``TenantRoutingPolicy``: ``providers`` and ``regions`` are the
intersection of every declared list (None = any), the other fields come from the nearest
tenant that sets them (``allow_overrides`` defaults to false).

``plan(settings, tenant_path, model, headers, allowed_models)`` returns a ``RoutePlan``:

- ``deployments``: the model's deployments the tenant may use, in config order (strategy
  ordering is ``llmgw.routing.strategy.order``'s job). A deployment is allowed when its
  provider is in the tenant's providers and its region in the tenant's regions (a deployment
  without a region never passes a region restriction). None left -> ``PermissionDenied``.
- ``strategy``: the tenant's, else the model's.
- ``fallbacks``: the tenant's ``fallbacks`` when set (taken literally), else the model's chain
  breadth first (its own list, then each of those models' lists, no repeats, never the model
  itself). Each model is dropped when the tenant may not call it (``allowed_models``) and
  otherwise narrowed to its allowed deployments, dropped when none is left: a restricted tenant
  never reaches another provider or region through a fallback. ``context_fallback`` likewise.
- Header overrides, honoured only when the tenant's ``allow_overrides`` is true (otherwise
  they are ignored and not listed in ``overrides_applied``):
  ``x-llmgw-provider: <name>`` keeps only that provider's deployments (fallbacks included; a
  provider outside the tenant's restriction -> ``PermissionDenied``),
  ``x-llmgw-strategy: <strategy>`` replaces the strategy, ``x-llmgw-fallback: none`` drops the
  fallback models and the context fallback. A bad value is a ``BadRequest``.

The caller is expected to have checked that the tenant may call ``model`` itself. The plan
without headers is memoized per (settings, tenant, model, allowance); headers cost one scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from llmgw.errors import BadRequest, PermissionDenied
from llmgw.settings.schema import STRATEGIES, Deployment, ModelConfig, Settings
from llmgw.settings.tenancy import resolve_model, tenant_chain

HEADER_PROVIDER = "x-llmgw-provider"
HEADER_STRATEGY = "x-llmgw-strategy"
HEADER_FALLBACK = "x-llmgw-fallback"
OVERRIDE_HEADERS = frozenset({HEADER_PROVIDER, HEADER_STRATEGY, HEADER_FALLBACK})

_MAX_PLANS = 4096  # memoized plans per settings object
_MAX_PLANNERS = 8  # settings objects with a planner


@dataclass(slots=True, frozen=True)
class TenantRoutingPolicy:
    """The routing policy in force for one tenant path (see the module docstring)."""

    providers: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    strategy: str | None = None
    fallbacks: tuple[str, ...] | None = None
    allow_overrides: bool = False
    degraded_response: str | None = None

    def allows(self, deployment: Deployment) -> bool:
        """True when a call of this tenant may go to ``deployment``."""
        if self.providers is not None and deployment.provider not in self.providers:
            return False
        return self.regions is None or deployment.region in self.regions

    def describe(self) -> str:
        """The restriction in words, for error messages."""
        parts = []
        if self.providers is not None:
            parts.append(f"providers restricted to {', '.join(sorted(self.providers)) or '(none)'}")
        if self.regions is not None:
            parts.append(f"regions restricted to {', '.join(sorted(self.regions)) or '(none)'}")
        return "; ".join(parts) or "no restriction"


@dataclass(slots=True, frozen=True)
class RoutePlan:
    """What one call may use; see the module docstring for how each field is derived."""

    model: ModelConfig
    strategy: str
    deployments: tuple[Deployment, ...]
    fallbacks: tuple[ModelConfig, ...] = ()
    context_fallback: ModelConfig | None = None
    degraded_response: str | None = None
    overrides_applied: tuple[str, ...] = ()


def tenant_policy(settings: Settings, tenant_path: str) -> TenantRoutingPolicy:
    """Fold the routing tables down the chain of ``tenant_path`` (uncached)."""
    chain = [
        t.routing
        for node in tenant_chain(tenant_path)
        if (t := settings.tenants.get(node)) is not None and t.routing is not None
    ]
    providers: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    for routing in chain:
        if routing.providers is not None:
            mine = frozenset(routing.providers)
            providers = mine if providers is None else providers & mine
        if routing.regions is not None:
            mine = frozenset(routing.regions)
            regions = mine if regions is None else regions & mine
    nearest = chain[::-1]  # deepest first: the first value found wins
    allow = next((r.allow_overrides for r in nearest if r.allow_overrides is not None), False)
    return TenantRoutingPolicy(
        providers=providers,
        regions=regions,
        strategy=next((r.strategy for r in nearest if r.strategy is not None), None),
        fallbacks=next((r.fallbacks for r in nearest if r.fallbacks is not None), None),
        allow_overrides=allow,
        degraded_response=next(
            (r.degraded_response for r in nearest if r.degraded_response is not None), None
        ),
    )


def _narrow(model: ModelConfig, keep: tuple[Deployment, ...]) -> ModelConfig:
    return model if keep == model.deployments else replace(model, deployments=keep)


def _fallback_names(
    settings: Settings, model: ModelConfig, policy: TenantRoutingPolicy
) -> list[str]:
    if policy.fallbacks is not None:
        return [n for n in policy.fallbacks if n != model.name]
    names: list[str] = []
    queue = list(model.fallbacks)
    while queue:  # breadth first over the fallback graph, no repeats
        name = queue.pop(0)
        target = resolve_model(settings, name)
        if target is None or target.name == model.name or target.name in names:
            continue
        names.append(target.name)
        queue.extend(target.fallbacks)
    return names


def _allowed_model(
    settings: Settings,
    name: str,
    policy: TenantRoutingPolicy,
    allowed_models: frozenset[str] | None,
) -> ModelConfig | None:
    target = resolve_model(settings, name)
    if target is None or (allowed_models is not None and target.name not in allowed_models):
        return None
    keep = tuple(d for d in target.deployments if policy.allows(d))
    return _narrow(target, keep) if keep else None


def base_plan(
    settings: Settings,
    tenant_path: str,
    model: ModelConfig,
    policy: TenantRoutingPolicy,
    allowed_models: frozenset[str] | None,
) -> RoutePlan:
    """The plan before header overrides (what ``RoutePlanner`` memoizes)."""
    keep = tuple(d for d in model.deployments if policy.allows(d))
    if not keep:
        raise PermissionDenied(
            f"no deployment of model {model.name!r} is allowed for tenant {tenant_path!r} "
            f"({policy.describe()})"
        )
    fallbacks = tuple(
        m
        for name in _fallback_names(settings, model, policy)
        if (m := _allowed_model(settings, name, policy, allowed_models)) is not None
    )
    context = None
    if model.context_fallback is not None:
        context = _allowed_model(settings, model.context_fallback, policy, allowed_models)
    return RoutePlan(
        model=model,
        strategy=policy.strategy or model.strategy,
        deployments=keep,
        fallbacks=fallbacks,
        context_fallback=context,
        degraded_response=policy.degraded_response,
    )


def _override_values(headers: Mapping[str, str]) -> dict[str, str]:
    """The override headers present, by lower-case name, values stripped."""
    found: dict[str, str] = {}
    for key, value in headers.items():
        name = key.lower()
        if name in OVERRIDE_HEADERS:
            found[name] = value.strip()
    return found


def _only_provider(model: ModelConfig | None, provider: str) -> ModelConfig | None:
    if model is None:
        return None
    keep = tuple(d for d in model.deployments if d.provider == provider)
    return _narrow(model, keep) if keep else None


def apply_overrides(
    plan: RoutePlan, policy: TenantRoutingPolicy, tenant_path: str, headers: Mapping[str, str]
) -> RoutePlan:
    """``plan`` with the override headers applied; unchanged when overrides are not allowed."""
    if not policy.allow_overrides or not headers:
        return plan
    found = _override_values(headers)
    if not found:
        return plan
    applied: list[str] = []
    strategy = found.get(HEADER_STRATEGY)
    if strategy is not None:
        strategy = strategy.lower()
        if strategy not in STRATEGIES:
            raise BadRequest(
                f"{HEADER_STRATEGY}: unknown strategy {strategy!r} "
                f"(expected one of: {', '.join(STRATEGIES)})"
            )
        plan = replace(plan, strategy=strategy)
        applied.append(f"{HEADER_STRATEGY}={strategy}")
    fallback = found.get(HEADER_FALLBACK)
    if fallback is not None:
        if fallback.lower() != "none":
            raise BadRequest(f"{HEADER_FALLBACK}: the only accepted value is 'none'")
        plan = replace(plan, fallbacks=(), context_fallback=None)
        applied.append(f"{HEADER_FALLBACK}=none")
    provider = found.get(HEADER_PROVIDER)
    if provider is not None:
        if policy.providers is not None and provider not in policy.providers:
            raise PermissionDenied(
                f"{HEADER_PROVIDER}: provider {provider!r} is not allowed for tenant "
                f"{tenant_path!r} ({policy.describe()})"
            )
        keep = tuple(d for d in plan.deployments if d.provider == provider)
        if not keep:
            raise PermissionDenied(
                f"no deployment of model {plan.model.name!r} is allowed for tenant "
                f"{tenant_path!r} ({HEADER_PROVIDER}: {provider})"
            )
        plan = replace(
            plan,
            deployments=keep,
            fallbacks=tuple(
                m for f in plan.fallbacks if (m := _only_provider(f, provider)) is not None
            ),
            context_fallback=_only_provider(plan.context_fallback, provider),
        )
        applied.append(f"{HEADER_PROVIDER}={provider}")
    return replace(plan, overrides_applied=tuple(applied))


class RoutePlanner:
    """Plans for one ``Settings``, with tenant policies and header-free plans memoized."""

    __slots__ = ("_plans", "_policies", "settings")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._policies: dict[str, TenantRoutingPolicy] = {}
        self._plans: dict[tuple[str, str, frozenset[str] | None], RoutePlan] = {}

    def policy(self, tenant_path: str) -> TenantRoutingPolicy:
        """The (memoized) routing policy of ``tenant_path``."""
        found = self._policies.get(tenant_path)
        if found is None:
            if len(self._policies) >= _MAX_PLANS:
                self._policies.pop(next(iter(self._policies)))
            found = self._policies[tenant_path] = tenant_policy(self.settings, tenant_path)
        return found

    def plan(
        self,
        tenant_path: str,
        model: ModelConfig,
        headers: Mapping[str, str],
        allowed_models: frozenset[str] | None,
    ) -> RoutePlan:
        """See ``llmgw.routing.policy.plan``."""
        policy = self.policy(tenant_path)
        key = (tenant_path, model.name, allowed_models)
        base = self._plans.get(key)
        if base is None or base.model is not model:
            base = base_plan(self.settings, tenant_path, model, policy, allowed_models)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = base
        return apply_overrides(base, policy, tenant_path, headers)


# Settings holds dicts (not hashable): key by identity and keep the object alive next to its
# planner so an id is never reused while cached (as ``llmgw.settings.tenancy.model_index`` does).
_planners: dict[int, RoutePlanner] = {}


def planner_for(settings: Settings) -> RoutePlanner:
    """The (cached) ``RoutePlanner`` of ``settings``."""
    planner = _planners.get(id(settings))
    if planner is not None and planner.settings is settings:
        return planner
    planner = RoutePlanner(settings)
    if len(_planners) >= _MAX_PLANNERS:
        _planners.pop(next(iter(_planners)))
    _planners[id(settings)] = planner
    return planner


def plan(
    settings: Settings,
    tenant_path: str,
    model: ModelConfig,
    headers: Mapping[str, str],
    allowed_models: frozenset[str] | None,
) -> RoutePlan:
    """What a call of ``tenant_path`` for ``model`` may use (see the module docstring).

    Raises ``PermissionDenied`` when no deployment is left for the tenant or an override names
    a provider outside its restriction, ``BadRequest`` for a bad override value.
    """
    return planner_for(settings).plan(tenant_path, model, headers, allowed_models)
