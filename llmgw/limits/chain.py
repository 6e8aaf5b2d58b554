"""The limits of a tenant chain (org -> team -> key path), as the limit stores take them.

``node_limits(settings, path, overrides)`` walks ``tenant_chain(path)`` root first and keeps
the nodes that carry any limit. A node's limits come from ``[tenants."x".limits]`` unless the
operator set an override for it in the state DB, which replaces them entirely (an override
with nothing set lifts that node's limits).

Budgets become ``BudgetSpec``: the dollar limit in integer nanodollars, the key from
``llmgw.settings.limits.budget_key`` (``month``, ``day:gpt-4o``, ``window3600``).

Results are memoised on the settings object, the path and the overrides that apply to the
chain, so a changed override is picked up at once and an unchanged one costs a dict lookup.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from llmgw.limits.model import BudgetSpec, NodeLimits
from llmgw.settings.limits import budget_key
from llmgw.settings.money import usd_to_nanos
from llmgw.settings.schema import BudgetConfig, Settings, TenantLimits
from llmgw.settings.tenancy import tenant_chain

_CACHE_MAX = 4096
_NO_OVERRIDES: Mapping[str, TenantLimits] = {}

_Key = tuple[int, str, tuple[tuple[str, TenantLimits], ...]]


@lru_cache(maxsize=1024)
def budget_spec(budget: BudgetConfig) -> BudgetSpec:
    """The store's view of one configured budget."""
    return BudgetSpec(
        key=budget_key(budget),
        period=budget.period,
        limit_nanos=usd_to_nanos(budget.limit_usd),
        hard=budget.hard,
        window_s=budget.window_s,
        model=budget.model,
    )


def to_node_limits(node: str, limits: TenantLimits) -> NodeLimits | None:
    """``NodeLimits`` for one node, or None when it limits nothing."""
    if (
        limits.rpm is None
        and limits.tpm is None
        and limits.concurrency is None
        and not limits.budgets
    ):
        return None
    return NodeLimits(
        node=node,
        rpm=limits.rpm,
        tpm=limits.tpm,
        concurrency=limits.concurrency,
        budgets=tuple(budget_spec(b) for b in limits.budgets),
    )


class _Memo:
    """Results per (settings identity, path, applicable overrides). Holds the settings
    object so its id cannot be reused while the entry lives; cleared when full."""

    def __init__(self) -> None:
        self.entries: dict[_Key, tuple[Settings, tuple[NodeLimits, ...]]] = {}

    def get(self, key: _Key, settings: Settings) -> tuple[NodeLimits, ...] | None:
        hit = self.entries.get(key)
        return hit[1] if hit is not None and hit[0] is settings else None

    def put(self, key: _Key, settings: Settings, value: tuple[NodeLimits, ...]) -> None:
        if len(self.entries) >= _CACHE_MAX:
            self.entries.clear()
        self.entries[key] = (settings, value)


_memo = _Memo()


def node_limits(
    settings: Settings,
    tenant_path: str,
    overrides: Mapping[str, TenantLimits] = _NO_OVERRIDES,
) -> tuple[NodeLimits, ...]:
    """Root-first limits of every node on ``tenant_path``'s chain that has any."""
    nodes = tenant_chain(tenant_path)
    applied = tuple((n, o) for n in nodes if (o := overrides.get(n)) is not None)
    key: _Key = (id(settings), tenant_path, applied)
    cached = _memo.get(key, settings)
    if cached is not None:
        return cached
    chosen = dict(applied)
    result: list[NodeLimits] = []
    for node in nodes:
        limits = chosen.get(node)
        if limits is None:
            tenant = settings.tenants.get(node)
            limits = tenant.limits if tenant is not None else None
        if limits is not None and (converted := to_node_limits(node, limits)) is not None:
            result.append(converted)
    value = tuple(result)
    _memo.put(key, settings, value)
    return value
