"""Tenant routing policy: restrictions down the chain, fallbacks, header overrides."""

from __future__ import annotations

import tomllib

import pytest

from llmgw.errors import BadRequest, PermissionDenied
from llmgw.routing.policy import RoutePlan, plan, planner_for, tenant_policy
from llmgw.settings.parse import parse_settings
from llmgw.settings.schema import Settings
from llmgw.settings.tenancy import allowed_models

CONFIG = """
[providers.oa]
kind = "openai"
[providers.an]
kind = "anthropic"
[providers.az]
kind = "openai"

[models.fast]
strategy = "weighted"
fallbacks = ["smart", "cheap"]
context_fallback = "big"
deployments = [
  { provider = "oa", model = "gpt-4o-mini", region = "us" },
  { provider = "az", model = "gpt-4o-mini", region = "eu" },
]

[models.smart]
fallbacks = ["backup"]
deployments = [
  { provider = "an", model = "claude-sonnet", region = "us" },
  { provider = "az", model = "gpt-4o", region = "eu" },
]

[models.cheap]
deployments = [{ provider = "an", model = "claude-haiku", region = "us" }]

[models.backup]
deployments = [{ provider = "oa", model = "gpt-4.1", region = "eu" }]

[models.big]
deployments = [
  { provider = "oa", model = "gpt-4.1-big" },
  { provider = "an", model = "claude-big", region = "eu" },
]

[tenants.open]
models = ["*"]

[tenants.free]
routing = { allow_overrides = true }

[tenants.bank]
routing = { providers = ["az", "oa"], strategy = "cost", degraded_response = "down" }

[tenants."bank/eu"]
routing = { providers = ["az", "an"], regions = ["eu"], allow_overrides = true }

[tenants."bank/eu/strict"]
models = ["fast", "smart", "cheap"]
routing = { fallbacks = ["cheap", "smart"], allow_overrides = false }
"""


@pytest.fixture(scope="module")
def settings() -> Settings:
    return parse_settings(tomllib.loads(CONFIG), "cfg.toml")


def make(
    settings: Settings, tenant: str, model: str = "fast", headers: dict[str, str] | None = None
) -> RoutePlan:
    return plan(
        settings,
        tenant,
        settings.models[model],
        headers or {},
        allowed_models(settings, tenant),
    )


def ids(p: RoutePlan) -> list[str]:
    return [d.id for d in p.deployments]


def test_unrestricted_tenant_gets_everything(settings: Settings) -> None:
    p = make(settings, "open")
    assert ids(p) == ["oa/gpt-4o-mini", "az/gpt-4o-mini"]
    assert p.strategy == "weighted"
    # the model's list, then the fallbacks of those models (breadth first)
    assert [m.name for m in p.fallbacks] == ["smart", "cheap", "backup"]
    assert p.context_fallback is not None and p.context_fallback.name == "big"
    assert p.degraded_response is None and p.overrides_applied == ()


def test_policy_intersection_down_the_chain(settings: Settings) -> None:
    pol = tenant_policy(settings, "bank/eu/strict")
    assert pol.providers == frozenset({"az"})  # {az, oa} & {az, an}
    assert pol.regions == frozenset({"eu"})
    assert pol.strategy == "cost"  # inherited from bank
    assert pol.degraded_response == "down"
    assert pol.allow_overrides is False  # nearest wins over bank/eu's true
    assert pol.fallbacks == ("cheap", "smart")
    assert tenant_policy(settings, "bank/eu").allow_overrides is True
    assert tenant_policy(settings, "nobody").providers is None


def test_restriction_holds_through_fallbacks(settings: Settings) -> None:
    p = make(settings, "bank/eu")
    assert ids(p) == ["az/gpt-4o-mini"]
    assert p.strategy == "cost"
    # smart narrows to its az/eu deployment; cheap (an/us) and backup (oa) are dropped
    assert [m.name for m in p.fallbacks] == ["smart"]
    assert [d.id for d in p.fallbacks[0].deployments] == ["az/gpt-4o"]
    # big: oa has no region, an/eu is eu but bank allows only az and oa -> dropped
    assert p.context_fallback is None
    every = [*p.deployments, *(d for m in p.fallbacks for d in m.deployments)]
    assert all(d.provider == "az" and d.region == "eu" for d in every)


