"""Settings used when no ``llmgw.toml`` is given: from provider keys in the environment, or the
built-in mock setup.

``embedded_default()`` needs nothing: one mock provider, two mock models whose aliases are common
real model names (so unchanged client code runs against it), and a ``demo`` tenant allowed
every model.

``env_default(environ)`` is used when at least one of ``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``,
``GEMINI_API_KEY`` is set (non-empty). It declares a provider for each key that is set, named
after its kind, with these public models (public name = provider model name):

- openai: gpt-4o, gpt-4o-mini, gpt-4.1, gpt-4.1-mini
- anthropic: claude-sonnet-4-5, claude-haiku-4-5, claude-opus-4-1
- gemini: gemini-2.5-pro, gemini-2.5-flash, gemini-2.5-flash-lite

plus the ``mock`` provider with ``mock-small`` and ``mock-large`` (without aliases here, so a
real model name never lands on the mock) and a ``demo`` tenant allowed every model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from llmgw.settings.schema import Deployment, ModelConfig, ProviderConfig, Settings, TenantConfig
from llmgw.settings.sections import DEFAULT_BASE_URLS, DEFAULT_KEY_ENVS

MOCK_ALIASES: dict[str, tuple[str, ...]] = {
    "mock-small": ("gpt-4o-mini", "claude-haiku-4-5"),
    "mock-large": ("gpt-4o", "claude-sonnet-4-5"),
}

ENV_MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini"),
    "anthropic": ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"),
    "gemini": ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"),
}

DEMO_TENANT = "demo"


def _mock_models(with_aliases: bool) -> dict[str, ModelConfig]:
    return {
        name: ModelConfig(
            name=name,
            deployments=(Deployment(provider="mock", model=name),),
            aliases=aliases if with_aliases else (),
        )
        for name, aliases in MOCK_ALIASES.items()
    }


def _demo_tenants() -> dict[str, TenantConfig]:
    return {DEMO_TENANT: TenantConfig(DEMO_TENANT, models=("*",), retention="full")}


def embedded_default() -> Settings:
    """The no-config setup: mock provider, mock-small / mock-large, tenant ``demo``."""
    return Settings(
        providers={"mock": ProviderConfig(name="mock", kind="mock")},
        models=_mock_models(with_aliases=True),
        tenants=_demo_tenants(),
        source=None,
        embedded=True,
    )


def env_kinds(environ: Mapping[str, str] | None = None) -> list[str]:
    """Provider kinds whose API key variable is set (non-empty), in a fixed order."""
    env = os.environ if environ is None else environ
    return [kind for kind in ENV_MODELS if env.get(DEFAULT_KEY_ENVS[kind])]


def env_default(environ: Mapping[str, str] | None = None) -> Settings | None:
    """Providers for the API keys present in the environment, or None when there are none."""
    kinds = env_kinds(environ)
    if not kinds:
        return None
    providers = {"mock": ProviderConfig(name="mock", kind="mock")}
    models = _mock_models(with_aliases=False)
    for kind in kinds:
        providers[kind] = ProviderConfig(
            name=kind,
            kind=kind,  # type: ignore[arg-type]  # ENV_MODELS keys are provider kinds
            base_url=DEFAULT_BASE_URLS[kind],
            api_key_env=DEFAULT_KEY_ENVS[kind],
        )
        for model in ENV_MODELS[kind]:
            models[model] = ModelConfig(
                name=model, deployments=(Deployment(provider=kind, model=model),)
            )
    return Settings(providers=providers, models=models, tenants=_demo_tenants())
