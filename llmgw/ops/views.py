"""The operator views of live operations, built in one place for every data source.

The admin API serves them from a running gateway (``llmgw.ops.admin_views``); ``llmgw tui
--state FILE`` builds them from a state file (``llmgw.ops.state_data``). Either way the builders
below get an ``OpsData``: a small read-only source of plain records, so a view has one shape
and one set of rules whatever is behind it.

    tenants_view(data)                       {"tenants": [tenant row, ...]}
    tenant_detail(data, node)                a tenant row with its keys, models, calls, errors
    deployments_view(data)                   {"deployments": [...]}: breaker, health, latency
    cache_view(data)                         response cache hits and savings
    calls_view(data, limit, tenant, ...)     {"calls": [...]}: recent calls (no bodies)

Times are unix seconds; money is integer nanos (1e-9 USD) with a ``"$"`` string beside it. A
node covers its subtree, as in the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from llmgw.errors import NotFound
from llmgw.limits.model import BudgetSpec
from llmgw.limits.periods import period_end
from llmgw.ops.figures import DeploymentFigures, TenantFigures
from llmgw.settings.money import format_usd
from llmgw.store.keys import KeyRecord

DETAIL_CALLS = 50
HOUR_S = 3600

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BudgetSpend:
    """One of a node's own budgets and what it has spent in the current period."""

    spec: BudgetSpec
    spent_nanos: int


