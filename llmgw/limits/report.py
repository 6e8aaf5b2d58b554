"""Operator reports over the state file: budgets in force and the tenant tree, with spend.

Limits are the configured ones (passed in, by tenant path) with the run-time overrides of the
state file applied (``llmgw.limits.overrides``); spend comes from the ledger. These are what
``llmgw budgets list`` and ``llmgw tenants`` print.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from llmgw.limits import overrides
from llmgw.limits.ledger import (
    active_key_counts,
    budget_status,
    ledger_tenants,
    spend_by_period,
    tenant_tree,
)
from llmgw.limits.periods import period_end, period_start
from llmgw.settings.money import usd_text
from llmgw.settings.schema import Settings, TenantLimits
from llmgw.settings.tenancy import in_subtree


def config_limits(settings: Settings) -> dict[str, TenantLimits | None]:
    """Each declared tenant's configured limits."""
    return {path: t.limits for path, t in settings.tenants.items()}


def budget_rows(
    conn: sqlite3.Connection,
    config: dict[str, TenantLimits | None],
    now: float,
    scope: str | None = None,
) -> list[dict[str, Any]]:
    """One row per budget in force on every node (within ``scope``'s subtree, if given):
    ``tenant``, ``source`` (config or override) and ``budget_status``'s fields."""
    found = overrides.load_overrides(conn)
    rows: list[dict[str, Any]] = []
    for node in tenant_tree(config, found):
        if scope and not in_subtree(node, scope):
            continue
        limits = overrides.effective_limits(config, found, node)
        source = "override" if node in found else "config"
        for budget in limits.budgets if limits is not None else ():
            status = budget_status(conn, node, overrides.budget_spec(budget), now)
            rows.append({"tenant": node, "source": source, **status})
    return rows


def tenant_rows(
    conn: sqlite3.Connection, config: dict[str, TenantLimits | None], now: float
) -> list[dict[str, Any]]:
    """One dict per node of the tree, parents first: ``tenant``, ``declared``, ``override``,
    ``rpm``/``tpm``/``concurrency`` (None: unlimited), ``budgets`` (see ``budget_status``),
    ``spend_today_*`` and ``spend_month_*`` (subtree, UTC periods) and ``keys`` (active keys
    on exactly this node)."""
    found = overrides.load_overrides(conn)
    keys = active_key_counts(conn)
    day = (period_start("day", now), period_end("day", now))
    month = (period_start("month", now), period_end("month", now))
    rows: list[dict[str, Any]] = []
    for node in tenant_tree(config, found, keys, ledger_tenants(conn)):
        limits = overrides.effective_limits(config, found, node) or TenantLimits()
        today = spend_by_period(conn, node, *day)[0]
        this_month = spend_by_period(conn, node, *month)[0]
        rows.append(
            {
                "tenant": node,
                "declared": node in config,
                "override": node in found,
                "rpm": limits.rpm,
                "tpm": limits.tpm,
                "concurrency": limits.concurrency,
                "budgets": [
                    budget_status(conn, node, overrides.budget_spec(b), now) for b in limits.budgets
                ],
                "spend_today_nanos": today,
                "spend_today_usd": usd_text(today),
                "spend_month_nanos": this_month,
                "spend_month_usd": usd_text(this_month),
                "keys": keys.get(node, 0),
            }
        )
    return rows
