"""Parsing the limit settings of llmgw.toml, and turning them into a tenant chain's limits."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from llmgw.limits.chain import node_limits
from llmgw.limits.model import BudgetSpec, NodeLimits
from llmgw.settings import ConfigError, load_settings
from llmgw.settings.schema import BudgetConfig, LimitsConfig, TenantLimits

BASE = """
[providers.mock]
kind = "mock"

[models.small]
aliases = ["tiny"]
deployments = [{ provider = "mock", model = "mock-small", max_concurrency = 4, rpm = 600 }]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cfg.toml"
    path.write_text(BASE + textwrap.dedent(text), encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.file == path
    return f"{info.value.key_path}: {info.value.message}"


FULL = """
[limits]
backend = "redis"
redis_url = "redis://127.0.0.1:6390/1"
fail_mode = "open"
redis_connect_timeout_s = 0.5
redis_timeout_s = 2
redis_start_wait_s = 0
reserve_margin = "1.25"
default_max_tokens = 1000
queue_timeout_s = 2.5
alert_webhook = "http://127.0.0.1:9000/alerts"

[tenants."acme"]
weight = 3

[tenants."acme".limits]
rpm = 100
tpm = 50000
concurrency = 8

[[tenants."acme".limits.budgets]]
period = "month"
limit_usd = "100.50"

[[tenants."acme".limits.budgets]]
period = "day"
limit_usd = 5
hard = false
model = "tiny"

[[tenants."acme".limits.budgets]]
period = "window"
limit_usd = "0.25"
window_s = 3600

[tenants."acme/search"]
limits = { rpm = 10 }
"""


def test_full_limits(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, FULL))
    assert s.limits == LimitsConfig(
        backend="redis",
        redis_url="redis://127.0.0.1:6390/1",
        fail_mode="open",
        redis_connect_timeout_s=0.5,
        redis_timeout_s=2.0,
        redis_start_wait_s=0.0,
        reserve_margin=Decimal("1.25"),
        default_max_tokens=1000,
        queue_timeout_s=2.5,
        alert_webhook="http://127.0.0.1:9000/alerts",
    )
    acme = s.tenants["acme"]
    assert acme.weight == 3 and s.tenants["acme/search"].weight == 1
    assert acme.limits == TenantLimits(
        rpm=100,
        tpm=50000,
        concurrency=8,
        budgets=(
            BudgetConfig("month", Decimal("100.50")),
            BudgetConfig("day", Decimal(5), hard=False, model="small"),  # alias resolved
            BudgetConfig("window", Decimal("0.25"), window_s=3600),
        ),
    )
    dep = s.models["small"].deployments[0]
    assert (dep.max_concurrency, dep.rpm, dep.tpm) == (4, 600, None)


