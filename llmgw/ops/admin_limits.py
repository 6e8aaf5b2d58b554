"""Admin API for spend and rate control (SQLite work runs in a thread, never on the loop).

    GET    /admin/usage?by=tenant|model|day|provider&since=7d&until=&tenant=
    GET    /admin/budgets[?tenant=]              effective limits and budgets per tenant node
    POST   /admin/budgets/{tenant}               {"period", "limit_usd", "hard"?, "model"?,
                                                  "window_s"?} or {"rpm"?, "tpm"?, "concurrency"?}
    DELETE /admin/budgets/{tenant}               drop the node's run-time override

Changes are stored as operator overrides (the same ones ``llmgw budgets`` writes); every
replica picks them up within a second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

from llmgw.audit.query import parse_time
from llmgw.errors import BadRequest
from llmgw.gateway.asgi import Scope
from llmgw.gateway.runtime import Gateway
from llmgw.limits import ledger, overrides
from llmgw.settings.money import parse_usd
from llmgw.settings.schema import TenantLimits
from llmgw.store.db import open_db

USAGE_BY = ("tenant", "model", "day", "provider")
T = TypeVar("T")


def query_args(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return {k: v[-1] for k, v in parse_qs(raw).items()}


async def usage_view(gw: Gateway, scope: Scope) -> dict[str, Any]:
    args = query_args(scope)
    by = args.get("by", "tenant")
    if by not in USAGE_BY:
        raise BadRequest(f"'by' must be one of {', '.join(USAGE_BY)}", param="by")
    try:
        since = parse_time(args["since"]) if "since" in args else None
        until = parse_time(args["until"]) if "until" in args else None
    except ValueError as exc:
        raise BadRequest(str(exc), param="since") from None

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        return ledger.usage(conn, by, since, until, args.get("tenant"))  # type: ignore[arg-type]

    return {"by": by, "rows": await asyncio.to_thread(in_state, gw, read)}


def budgets_view(gw: Gateway, scope: Scope) -> dict[str, Any]:
    wanted = query_args(scope).get("tenant")
    limiter = gw.limiter
    nodes = sorted(set(gw.settings.tenants) | set(limiter.overrides))
    out = []
    for node in nodes:
        if wanted and not (node == wanted or node.startswith(wanted + "/")):
            continue
        declared = gw.settings.tenants.get(node)
        limits = limiter.overrides.get(node) or (declared.limits if declared else None)
        if limits is None:
            continue
        out.append(
            {
                "tenant": node,
                "source": "override" if node in limiter.overrides else "config",
                "rpm": limits.rpm,
                "tpm": limits.tpm,
                "concurrency": limits.concurrency,
                "budgets": [
                    {**dataclasses.asdict(b), "limit_usd": str(b.limit_usd)} for b in limits.budgets
                ],
            }
        )
    return {"tenants": out}


def in_state(gw: Gateway, work: Callable[[sqlite3.Connection], T], apply: bool = False) -> T:
    """Run ``work`` on a connection to the state database (call it in a thread). With
    ``apply``, the changed overrides take effect on this replica at once; the others pick them
    up within a second."""
    conn = open_db(gw.state_path)
    try:
        result = work(conn)
    finally:
        conn.close()
    if apply and gw.limit_sync is not None:
        gw.limit_sync.refresh(force=True)
    return result


async def change_budget(gw: Gateway, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
    declared = gw.settings.tenants.get(tenant)
    base = declared.limits if declared else None

    def write(conn: sqlite3.Connection) -> TenantLimits:
        if "period" in body:
            return overrides.set_budget(
                conn,
                tenant,
                str(body["period"]),
                parse_usd(body["limit_usd"]),  # the one money parser; AmountError -> 400
                hard=bool(body.get("hard", True)),
                model=body.get("model"),
                window_s=body.get("window_s"),
                base=base,
            )
        rates = {k: body[k] for k in ("rpm", "tpm", "concurrency") if k in body}
        if not rates:
            raise ValueError("give a budget (period, limit_usd) or rates (rpm, tpm, concurrency)")
        return overrides.set_rates(conn, tenant, base=base, **rates)

    try:
        limits = await asyncio.to_thread(in_state, gw, write, True)
    except (ValueError, KeyError, ArithmeticError) as exc:
        raise BadRequest(f"bad budget change: {exc}") from None
    return {
        "tenant": tenant,
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "concurrency": limits.concurrency,
        "budgets": len(limits.budgets),
    }


async def clear_budget(gw: Gateway, tenant: str) -> dict[str, Any]:
    cleared = await asyncio.to_thread(
        in_state, gw, lambda conn: overrides.clear(conn, tenant), True
    )
    return {"tenant": tenant, "cleared": cleared}
