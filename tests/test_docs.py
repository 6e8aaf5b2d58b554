"""What the README shows keeps working."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from llmgw.settings import parse_settings

README = Path(__file__).resolve().parent.parent / "README.md"


def toml_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)


def block_with(marker: str) -> str:
    return next(b for b in toml_blocks() if marker in b)


def test_readme_config_reference_loads() -> None:
    settings = parse_settings(tomllib.loads(block_with("[server]")))
    assert "gpt-4o-mini" in settings.models
    assert settings.tenants["acme/search"].retention == "metadata"


def test_readme_routing_keys_load_with_their_providers_and_models() -> None:
    routing = tomllib.loads(block_with("[routing.breaker]"))
    routing["providers"] = {
        "openai": {"kind": "openai"},
        "azure-eu": {"kind": "openai", "base_url": "http://127.0.0.1:1/v1"},
    }
    for name in ("claude-sonnet-4-5", "gpt-4.1"):
        routing["models"][name] = {"deployments": [{"provider": "openai", "model": name}]}
    settings = parse_settings(routing)
    assert settings.models["gpt-4o"].fallbacks == ("claude-sonnet-4-5",)
    assert settings.routing.breaker.half_open_probes == 2


def test_readme_limits_example_loads() -> None:
    limits = tomllib.loads(block_with("[limits]"))
    limits["providers"] = {"openai": {"kind": "openai"}}
    settings = parse_settings(limits)
    acme = settings.tenants["acme"]
    assert acme.weight == 3 and acme.limits is not None and acme.limits.rpm == 600
    assert [b.period for b in acme.limits.budgets] == ["month", "day"]
    assert settings.models["gpt-4o"].deployments[0].max_concurrency == 64


def test_readme_starts_with_the_two_commands() -> None:
    commands = re.search(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert commands is not None
    lines = [line for line in commands.group(1).splitlines() if line.strip()]
    assert "llmgw serve" in lines[0] and "pytest" in lines[1]


def test_readme_cache_example_loads() -> None:
    cache = tomllib.loads(block_with("[cache]"))
    cache["providers"] = {"openai": {"kind": "openai"}}
    cache["models"] = {"gpt-4o": {"deployments": [{"provider": "openai", "model": "gpt-4o"}]}}
    settings = parse_settings(cache)
    assert settings.cache.max_entries == 500_000
    acme = settings.tenants["acme"]
    assert acme.cache is not None and acme.cache.semantic is True
    assert acme.cache_models["gpt-4o"].ttl_s == 600