def test_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, '[tenants."a"]\nmodels = ["*"]\n'))
    assert s.limits == LimitsConfig()
    assert s.tenants["a"].limits is None and s.tenants["a"].weight == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[limits]\nbackend = 'memcached'", "limits.backend: unknown backend 'memcached'"),
        ("[limits]\nfail_mode = 'maybe'", "limits.fail_mode: unknown fail mode"),
        ("[limits]\nreserve_margin = '0.9'", "limits.reserve_margin: 0.9 must be at least 1"),
        (
            "[limits]\nreserve_margin = 'x'",
            "limits.reserve_margin: bad number 'x': expected a plain decimal",
        ),
        ("[limits]\ndefault_max_tokens = 0", "limits.default_max_tokens: 0 is out of range"),
        ("[limits]\nqueue_timeout_s = 0", "limits.queue_timeout_s: must be greater than 0"),
        ("[limits]\nredis_timeout_s = 0", "limits.redis_timeout_s: must be greater than 0"),
        ("[limits]\nredis_connect_timeout_s = '1'", "limits.redis_connect_timeout_s: expected"),
        ("[limits]\nredis_start_wait_s = -1", "limits.redis_start_wait_s: must be at least 0"),
        ("[limits]\nredis_url = 'http://x'", "limits.redis_url: 'http://x' is not a Redis URL"),
        ("[limits]\nalert_webhook = 'ftp://x'", "limits.alert_webhook: 'ftp://x' is not an"),
        ("[limits]\nbackends = 'local'", "limits.backends: unknown key 'backends' (did you"),
        ('[tenants."a"]\nweight = 0', "tenants.a.weight: 0 is out of range (must be at least 1)"),
        ('[tenants."a".limits]\nrpm = 0', "tenants.a.limits.rpm: 0 is out of range"),
        ('[tenants."a".limits]\ntpm = "5"', "tenants.a.limits.tpm: expected an integer"),
        ('[tenants."a".limits]\nconcurency = 1', "tenants.a.limits.concurency: unknown key"),
        ('[tenants."a".limits]\nbudgets = 5', "tenants.a.limits.budgets: expected an array"),
        (
            '[[tenants."a".limits.budgets]]\nlimit_usd = 1',
            "tenants.a.limits.budgets[0]: missing required key 'period'",
        ),
        (
            '[[tenants."a".limits.budgets]]\nperiod = "week"\nlimit_usd = 1',
            "tenants.a.limits.budgets[0].period: unknown budget period 'week'",
        ),
        (
            '[[tenants."a".limits.budgets]]\nperiod = "day"',
            "tenants.a.limits.budgets[0]: missing required key 'limit_usd'",
        ),
        (
            '[[tenants."a".limits.budgets]]\nperiod = "day"\nlimit_usd = "-1"',
            "tenants.a.limits.budgets[0].limit_usd: bad amount '-1': must be non-negative",
        ),
        (
            '[[tenants."a".limits.budgets]]\nperiod = "window"\nlimit_usd = 1',
            "tenants.a.limits.budgets[0]: missing required key 'window_s'",
        ),
        (
            '[[tenants."a".limits.budgets]]\nperiod = "day"\nlimit_usd = 1\nwindow_s = 60',
            'tenants.a.limits.budgets[0].window_s: only a period = "window" budget',
        ),
        (
            '[[tenants."a".limits.budgets]]\nperiod = "day"\nlimit_usd = 1\nmodel = "gpt-9"',
            "tenants.a.limits.budgets[0].model: unknown model or alias 'gpt-9'",
        ),
        (
            '[[tenants."a".limits.budgets]]\nperiod = "day"\nlimit_usd = 1\nhard = 1',
            "tenants.a.limits.budgets[0].hard: expected a boolean",
        ),
        (
            '[[tenants."a".limits.budgets]]\nperiod = "day"\nlimit_usd = 1\n'
            '[[tenants."a".limits.budgets]]\nperiod = "day"\nlimit_usd = 2',
            "tenants.a.limits.budgets[1]: a budget 'day' is already declared",
        ),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert error(tmp_path, text).startswith(expected)


def test_deployment_capacity_errors(tmp_path: Path) -> None:
    path = tmp_path / "cfg.toml"
    path.write_text(
        '[providers.mock]\nkind = "mock"\n[models.m]\n'
        'deployments = [{ provider = "mock", model = "m", tpm = 0 }]\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.key_path == "models.m.deployments[0].tpm"


# ------------------------------------------------------------------------------- chain


def test_node_limits_chain(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, FULL))
    chain = node_limits(s, "acme/search/prod")
    assert [n.node for n in chain] == ["acme", "acme/search"]  # prod has no limits
    acme = chain[0]
    assert (acme.rpm, acme.tpm, acme.concurrency) == (100, 50000, 8)
    assert acme.budgets == (
        BudgetSpec("month", "month", 100_500_000_000),
        BudgetSpec("day:small", "day", 5_000_000_000, hard=False, model="small"),
        BudgetSpec("window3600", "window", 250_000_000, window_s=3600),
    )
    assert chain[1] == NodeLimits("acme/search", rpm=10)
    assert node_limits(s, "acme/search/prod") is chain  # memoised
    assert node_limits(s, "other") == ()