@dataclass(frozen=True, slots=True)
class DeploymentState:
    """One deployment: its breaker, calls in flight, and the figures of its recent calls.
    ``transitions`` are ``{"at", "from", "to", "reason"}`` dicts, oldest first."""

    deployment: str
    state: str
    forced: str | None
    retry_after_s: float
    in_flight: int
    figures: DeploymentFigures
    transitions: tuple[Row, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """Response cache lookups by tenant: hits by kind (``exact`` / ``semantic``), misses, and
    the nanos the hits saved."""

    enabled: bool
    hits: Mapping[tuple[str, str], int] = field(default_factory=dict)
    misses: Mapping[str, int] = field(default_factory=dict)
    savings: Mapping[str, int] = field(default_factory=dict)


class OpsData(Protocol):
    """What the builders read. Anything that may block is a coroutine (a source that reads a
    file does it on a worker thread); calls are body-free summaries (``live_tail.call_summary``
    shape), newest first, and a ``tenant`` filter covers the subtree."""

    def now(self) -> float:
        """Wall-clock unix seconds."""
        ...

    async def tenant_names(self) -> list[str]:
        """The tenant nodes to list."""
        ...

    async def knows_tenant(self, node: str) -> bool:
        """Whether ``node`` has a view (else the detail is a 404)."""
        ...

    async def tenant_figures(self, node: str) -> TenantFigures: ...

    async def budgets(self, node: str) -> list[BudgetSpend]:
        """The node's own budgets (not its ancestors')."""
        ...

    async def keys(self, node: str) -> list[KeyRecord]:
        """Active keys of the node and the nodes below it."""
        ...

    async def models(self, node: str) -> list[str]: ...

    async def recent_calls(
        self,
        limit: int,
        tenant: str | None = None,
        model: str | None = None,
        status: str | None = None,
    ) -> list[Row]:
        """``status`` matches the HTTP status or the outcome; ``model`` requested or served."""
        ...

    async def tenant_errors(self, node: str) -> list[Row]:
        """The node's last failed calls."""
        ...

    async def deployments(self) -> list[DeploymentState]: ...

    async def cache(self) -> CacheCounts: ...


# -- tenants ---------------------------------------------------------------------------------


async def tenants_view(data: OpsData) -> Row:
    """Every tenant node's row."""
    return {"tenants": [await tenant_row(data, node) for node in await data.tenant_names()]}


async def tenant_row(data: OpsData, node: str) -> Row:
    """Live figures of one node with dollar strings, and its own budgets."""
    figures = await data.tenant_figures(node)
    row = figures.as_dict()
    row["spend_today"] = format_usd(figures.spend_today_nanos)
    row["spend_month"] = format_usd(figures.spend_month_nanos)
    row["burn_per_hour"] = format_usd(figures.burn_per_hour_nanos)
    now = data.now()
    row["budgets"] = [
        budget_row(b.spec, b.spent_nanos, figures.burn_per_hour_nanos, now)
        for b in await data.budgets(node)
    ]
    return row


async def tenant_detail(data: OpsData, node: str) -> Row:
    """The node's row plus its keys, models, last calls and last errors; ``NotFound`` for a
    node ``data`` does not know."""
    if not await data.knows_tenant(node):
        raise NotFound(f"no tenant {node!r}", code="not_found")
    row = await tenant_row(data, node)
    row["keys"] = [key_row(k) for k in await data.keys(node)]
    row["models"] = await data.models(node)
    row["calls"] = await data.recent_calls(DETAIL_CALLS, tenant=node)
    row["errors"] = await data.tenant_errors(node)
    return row


def key_row(key: KeyRecord) -> Row:
    return {
        "id": key.id,
        "tenant": key.tenant,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": key.created_at,
    }


def budget_row(spec: BudgetSpec, spent: int, burn_per_hour: int, now: float) -> Row:
    """One budget with its spend, share used and projected exhaustion."""
    pct = None
    if spec.limit_nanos > 0:
        pct = str((Decimal(spent * 100) / spec.limit_nanos).quantize(Decimal("0.1")))
    return {
        "key": spec.key,
        "period": spec.period,
        "model": spec.model,
        "limit_nanos": spec.limit_nanos,
        "limit": format_usd(spec.limit_nanos),
        "spent_nanos": spent,
        "spent": format_usd(spent),
        "hard": spec.hard,
        "used_pct": pct,
        "projected_exhaustion_at": exhaustion_at(spec, spent, burn_per_hour, now),
    }


def exhaustion_at(spec: BudgetSpec, spent: int, burn_per_hour: int, now: float) -> float | None:
    """When spend reaches the limit at ``burn_per_hour``; None if not within this period."""
    left = spec.limit_nanos - spent
    if left <= 0:
        return now
    if burn_per_hour <= 0:
        return None
    at = now + left * HOUR_S / burn_per_hour
    return round(at, 3) if at < period_end(spec.period, now, spec.window_s) else None


# -- deployments, cache, calls ---------------------------------------------------------------


async def deployments_view(data: OpsData) -> Row:
    return {"deployments": [deployment_row(d) for d in await data.deployments()]}


def deployment_row(d: DeploymentState) -> Row:
    return {
        "deployment": d.deployment,
        "state": d.state,
        "forced": d.forced,
        "retry_after_s": round(d.retry_after_s, 3),
        "in_flight": d.in_flight,
        **d.figures.as_dict(),
        "transitions": list(d.transitions),
    }


async def cache_view(data: OpsData) -> Row:
    """Hit rate, hits, misses and savings in total and by tenant."""
    cache = await data.cache()
    tenants = sorted({t for t, _ in cache.hits} | set(cache.misses) | set(cache.savings))
    rows = []
    for tenant in tenants:
        exact = cache.hits.get((tenant, "exact"), 0)
        semantic = cache.hits.get((tenant, "semantic"), 0)
        misses = cache.misses.get(tenant, 0)
        saved = cache.savings.get(tenant, 0)
        rows.append(cache_row(exact, semantic, misses, saved) | {"tenant": tenant})
    total = cache_row(
        sum(r["exact_hits"] for r in rows),
        sum(r["semantic_hits"] for r in rows),
        sum(r["misses"] for r in rows),
        sum(r["savings_nanos"] for r in rows),
    )
    return {"enabled": cache.enabled, **total, "by_tenant": rows}


def cache_row(exact: int, semantic: int, misses: int, saved: int) -> Row:
    lookups = exact + semantic + misses
    return {
        "hit_rate": round((exact + semantic) / lookups, 4) if lookups else None,
        "exact_hits": exact,
        "semantic_hits": semantic,
        "misses": misses,
        "savings_nanos": saved,
        "savings": format_usd(saved),
    }


async def calls_view(
    data: OpsData,
    limit: int,
    tenant: str | None = None,
    model: str | None = None,
    status: str | None = None,
) -> Row:
    return {"calls": await data.recent_calls(limit, tenant, model, status)}
