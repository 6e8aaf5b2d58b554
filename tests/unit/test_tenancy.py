"""Tenant policy helpers and model lookup."""

from __future__ import annotations

import pytest

from llmgw.settings import (
    allowed_models,
    embedded_default,
    model_index,
    resolve_model,
    retention_for,
    tenant_chain,
    tenant_known,
)
from llmgw.settings.schema import Deployment, ModelConfig, ProviderConfig, Settings, TenantConfig


def _model(name: str, *aliases: str) -> ModelConfig:
    return ModelConfig(name, (Deployment("mock", name),), aliases)


def _settings(*tenants: TenantConfig) -> Settings:
    return Settings(
        providers={"mock": ProviderConfig("mock", "mock")},
        models={
            "small": _model("small", "tiny", "gpt-4o-mini"),
            "large": _model("large", "gpt-4o"),
            "other": _model("other"),
        },
        tenants={t.path: t for t in tenants},
    )


def test_tenant_chain() -> None:
    assert tenant_chain("acme/search/prod") == ["acme", "acme/search", "acme/search/prod"]
    assert tenant_chain("solo") == ["solo"]


def test_allowed_models_none_when_unrestricted() -> None:
    s = _settings(TenantConfig("acme", models=("*",)))
    assert allowed_models(s, "acme") is None
    assert allowed_models(s, "acme/deep/er") is None
    assert allowed_models(s, "undeclared") is None


def test_allowed_models_resolves_aliases() -> None:
    s = _settings(TenantConfig("acme", models=("tiny", "gpt-4o")))
    assert allowed_models(s, "acme") == frozenset({"small", "large"})


def test_child_only_narrows() -> None:
    s = _settings(
        TenantConfig("acme", models=("small", "large")),
        TenantConfig("acme/search", models=("large", "other")),  # "other" is not the parent's
        TenantConfig("acme/search/prod", models=("*",)),  # a star does not widen
    )
    assert allowed_models(s, "acme/search") == frozenset({"large"})
    assert allowed_models(s, "acme/search/prod") == frozenset({"large"})
    assert allowed_models(s, "acme/search/prod/ci") == frozenset({"large"})
    assert allowed_models(s, "acme/web") == frozenset({"small", "large"})


def test_undeclared_middle_inherits() -> None:
    s = _settings(TenantConfig("a", models=("small",)), TenantConfig("a/b/c", models=("large",)))
    assert allowed_models(s, "a/b") == frozenset({"small"})
    assert allowed_models(s, "a/b/c") == frozenset()


def test_retention_nearest_declared() -> None:
    s = _settings(
        TenantConfig("acme", retention="redacted"),
        TenantConfig("acme/search", models=("small",)),  # no retention: inherits
        TenantConfig("acme/search/prod", retention="metadata"),
    )
    assert retention_for(s, "acme") == "redacted"
    assert retention_for(s, "acme/search") == "redacted"
    assert retention_for(s, "acme/search/prod") == "metadata"
    assert retention_for(s, "acme/search/prod/x") == "metadata"
    assert retention_for(s, "elsewhere") == "full"


@pytest.mark.parametrize(
    ("path", "known"),
    [
        ("acme/search", True),  # declared
        ("acme", True),  # implicit parent
        ("acme/search/ci", True),  # below a declared tenant
        ("acme/web", False),  # sibling under an implicit parent only
        ("other", False),
        ("acm", False),  # a prefix that is not a path segment
        ("acme//search", False),
        ("ACME", False),
    ],
)
def test_tenant_known(path: str, known: bool) -> None:
    s = _settings(TenantConfig("acme/search", retention="full"))
    assert tenant_known(s, path) is known


def test_resolve_model_by_name_and_alias() -> None:
    s = _settings()
    assert resolve_model(s, "small") is s.models["small"]
    assert resolve_model(s, "gpt-4o-mini") is s.models["small"]
    assert resolve_model(s, "gpt-4o") is s.models["large"]
    assert resolve_model(s, "nope") is None


def test_model_index_is_cached_per_settings() -> None:
    a, b = _settings(), _settings()
    assert model_index(a) is model_index(a)
    assert model_index(a) is not model_index(b)
    assert resolve_model(b, "tiny") is b.models["small"]


def test_embedded_default_policy() -> None:
    s = embedded_default()
    assert tenant_known(s, "demo")
    assert allowed_models(s, "demo") is None
    assert retention_for(s, "demo") == "full"
    assert resolve_model(s, "claude-sonnet-4-5") is s.models["mock-large"]
