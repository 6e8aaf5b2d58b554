"""Parsing and validating the routing settings of llmgw.toml (file + key path in every error)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from llmgw.settings import ConfigError, load_settings
from llmgw.settings.schema import BreakerConfig, RetryConfig, RoutingConfig, TenantRouting

BASE = """
[providers.mock]
kind = "mock"

[providers.oa]
kind = "openai"

[models.small]
aliases = ["tiny"]
deployments = [{ provider = "mock", model = "mock-small" }]

[models.big]
aliases = ["large"]
deployments = [{ provider = "oa", model = "gpt-4o", region = "eu" }]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(BASE + textwrap.dedent(text), encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.file == path
    assert str(info.value).startswith(f"{path}: {info.value.key_path}: ")
    return info.value


def test_defaults_without_routing_keys(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, ""))
    assert s.routing == RoutingConfig()
    assert s.models["small"].strategy == "priority"
    assert s.models["small"].fallbacks == () and s.models["small"].context_fallback is None
    assert s.models["small"].deployments[0].region is None
    assert s.models["big"].deployments[0].region == "eu"


def test_full_routing_config(tmp_path: Path) -> None:
    s = load_settings(
        write(
            tmp_path,
            """
            [models.mid]
            strategy = "least_busy"
            fallbacks = ["tiny", "big"]
            context_fallback = "large"
            deployments = [{ provider = "oa", model = "gpt-4o-mini", region = "us", weight = 2 }]

            [tenants.acme.routing]
            providers = ["oa"]
            regions = ["eu", "us"]
            strategy = "cost"
            fallbacks = ["large"]
            allow_overrides = true
            degraded_response = "Service degraded."

            [routing]
            stream_resume = false
            [routing.breaker]
            failure_rate = 1
            min_calls = 3
            slow_call_s = 2.5
            open_s = 1
            max_open_s = 1
            [routing.retry]
            max_attempts = 5
            budget_ratio = 0.5
            budget_min_per_s = 0
            [routing.timeouts]
            ttft_s = 10
            total_s = 30.5
            """,
        )
    )
    mid = s.models["mid"]
    assert mid.strategy == "least_busy"
    assert mid.fallbacks == ("small", "big")  # aliases resolve to public names
    assert mid.context_fallback == "big"
    assert mid.deployments[0].region == "us"
    assert s.tenants["acme"].routing == TenantRouting(
        providers=("oa",),
        regions=("eu", "us"),
        strategy="cost",
        fallbacks=("big",),
        allow_overrides=True,
        degraded_response="Service degraded.",
    )
    r = s.routing
    assert r.stream_resume is False
    assert r.breaker == BreakerConfig(
        failure_rate=1.0, min_calls=3, slow_call_s=2.5, open_s=1.0, max_open_s=1.0
    )
    assert r.retry == RetryConfig(max_attempts=5, budget_ratio=0.5, budget_min_per_s=0.0)
    assert r.timeouts.ttft_s == 10.0 and r.timeouts.total_s == 30.5
    assert r.timeouts.connect_s == 5.0