def test_tenant_fallbacks_replace_the_chain_and_obey_allowed_models(settings: Settings) -> None:
    p = make(settings, "bank/eu/strict")
    # tenant list is cheap, smart: cheap has no az/eu deployment -> only smart remains
    assert [m.name for m in p.fallbacks] == ["smart"]
    s = parse_settings(
        tomllib.loads(CONFIG.replace('models = ["fast", "smart", "cheap"]', 'models = ["fast"]'))
    )
    assert make(s, "bank/eu/strict").fallbacks == ()


def test_no_deployment_left_is_403(settings: Settings) -> None:
    with pytest.raises(PermissionDenied) as info:
        make(settings, "bank/eu", model="cheap")
    msg = info.value.message
    assert "no deployment of model 'cheap' is allowed for tenant 'bank/eu'" in msg
    assert "providers restricted to az" in msg and "regions restricted to eu" in msg
    assert info.value.status == 403


def test_overrides_ignored_when_not_allowed(settings: Settings) -> None:
    headers = {"X-LLMGW-Provider": "oa", "x-llmgw-strategy": "latency", "x-llmgw-fallback": "none"}
    p = make(settings, "open", headers=headers)
    assert p == make(settings, "open")
    assert p.overrides_applied == ()
    # not allowed: even a provider outside the restriction is just ignored
    p = make(settings, "bank/eu/strict", headers={"x-llmgw-provider": "oa"})
    assert ids(p) == ["az/gpt-4o-mini"] and p.overrides_applied == ()


def test_overrides_applied_when_allowed(settings: Settings) -> None:
    headers = {"X-LLMGW-Provider": " oa ", "X-Llmgw-Strategy": "Latency"}
    p = make(settings, "free", headers=headers)
    assert ids(p) == ["oa/gpt-4o-mini"]
    assert p.strategy == "latency"
    # fallbacks keep only the overriding provider: smart and cheap have none -> dropped
    assert [m.name for m in p.fallbacks] == ["backup"]
    assert p.context_fallback is not None
    assert [d.id for d in p.context_fallback.deployments] == ["oa/gpt-4.1-big"]
    assert p.overrides_applied == ("x-llmgw-strategy=latency", "x-llmgw-provider=oa")
    # the memoized base plan is not changed by a request's overrides
    assert ids(make(settings, "free")) == ["oa/gpt-4o-mini", "az/gpt-4o-mini"]


def test_fallback_none_override(settings: Settings) -> None:
    p = make(settings, "free", headers={"x-llmgw-fallback": "none"})
    assert p.fallbacks == () and p.context_fallback is None
    assert p.overrides_applied == ("x-llmgw-fallback=none",)


def test_override_outside_restriction_is_403(settings: Settings) -> None:
    with pytest.raises(PermissionDenied) as info:
        make(settings, "bank/eu", headers={"x-llmgw-provider": "oa"})
    assert "provider 'oa' is not allowed for tenant 'bank/eu'" in info.value.message


def test_override_provider_without_deployment_is_403(settings: Settings) -> None:
    with pytest.raises(PermissionDenied) as info:
        make(settings, "free", model="cheap", headers={"x-llmgw-provider": "oa"})
    assert "no deployment of model 'cheap'" in info.value.message


@pytest.mark.parametrize(
    "headers", [{"x-llmgw-strategy": "fastest"}, {"x-llmgw-fallback": "maybe"}]
)
def test_bad_override_values(settings: Settings, headers: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        make(settings, "free", headers=headers)


def test_plans_are_memoized_per_tenant_and_model(settings: Settings) -> None:
    assert make(settings, "bank/eu") is make(settings, "bank/eu")
    assert make(settings, "open") is not make(settings, "open", model="smart")
    planner = planner_for(settings)
    assert planner is planner_for(settings)
    assert planner.policy("bank") is planner.policy("bank")


def test_fallback_to_self_listed_by_tenant_is_skipped(settings: Settings) -> None:
    p = make(settings, "bank/eu/strict", model="smart")
    assert [m.name for m in p.fallbacks] == []  # cheap: no az/eu deployment; smart is itself
