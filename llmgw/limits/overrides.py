"""Run-time limit overrides: budgets and rates operators set without editing the config.

An override replaces a node's configured ``TenantLimits`` as a whole. It is stored in the
state file's ``tenant_limits`` table as JSON of the ``TenantLimits`` fields, money as exact
decimal strings::

    {"rpm": 600, "tpm": null, "concurrency": 8,
     "budgets": [{"period": "day", "limit_usd": "25.00", "hard": true,
                  "window_s": null, "model": null}]}

``set_budget`` and ``set_rates`` change one part and keep the rest: the node's existing
override, else the ``base`` given (its config limits), else no limits. Every change bumps a
counter kept by triggers in the same transaction, so ``version`` is a one-row read that a
running gateway can poll cheaply and reload on change.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any, Final, cast

import orjson

from llmgw.limits.chain import budget_spec as budget_spec  # the one conversion, re-exported
from llmgw.settings.limits import budget_key
from llmgw.settings.money import parse_usd
from llmgw.settings.schema import BUDGET_PERIODS, BudgetConfig, BudgetPeriod, TenantLimits
from llmgw.store.db import transaction
from llmgw.store.keys import validate_tenant


class Keep:
    """The type of ``KEEP``: leave a rate as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = Keep()
RATE_FIELDS: tuple[str, ...] = ("rpm", "tpm", "concurrency")


# -- JSON -------------------------------------------------------------------------------------


def limits_to_json(limits: TenantLimits) -> str:
    """The stored JSON of ``limits`` (decimals as strings, so they round-trip exactly)."""
    data = {
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "concurrency": limits.concurrency,
        "budgets": [
            {
                "period": b.period,
                "limit_usd": str(b.limit_usd),
                "hard": b.hard,
                "window_s": b.window_s,
                "model": b.model,
            }
            for b in limits.budgets
        ],
    }
    return orjson.dumps(data).decode()


def limits_from_json(text: str) -> TenantLimits:
    """Parse stored JSON back; a malformed value raises ``ValueError``."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"bad limits JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("bad limits JSON: not an object")
    rates = {name: _rate(name, data.get(name)) for name in RATE_FIELDS}
    budgets = tuple(_budget_from(item) for item in data.get("budgets") or ())
    return TenantLimits(**rates, budgets=budgets)


def _budget_from(item: Any) -> BudgetConfig:
    if not isinstance(item, dict):
        raise ValueError("bad limits JSON: a budget is not an object")
    return make_budget(
        str(item.get("period")),
        item.get("limit_usd"),
        hard=bool(item.get("hard", True)),
        model=item.get("model"),
        window_s=item.get("window_s"),
    )


# -- validation -------------------------------------------------------------------------------


def _rate(name: str, value: object) -> int | None:
    """A rate limit: a positive integer or None (unlimited)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def make_budget(
    period: str,
    limit_usd: object,
    *,
    hard: bool = True,
    model: str | None = None,
    window_s: int | None = None,
) -> BudgetConfig:
    """A validated ``BudgetConfig`` (``ValueError`` with a message fit for a user).

    ``limit_usd`` is read by the one money parser, ``llmgw.settings.money.parse_usd``: an
    int, Decimal, float or decimal string (``"25.00"``, ``"$25"``), non-negative, at most 9
    decimal places; its ``AmountError`` is a ``ValueError``."""
    if period not in BUDGET_PERIODS:
        raise ValueError(f"unknown budget period {period!r} (expected one of: day, month, window)")
    if period == "window":
        if isinstance(window_s, bool) or not isinstance(window_s, int) or window_s < 1:
            raise ValueError("a window budget needs window_s, a positive number of seconds")
    elif window_s is not None:
        raise ValueError("only a window budget has window_s")
    if model is not None and (not isinstance(model, str) or not model):
        raise ValueError(f"bad model {model!r}")
    return BudgetConfig(
        period=cast(BudgetPeriod, period),
        limit_usd=parse_usd(limit_usd),
        hard=hard,
        window_s=window_s,
        model=model,
    )


# -- reading ----------------------------------------------------------------------------------