@pytest.mark.parametrize(
    ("text", "key_path", "needle"),
    [
        # models
        ('[models.x]\nstrategy = "fastest"\n', "models.x.strategy", "unknown strategy 'fastest'"),
        ('[models.x]\nfallbacks = "big"\n', "models.x.fallbacks", "expected an array"),
        ('[models.x]\nfallbacks = ["big", "nope"]\n', "models.x.fallbacks[1]", "'nope'"),
        ('[models.x]\nfallbacks = ["big", "large"]\n', "models.x.fallbacks[1]", "listed twice"),
        ('[models.x]\nfallbacks = ["x"]\n', "models.x.fallbacks[0]", "itself"),
        ('[models.x]\ncontext_fallback = "nope"\n', "models.x.context_fallback", "'nope'"),
        ('[models.x]\ncontext_fallback = "x"\n', "models.x.context_fallback", "itself"),
        ("[models.x]\ncontext_fallback = 1\n", "models.x.context_fallback", "expected a string"),
        ("[models.x]\nregion_x = 1\n", "models.x.region_x", "unknown key"),
        # tenants
        ('[tenants.t.routing]\nproviders = ["zz"]\n', "tenants.t.routing.providers[0]", "'zz'"),
        ("[tenants.t.routing]\nproviders = []\n", "tenants.t.routing.providers", "allows nothing"),
        ("[tenants.t.routing]\nregions = []\n", "tenants.t.routing.regions", "allows nothing"),
        ("[tenants.t.routing]\nregions = [1]\n", "tenants.t.routing.regions[0]", "a string"),
        ('[tenants.t.routing]\nstrategy = "x"\n', "tenants.t.routing.strategy", "unknown"),
        ('[tenants.t.routing]\nfallbacks = ["q"]\n', "tenants.t.routing.fallbacks[0]", "'q'"),
        (
            "[tenants.t.routing]\nallow_overrides = 1\n",
            "tenants.t.routing.allow_overrides",
            "boolean",
        ),
        (
            "[tenants.t.routing]\ndegraded_response = 1\n",
            "tenants.t.routing.degraded_response",
            "string",
        ),
        ("[tenants.t.routing]\nprovider = []\n", "tenants.t.routing.provider", "did you mean"),
        ('[tenants."a/b"]\nrouting = 1\n', 'tenants."a/b".routing', "expected a table"),
        # [routing]
        ("[routing]\nstream_resume = 1\n", "routing.stream_resume", "boolean"),
        ("[routing]\nbreakers = {}\n", "routing.breakers", "did you mean 'breaker'"),
        ("[routing]\nbreaker = 1\n", "routing.breaker", "expected a table"),
        ("[routing.breaker]\nfailure_rate = 0\n", "routing.breaker.failure_rate", "greater than 0"),
        ("[routing.breaker]\nfailure_rate = 1.5\n", "routing.breaker.failure_rate", "(0, 1]"),
        ("[routing.breaker]\nmin_calls = 0\n", "routing.breaker.min_calls", "at least 1"),
        ("[routing.breaker]\nmin_calls = 2.0\n", "routing.breaker.min_calls", "an integer"),
        (
            "[routing.breaker]\nconsecutive_failures = 0\n",
            "routing.breaker.consecutive_failures",
            "at least 1",
        ),
        ("[routing.breaker]\nwindow_s = 0\n", "routing.breaker.window_s", "greater than 0"),
        ("[routing.breaker]\nslow_call_s = 0\n", "routing.breaker.slow_call_s", "greater than 0"),
        ("[routing.breaker]\nopen_s = -1\n", "routing.breaker.open_s", "greater than 0"),
        (
            "[routing.breaker]\nopen_s = 10\nmax_open_s = 5\n",
            "routing.breaker.max_open_s",
            "open_s",
        ),
        (
            "[routing.breaker]\nhalf_open_probes = 0\n",
            "routing.breaker.half_open_probes",
            "at least 1",
        ),
        ("[routing.retry]\nmax_attempts = 0\n", "routing.retry.max_attempts", "at least 1"),
        ("[routing.retry]\nmax_attempts = true\n", "routing.retry.max_attempts", "an integer"),
        ("[routing.retry]\nbackoff_base_s = 0\n", "routing.retry.backoff_base_s", "greater than 0"),
        (
            "[routing.retry]\nbackoff_cap_s = 0.01\n",
            "routing.retry.backoff_cap_s",
            "backoff_base_s",
        ),
        ("[routing.retry]\nbudget_ratio = 2\n", "routing.retry.budget_ratio", "(0, 1]"),
        (
            "[routing.retry]\nbudget_min_per_s = -1\n",
            "routing.retry.budget_min_per_s",
            "at least 0",
        ),
        (
            "[routing.retry]\nbudget_window_s = 0\n",
            "routing.retry.budget_window_s",
            "greater than 0",
        ),
        ("[routing.retry]\njitter = 1\n", "routing.retry.jitter", "unknown key"),
        ('[routing.timeouts]\nttft_s = "5"\n', "routing.timeouts.ttft_s", "a number"),
        ("[routing.timeouts]\ntotal_s = 0\n", "routing.timeouts.total_s", "greater than 0"),
        ("[routing.timeouts]\nidle_s = nan\n", "routing.timeouts.idle_s", "finite"),
    ],
)
def test_validation_errors(tmp_path: Path, text: str, key_path: str, needle: str) -> None:
    if text.startswith("[models.x]") and "deployments" not in text:
        text += 'deployments = [{ provider = "oa", model = "m" }]\n'
    err = error(tmp_path, text)
    assert err.key_path == key_path
    assert needle in err.message


def test_duplicate_deployment(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        [models.x]
        deployments = [{ provider = "oa", model = "m" }, { provider = "oa", model = "m" }]
        """,
    )
    assert err.key_path == "models.x.deployments[1]"
    assert "'oa/m' is listed twice" in err.message


def test_fallback_cycle_is_reported(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        [models.a]
        fallbacks = ["b"]
        deployments = [{ provider = "oa", model = "a" }]
        [models.b]
        fallbacks = ["small", "c"]
        deployments = [{ provider = "oa", model = "b" }]
        [models.c]
        fallbacks = ["a"]
        deployments = [{ provider = "oa", model = "c" }]
        """,
    )
    assert err.key_path == "models.c.fallbacks"
    assert err.message == "fallback cycle: a -> b -> c -> a"


def test_cycle_through_an_alias(tmp_path: Path) -> None:
    err = error(
        tmp_path,
        """
        [models.p]
        aliases = ["p-alias"]
        fallbacks = ["q-alias"]
        deployments = [{ provider = "oa", model = "p" }]
        [models.q]
        aliases = ["q-alias"]
        fallbacks = ["p-alias"]
        deployments = [{ provider = "oa", model = "q" }]
        """,
    )
    assert err.message == "fallback cycle: p -> q -> p"
    assert err.key_path == "models.q.fallbacks"


def test_diamond_is_not_a_cycle(tmp_path: Path) -> None:
    s = load_settings(
        write(
            tmp_path,
            """
            [models.a]
            fallbacks = ["b", "c"]
            deployments = [{ provider = "oa", model = "a" }]
            [models.b]
            fallbacks = ["small"]
            deployments = [{ provider = "oa", model = "b" }]
            [models.c]
            fallbacks = ["small"]
            deployments = [{ provider = "oa", model = "c" }]
            """,
        )
    )
    assert s.models["a"].fallbacks == ("b", "c")


def test_starter_routing_examples_parse_to_the_defaults(tmp_path: Path) -> None:
    from llmgw.cli.init import starter_toml

    lines, in_block = [], False
    for line in starter_toml().splitlines():  # uncomment every "# [" block
        in_block = (in_block or line.startswith("# [")) and bool(line)
        lines.append(line[2:] if in_block and line.startswith("# ") else line)
    path = tmp_path / "starter.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = load_settings(path)
    assert s.routing == RoutingConfig()
    routing = s.tenants["acme/regulated"].routing
    assert routing is not None and routing.providers == ("openai",)
    assert s.models["gemini-2.5-flash"].fallbacks == ("gpt-4.1-mini",)
    assert s.models["gemini-2.5-flash"].strategy == "weighted"