def test_overrides_replace_a_nodes_limits(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, FULL))
    override = TenantLimits(budgets=(BudgetConfig("day", Decimal("0.000000001")),))
    chain = node_limits(s, "acme/search/prod", {"acme": override, "acme/search/prod": override})
    assert [n.node for n in chain] == ["acme", "acme/search", "acme/search/prod"]
    assert chain[0] == NodeLimits("acme", budgets=(BudgetSpec("day", "day", 1),))
    lifted = node_limits(s, "acme/search", {"acme/search": TenantLimits()})
    assert [n.node for n in lifted] == ["acme"]
    assert node_limits(s, "acme/search")[1].rpm == 10  # without overrides: the config again


def test_starter_limits_examples_parse(tmp_path: Path) -> None:
    from llmgw.cli.init import starter_toml

    lines, in_block = [], False
    for line in starter_toml().splitlines():  # uncomment every "# [" block
        in_block = (in_block or line.startswith("# [")) and bool(line)
        lines.append(line[2:] if in_block and line.startswith("# ") else line)
    path = tmp_path / "starter.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    s = load_settings(path)
    assert s.limits == LimitsConfig()
    batch = s.tenants["acme/batch"]
    assert batch.weight == 2 and batch.limits is not None
    assert (batch.limits.rpm, batch.limits.tpm, batch.limits.concurrency) == (60, 100_000, 4)
    keys = node_limits(s, "acme/batch")[-1].budgets
    assert [b.key for b in keys] == ["month", "day", "day:mock-large", "window3600"]
    dep = s.models["gpt-4.1-mini"].deployments[0]
    assert (dep.max_concurrency, dep.rpm, dep.tpm) == (64, 500, 200_000)
    example = Path(__file__).resolve().parents[2] / "examples" / "llmgw.toml"
    assert example.read_text(encoding="utf-8") == starter_toml()


def test_config_amounts_go_through_the_money_parser(tmp_path: Path) -> None:
    """Budgets and prices accept TOML floats (shortest repr), integers and "$" strings."""
    path = write(
        tmp_path,
        """
        [[tenants."a".limits.budgets]]
        period = "day"
        limit_usd = 0.1
        [[tenants."a".limits.budgets]]
        period = "month"
        limit_usd = "$12.50"
        [[pricing]]
        model = "mock-small"
        input_per_mtok = 0.15
        output_per_mtok = 2
        cached_input_per_mtok = "$0.075"
        """,
    )
    settings = load_settings(path)
    limits = settings.tenants["a"].limits
    assert limits is not None
    assert [str(b.limit_usd) for b in limits.budgets] == ["0.1", "12.50"]
    (price,) = settings.pricing
    assert (price.input_per_mtok, price.output_per_mtok) == (Decimal("0.15"), Decimal(2))
    assert price.cached_input_per_mtok == Decimal("0.075")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", "limit_usd: bad amount true: expected a number or a string such as"),
        ("nan", "limit_usd: bad amount nan: not a finite number"),
        ("0.0000000001", "limit_usd: bad amount 1e-10: finer than a nano-dollar"),
        ('"0.0000000001"', "limit_usd: bad amount '0.0000000001': finer than a nano-dollar"),
        ('"1e3"', "limit_usd: bad amount '1e3': expected a plain decimal"),
        ("-0.5", "limit_usd: bad amount -0.5: must be non-negative"),
        ("2e9", "limit_usd: bad amount 2000000000.0: out of range (at most $1,000,000,000)"),
        ("[1]", "limit_usd: bad amount: expected a number or a string such as"),
    ],
)
def test_bad_config_amounts_are_one_line_errors(tmp_path: Path, value: str, expected: str) -> None:
    text = f'[[tenants."a".limits.budgets]]\nperiod = "day"\nlimit_usd = {value}\n'
    message = error(tmp_path, text)
    assert message.startswith("tenants.a.limits.budgets[0].") and expected in message
    assert "\n" not in message


def test_bad_config_price_names_the_key(tmp_path: Path) -> None:
    text = '[[pricing]]\nmodel = "m"\ninput_per_mtok = "0.15"\noutput_per_mtok = false\n'
    assert error(tmp_path, text) == (
        "pricing[0].output_per_mtok: bad amount false: "
        'expected a number or a string such as "$12.50", got a boolean'
    )
