"""Validation of the limit and budget parts of ``llmgw.toml``.

``LimitsReader`` extends ``RoutingReader`` with the readers ``llmgw.settings.parse`` calls for:

- ``[limits]`` (``limits``): backend, Redis URL, fail mode, reservation margin, defaults;
- ``[tenants."x".limits]`` with ``[[tenants."x".limits.budgets]]`` (``tenant_limits``);
- ``[tenants."x"] weight`` (``tenant_weight``);
- a deployment's capacity keys ``max_concurrency``, ``rpm``, ``tpm`` (``capacity``).

Errors name the file and the TOML key path, like every other settings error. Pure: no I/O.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from llmgw.settings.fields import key_join, type_name
from llmgw.settings.routing import RoutingReader
from llmgw.settings.schema import (
    BUDGET_PERIODS,
    BudgetConfig,
    BudgetPeriod,
    LimitsConfig,
    TenantLimits,
)

LIMITS_KEYS = (
    "backend",
    "redis_url",
    "fail_mode",
    "redis_connect_timeout_s",
    "redis_timeout_s",
    "redis_start_wait_s",
    "reserve_margin",
    "default_max_tokens",
    "queue_timeout_s",
    "alert_webhook",
)
TENANT_LIMITS_KEYS = ("rpm", "tpm", "concurrency", "budgets")
BUDGET_KEYS = ("period", "limit_usd", "hard", "window_s", "model")
CAPACITY_KEYS = ("max_concurrency", "rpm", "tpm")
BACKENDS = ("local", "redis")
FAIL_MODES = ("open", "closed")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
WEBHOOK_SCHEMES = ("http://", "https://")


def budget_key(budget: BudgetConfig) -> str:
    """The key naming a budget within its node: ``day``, ``month``, ``window3600``, with
    ``:<model>`` appended for a per-model budget (``day:gpt-4o``)."""
    base = f"window{budget.window_s}" if budget.period == "window" else budget.period
    return f"{base}:{budget.model}" if budget.model else base


class LimitsReader(RoutingReader):
    """Readers for the limit settings; mixed into the settings parser."""

    # -- [limits] ----------------------------------------------------------------------------

    def limits(self, t: dict[str, Any]) -> LimitsConfig:
        path, d = "limits", LimitsConfig()
        self.check_keys(t, LIMITS_KEYS, path)
        redis_url = self.string(t, "redis_url", path, d.redis_url)
        if not redis_url.startswith(REDIS_SCHEMES):
            raise self.error(
                key_join(path, "redis_url"),
                f"{redis_url!r} is not a Redis URL (redis://, rediss:// or unix://)",
            )
        margin = self.decimal(t, "reserve_margin", path)
        if margin is None:
            margin = d.reserve_margin
        elif margin < 1:
            raise self.error(key_join(path, "reserve_margin"), f"{margin} must be at least 1")
        webhook = self.string(t, "alert_webhook", path, None)
        if webhook is not None and not webhook.startswith(WEBHOOK_SCHEMES):
            raise self.error(key_join(path, "alert_webhook"), f"{webhook!r} is not an http(s) URL")
        return LimitsConfig(
            backend=cast(Any, self.choice(t, "backend", path, BACKENDS, "backend") or d.backend),
            redis_url=redis_url,
            fail_mode=cast(
                Any, self.choice(t, "fail_mode", path, FAIL_MODES, "fail mode") or d.fail_mode
            ),
            redis_connect_timeout_s=self.number(
                t, "redis_connect_timeout_s", path, d.redis_connect_timeout_s
            ),
            redis_timeout_s=self.number(t, "redis_timeout_s", path, d.redis_timeout_s),
            redis_start_wait_s=self.number(
                t, "redis_start_wait_s", path, d.redis_start_wait_s, positive=False
            ),
            reserve_margin=margin,
            default_max_tokens=self.integer(t, "default_max_tokens", path, d.default_max_tokens, 1),
            queue_timeout_s=self.number(t, "queue_timeout_s", path, d.queue_timeout_s),
            alert_webhook=webhook,
        )

    # -- [tenants."x"] -----------------------------------------------------------------------

    def tenant_weight(self, t: dict[str, Any], path: str) -> int:
        """The tenant's fair-queue share, at least 1."""
        return self.integer(t, "weight", path, 1, 1)

    def tenant_limits(
        self, t: dict[str, Any], path: str, model_names: dict[str, str]
    ) -> TenantLimits:
        """``[tenants."x".limits]``; ``model_names`` maps names and aliases to public names."""
        self.check_keys(t, TENANT_LIMITS_KEYS, path)
        raw = t.get("budgets", [])
        where = key_join(path, "budgets")
        if not isinstance(raw, list):
            raise self.error(where, f"expected an array of tables, got {type_name(raw)}")
        budgets: list[BudgetConfig] = []
        keys: set[str] = set()
        for i, item in enumerate(raw):
            bpath = f"{where}[{i}]"
            budget = self.budget(self.table(item, bpath), bpath, model_names)
            key = budget_key(budget)
            if key in keys:
                raise self.error(bpath, f"a budget {key!r} is already declared for this tenant")
            keys.add(key)
            budgets.append(budget)
        return TenantLimits(
            rpm=self.optional_int(t, "rpm", path),
            tpm=self.optional_int(t, "tpm", path),
            concurrency=self.optional_int(t, "concurrency", path),
            budgets=tuple(budgets),
        )

    def budget(self, t: dict[str, Any], path: str, model_names: dict[str, str]) -> BudgetConfig:
        """One ``[[tenants."x".limits.budgets]]`` entry."""
        self.check_keys(t, BUDGET_KEYS, path)
        period = self.choice(t, "period", path, BUDGET_PERIODS, "budget period")
        if period is None:
            raise self.error(path, "missing required key 'period'")
        limit = cast(Decimal, self.money(t, "limit_usd", path, True))
        window_s = self.optional_int(t, "window_s", path)
        if period == "window" and window_s is None:
            raise self.error(path, "missing required key 'window_s' (period = \"window\")")
        if period != "window" and window_s is not None:
            raise self.error(
                key_join(path, "window_s"), 'only a period = "window" budget has window_s'
            )
        model = self.string(t, "model", path, None)
        if model is not None:
            if model not in model_names:
                raise self.error(key_join(path, "model"), f"unknown model or alias {model!r}")
            model = model_names[model]
        return BudgetConfig(
            period=cast(BudgetPeriod, period),
            limit_usd=limit,
            hard=self.boolean(t, "hard", path, True),
            window_s=window_s,
            model=model,
        )

    # -- deployments -------------------------------------------------------------------------

    def capacity(self, d: dict[str, Any], path: str) -> dict[str, int | None]:
        """A deployment's ``max_concurrency``, ``rpm`` and ``tpm`` (None when absent)."""
        return {key: self.optional_int(d, key, path) for key in CAPACITY_KEYS}