def _has_table(conn: sqlite3.Connection) -> bool:
    """False for a state file from before overrides existed (opened read-only, unmigrated)."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tenant_limits_version'"
    ).fetchone()
    return row is not None


def version(conn: sqlite3.Connection) -> int:
    """A counter that grows with every change to the overrides (0 when there are none)."""
    if not _has_table(conn):
        return 0
    row = conn.execute("SELECT version FROM tenant_limits_version WHERE id = 1").fetchone()
    return int(row[0]) if row is not None else 0


def load_overrides(conn: sqlite3.Connection) -> dict[str, TenantLimits]:
    """Every node's override, by tenant path. A row that no longer parses is skipped: a
    hand-edited state file must not stop the gateway from loading the rest."""
    if not _has_table(conn):
        return {}
    out: dict[str, TenantLimits] = {}
    for tenant, text in conn.execute("SELECT tenant, limits FROM tenant_limits ORDER BY tenant"):
        try:
            out[str(tenant)] = limits_from_json(str(text))
        except (ValueError, TypeError):
            continue
    return out


def get_override(conn: sqlite3.Connection, tenant: str) -> TenantLimits | None:
    """The override on exactly ``tenant``, or None."""
    if not _has_table(conn):
        return None
    row = conn.execute("SELECT limits FROM tenant_limits WHERE tenant = ?", (tenant,)).fetchone()
    return None if row is None else limits_from_json(str(row[0]))


# -- writing ----------------------------------------------------------------------------------


def _write(conn: sqlite3.Connection, tenant: str, limits: TenantLimits, now: float | None) -> None:
    conn.execute(
        "INSERT INTO tenant_limits (tenant, limits, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (tenant) DO UPDATE SET limits = excluded.limits, "
        "updated_at = excluded.updated_at",
        (tenant, limits_to_json(limits), time.time() if now is None else now),
    )


def _start(conn: sqlite3.Connection, tenant: str, base: TenantLimits | None) -> TenantLimits:
    current = get_override(conn, tenant)
    if current is not None:
        return current
    return base if base is not None else TenantLimits()


def set_budget(
    conn: sqlite3.Connection,
    tenant: str,
    period: str,
    limit_usd: Decimal | str | int | float,
    hard: bool = True,
    model: str | None = None,
    window_s: int | None = None,
    *,
    base: TenantLimits | None = None,
    now: float | None = None,
) -> TenantLimits:
    """Set one budget on ``tenant``, replacing the one with the same period (window length)
    and model and keeping the node's other budgets and its rates. Returns the new limits."""
    validate_tenant(tenant)
    budget = make_budget(period, limit_usd, hard=hard, model=model, window_s=window_s)
    key = budget_key(budget)
    with transaction(conn):
        current = _start(conn, tenant, base)
        kept = tuple(b for b in current.budgets if budget_key(b) != key)
        limits = replace(current, budgets=(*kept, budget))
        _write(conn, tenant, limits, now)
    return limits


def remove_budget(
    conn: sqlite3.Connection,
    tenant: str,
    key: str,
    *,
    base: TenantLimits | None = None,
    now: float | None = None,
) -> TenantLimits:
    """Drop the budget named ``key`` (``day``, ``window3600:gpt-4o``) from ``tenant``'s
    limits; ``KeyError`` when it has none by that name."""
    validate_tenant(tenant)
    with transaction(conn):
        current = _start(conn, tenant, base)
        kept = tuple(b for b in current.budgets if budget_key(b) != key)
        if len(kept) == len(current.budgets):
            raise KeyError(key)
        limits = replace(current, budgets=kept)
        _write(conn, tenant, limits, now)
    return limits


def set_rates(
    conn: sqlite3.Connection,
    tenant: str,
    rpm: int | Keep | None = KEEP,
    tpm: int | Keep | None = KEEP,
    concurrency: int | Keep | None = KEEP,
    *,
    base: TenantLimits | None = None,
    now: float | None = None,
) -> TenantLimits:
    """Set ``tenant``'s rate limits: an integer sets one, None removes it (unlimited),
    ``KEEP`` (the default) leaves it as it is. Budgets are kept. Returns the new limits."""
    validate_tenant(tenant)
    new_rpm, new_tpm, new_concurrency = (
        v if isinstance(v, Keep) else _rate(name, v)
        for name, v in (("rpm", rpm), ("tpm", tpm), ("concurrency", concurrency))
    )
    with transaction(conn):
        current = _start(conn, tenant, base)
        limits = replace(
            current,
            rpm=_kept(new_rpm, current.rpm),
            tpm=_kept(new_tpm, current.tpm),
            concurrency=_kept(new_concurrency, current.concurrency),
        )
        _write(conn, tenant, limits, now)
    return limits


def _kept(new: int | Keep | None, old: int | None) -> int | None:
    """``new``, or ``old`` when ``new`` is ``KEEP``."""
    return old if isinstance(new, Keep) else new


def clear(conn: sqlite3.Connection, tenant: str) -> bool:
    """Remove ``tenant``'s override (its config limits apply again); False if it had none."""
    if not _has_table(conn):
        return False
    cur = conn.execute("DELETE FROM tenant_limits WHERE tenant = ?", (tenant,))
    return cur.rowcount > 0


def effective_limits(
    config: dict[str, TenantLimits | None], overrides: dict[str, TenantLimits], tenant: str
) -> TenantLimits | None:
    """The limits in force on ``tenant``: its override, else its config limits."""
    return overrides.get(tenant, config.get(tenant))
