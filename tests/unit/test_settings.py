"""Loading and validating llmgw.toml, the built-in defaults, and ``llmgw init``."""

from __future__ import annotations

import textwrap
import tomllib
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from llmgw.cli.init import init, starter_toml
from llmgw.settings import ConfigError, embedded_default, env_default, load_settings
from llmgw.settings.parse import key_join

KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")

BASE = """
[providers.mock]
kind = "mock"

[providers.oa]
kind = "openai"

[models.small]
aliases = ["tiny"]
deployments = [{ provider = "mock", model = "mock-small" }]

[models.big]
deployments = [{ provider = "oa", model = "gpt-4o", weight = 2 }]
"""


def write(tmp_path: Path, text: str, name: str = "cfg.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    err = info.value
    assert err.file == path
    assert str(err).startswith(f"{path}: ")
    return err


# -- a valid file ---------------------------------------------------------------------------


def test_valid_file_loads_with_defaults(tmp_path: Path) -> None:
    text = BASE + textwrap.dedent(
        """
        [server]
        port = 9000

        [tenants."acme/search"]
        models = ["tiny"]
        retention = "metadata"

        [[pricing]]
        model = "gpt-4o"
        input_per_mtok = "2.50"
        output_per_mtok = 10
        cached_input_per_mtok = 1.25
        effective = "2025-01-01"
        """
    )
    settings = load_settings(write(tmp_path, text))
    assert settings.server.port == 9000
    assert settings.server.host == "127.0.0.1"
    assert settings.providers["oa"].base_url == "https://api.openai.com/v1"
    assert settings.providers["oa"].api_key_env == "OPENAI_API_KEY"
    assert settings.providers["mock"].base_url is None
    assert settings.providers["mock"].api_key_env is None
    assert settings.models["big"].deployments[0].weight == 2
    assert settings.models["small"].aliases == ("tiny",)
    assert settings.tenants["acme/search"].retention == "metadata"
    price = settings.pricing[0]
    assert price.input_per_mtok == Decimal("2.50")
    assert price.output_per_mtok == Decimal("10")
    assert price.cached_input_per_mtok == Decimal("1.25")
    assert price.effective == "2025-01-01"
    assert not settings.embedded
    assert settings.source is not None


def test_default_base_urls_by_kind(tmp_path: Path) -> None:
    text = """
    [providers.a]
    kind = "anthropic"
    [providers.g]
    kind = "gemini"
    """
    settings = load_settings(write(tmp_path, text))
    assert settings.providers["a"].base_url == "https://api.anthropic.com"
    assert settings.providers["a"].api_key_env == "ANTHROPIC_API_KEY"
    assert settings.providers["g"].base_url == "https://generativelanguage.googleapis.com"
    assert settings.providers["g"].api_key_env == "GEMINI_API_KEY"


# -- one test per validation error -----------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value) == f"{path}: file not found"


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[server]\nport = 8080\n[models\n")
    assert "invalid TOML" in str(err)
    assert "line 3" in str(err) and "column" in str(err)


def test_unknown_key_suggests(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[server]\nprot = 80\n")
    assert err.key_path == "server.prot"
    assert str(err).endswith("server.prot: unknown key 'prot' (did you mean 'port'?)")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[provider.x]\nkind = 'mock'\n")
    assert err.key_path == "provider"
    assert "did you mean 'providers'?" in err.message


def test_unknown_key_in_deployment(tmp_path: Path) -> None:
    text = BASE.replace('model = "gpt-4o", weight = 2', 'model = "gpt-4o", wieght = 2')
    err = load_error(tmp_path, text)
    assert err.key_path == "models.big.deployments[0].wieght"
    assert "did you mean 'weight'?" in err.message


def test_bool_is_not_an_int(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[server]\nport = true\n")
    assert err.key_path == "server.port"
    assert "expected an integer, got boolean" in str(err)


def test_wrong_type_string_for_float(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + "\n[providers.x]\nkind = 'openai'\nread_timeout_s = '5'\n")
    assert err.key_path == "providers.x.read_timeout_s"
    assert "expected a number, got string" in err.message


def test_wrong_type_table_expected(tmp_path: Path) -> None:
    err = load_error(tmp_path, "server = 5\n")
    assert err.key_path == "server"
    assert "expected a table" in err.message


def test_unknown_provider_kind(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[providers.x]\nkind = 'azure'\n")
    assert err.key_path == "providers.x.kind"
    assert "'azure'" in err.message and "openai" in err.message


def test_missing_provider_kind(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[providers.x]\nbase_url = 'http://h'\n")
    assert err.key_path == "providers.x"
    assert "missing required key 'kind'" in err.message


def test_api_key_in_file_is_refused(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[providers.x]\nkind = 'openai'\napi_key = 'sk-123'\n")
    assert err.key_path == "providers.x.api_key"
    assert "api_key_env" in err.message
    assert "sk-123" not in str(err)


def test_mock_table_on_non_mock_provider(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[providers.x]\nkind = 'openai'\n[providers.x.mock]\nttft_ms = 1\n")
    assert err.key_path == "providers.x.mock"


def test_unknown_mock_knob(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[providers.m]\nkind = 'mock'\n[providers.m.mock]\nttft = 1\n")
    assert err.key_path == "providers.m.mock.ttft"
    assert "did you mean 'ttft_ms'?" in err.message


def test_header_values_must_be_strings(tmp_path: Path) -> None:
    err = load_error(tmp_path, "[providers.x]\nkind = 'openai'\nheaders = { X-A = 1 }\n")
    assert err.key_path == "providers.x.headers.X-A"


def test_deployment_names_unknown_provider(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE.replace('provider = "oa"', 'provider = "openai"'))
    assert err.key_path == "models.big.deployments[0].provider"
    assert "unknown provider 'openai'" in err.message


def test_model_without_deployments(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + "\n[models.empty]\ndeployments = []\n")
    assert err.key_path == "models.empty.deployments"
    assert "at least one deployment" in err.message


def test_model_missing_deployments_key(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + '\n[models."gpt-4.1"]\naliases = ["x"]\n')
    assert err.key_path == 'models."gpt-4.1".deployments'


def test_alias_collides_with_model(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE.replace('aliases = ["tiny"]', 'aliases = ["big"]'))
    assert err.key_path == "models.small.aliases"
    assert "collides with model 'big'" in err.message


def test_alias_collides_with_alias(tmp_path: Path) -> None:
    text = BASE.replace(
        'deployments = [{ provider = "oa"', 'aliases = ["tiny"]\ndeployments = [{ provider = "oa"'
    )
    err = load_error(tmp_path, text)
    assert err.key_path == "models.big.aliases"
    assert "also an alias of model 'small'" in err.message


def test_alias_listed_twice(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE.replace('aliases = ["tiny"]', 'aliases = ["t", "t"]'))
    assert "listed twice" in err.message


@pytest.mark.parametrize("bad", ["Acme", "acme//x", "acme/", "/acme", "ac me", "acme.x"])
def test_bad_tenant_path(tmp_path: Path, bad: str) -> None:
    err = load_error(tmp_path, BASE + f'\n[tenants."{bad}"]\nretention = "full"\n')
    assert err.key_path == key_join("tenants", bad)
    assert err.key_path.startswith("tenants.") and bad in err.key_path
    assert "bad tenant path" in err.message


def test_tenant_names_unknown_model(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + '\n[tenants.acme]\nmodels = ["small", "huge"]\n')
    assert err.key_path == "tenants.acme.models[1]"
    assert "unknown model or alias 'huge'" in err.message


def test_tenant_accepts_alias_and_star(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path, BASE + '\n[tenants.a]\nmodels = ["*"]\n[tenants."a/b"]\nmodels = ["tiny"]\n'
        )
    )
    assert settings.tenants["a/b"].models == ("tiny",)


def test_bad_retention(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + '\n[tenants."acme/search"]\nretention = "none"\n')
    assert err.key_path == 'tenants."acme/search".retention'
    assert "metadata" in err.message


@pytest.mark.parametrize("value", ['"abc"', '"1.2.3"', "true", '""', '"NaN"'])
def test_price_not_decimal(tmp_path: Path, value: str) -> None:
    text = f'[[pricing]]\nmodel = "m"\ninput_per_mtok = {value}\noutput_per_mtok = "1"\n'
    err = load_error(tmp_path, text)
    assert err.key_path == "pricing[0].input_per_mtok"


def test_price_negative(tmp_path: Path) -> None:
    text = '[[pricing]]\nmodel = "m"\ninput_per_mtok = "1"\noutput_per_mtok = -0.5\n'
    err = load_error(tmp_path, text)
    assert err.key_path == "pricing[0].output_per_mtok"
    assert "negative" in err.message


def test_price_float_converted_exactly(tmp_path: Path) -> None:
    text = '[[pricing]]\nmodel = "m"\ninput_per_mtok = 0.1\noutput_per_mtok = 0.3\n'
    price = load_settings(write(tmp_path, text)).pricing[0]
    assert price.input_per_mtok == Decimal("0.1")
    assert price.output_per_mtok == Decimal("0.3")
    assert price.effective == "1970-01-01"


def test_price_missing_amount(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[[pricing]]\nmodel = "m"\ninput_per_mtok = "1"\n')
    assert err.key_path == "pricing[0]"
    assert "output_per_mtok" in err.message


@pytest.mark.parametrize("value", ['"2025-13-01"', '"2025-1-1"', '"yesterday"', "20250101"])
def test_bad_effective_date(tmp_path: Path, value: str) -> None:
    text = (
        f'[[pricing]]\nmodel = "m"\ninput_per_mtok = 1\noutput_per_mtok = 2\neffective = {value}\n'
    )
    err = load_error(tmp_path, text)
    assert err.key_path == "pricing[0].effective"


def test_toml_date_literal_accepted(tmp_path: Path) -> None:
    text = '[[pricing]]\nmodel = "m"\ninput_per_mtok = 1\noutput_per_mtok = 2\n'
    text += "effective = 2025-02-03\n"
    assert load_settings(write(tmp_path, text)).pricing[0].effective == "2025-02-03"


@pytest.mark.parametrize("port", [-1, 65536, 100000])
def test_port_out_of_range(tmp_path: Path, port: int) -> None:
    err = load_error(tmp_path, f"[server]\nport = {port}\n")
    assert err.key_path == "server.port"
    assert "out of range" in err.message


def test_config_error_str_format() -> None:
    err = ConfigError(Path("a.toml"), "server.port", "bad")
    assert str(err) == "a.toml: server.port: bad"
    assert (err.file, err.key_path, err.message) == (Path("a.toml"), "server.port", "bad")


# -- where settings come from -----------------------------------------------------------------


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def test_embedded_default_shape() -> None:
    s = embedded_default()
    assert s.embedded and s.source is None
    assert list(s.providers) == ["mock"] and s.providers["mock"].kind == "mock"
    assert s.models["mock-small"].aliases == ("gpt-4o-mini", "claude-haiku-4-5")
    assert s.models["mock-large"].aliases == ("gpt-4o", "claude-sonnet-4-5")
    for name in ("mock-small", "mock-large"):
        (dep,) = s.models[name].deployments
        assert (dep.provider, dep.model) == ("mock", name)
    assert s.tenants["demo"].models == ("*",) and s.tenants["demo"].retention == "full"


def test_no_file_no_keys_is_embedded(no_keys: None) -> None:
    assert load_settings(None).embedded


def test_local_file_wins_over_env(
    no_keys: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    write(tmp_path, BASE, name="llmgw.toml")
    settings = load_settings(None)
    assert set(settings.models) == {"small", "big"}
    assert settings.source == Path("llmgw.toml")


def test_explicit_path_wins_over_local(no_keys: None, tmp_path: Path) -> None:
    write(tmp_path, "[server]\nport = 1\n", name="llmgw.toml")
    other = write(tmp_path, "[server]\nport = 2\n", name="other.toml")
    assert load_settings(other).server.port == 2


def test_env_default_from_keys(no_keys: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant")
    monkeypatch.setenv("GEMINI_API_KEY", "g")
    settings = load_settings(None)
    assert not settings.embedded and settings.source is None
    assert set(settings.providers) == {"mock", "anthropic", "gemini"}
    assert settings.providers["anthropic"].api_key_env == "ANTHROPIC_API_KEY"
    assert "claude-haiku-4-5" in settings.models and "gemini-2.5-flash" in settings.models
    assert "gpt-4o" not in settings.models
    assert settings.models["claude-haiku-4-5"].deployments[0].provider == "anthropic"
    assert settings.models["mock-small"].aliases == ()  # a real name never lands on the mock
    assert "demo" in settings.tenants


def test_env_default_ignores_empty_key() -> None:
    assert env_default({"OPENAI_API_KEY": ""}) is None
    assert set(env_default({"OPENAI_API_KEY": "x"}).providers) == {"mock", "openai"}  # type: ignore[union-attr]


# -- llmgw init -------------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("init")(init)

    @app.command("other")
    def _other() -> None:  # a second command keeps "init" a subcommand
        """Unused."""

    return app


def _uncomment_examples(text: str) -> str:
    """Uncomment every commented TOML block (from a '# [' header to the next blank line)."""
    out: list[str] = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("# ["):
            in_block = True
        if not line:
            in_block = False
        out.append(line[2:] if in_block and line.startswith("# ") else line)
    return "\n".join(out) + "\n"


def test_starter_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "llmgw.toml"
    path.write_text(starter_toml(), encoding="utf-8")
    settings = load_settings(path)
    assert settings.providers["mock"].kind == "mock"
    assert {"mock-small", "mock-large"} <= set(settings.models)
    assert settings.tenants["acme"].retention == "full"
    assert settings.tenants["acme/search"].retention == "metadata"
    assert settings.tenants["acme/search"].models == ("mock-small",)


def test_starter_commented_examples_are_valid(tmp_path: Path) -> None:
    text = _uncomment_examples(starter_toml())
    assert "\n[providers.openai]" in text and "\n[[pricing]]" in text
    settings = load_settings(write(tmp_path, text))
    assert {"openai", "anthropic", "gemini", "mock"} == set(settings.providers)
    assert settings.pricing[0].input_per_mtok == Decimal("0.40")
    assert tomllib.loads(text)["models"]["gemini-2.5-flash"]["aliases"] == ["flash"]


def test_example_file_matches_init() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "llmgw.toml"
    assert example.read_text(encoding="utf-8") == starter_toml()


def test_init_writes_then_refuses_then_force(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "sub" / "llmgw.toml"
    result = runner.invoke(_cli(), ["init", "--path", str(path)])
    assert result.exit_code == 0, result.output
    assert path.read_text(encoding="utf-8") == starter_toml()
    assert "llmgw serve --config" in result.output
    load_settings(path)

    path.write_text("# mine\n", encoding="utf-8")
    result = runner.invoke(_cli(), ["init", "--path", str(path)])
    assert result.exit_code == 1
    assert path.read_text(encoding="utf-8") == "# mine\n"

    result = runner.invoke(_cli(), ["init", "--path", str(path), "--force"])
    assert result.exit_code == 0
    assert path.read_text(encoding="utf-8") == starter_toml()


def test_deployments_not_an_array(tmp_path: Path) -> None:
    err = load_error(tmp_path, BASE + '\n[models.x]\ndeployments = "mock"\n')
    assert err.key_path == "models.x.deployments"
    assert "expected an array of tables, got string" in err.message


def test_pricing_not_an_array(tmp_path: Path) -> None:
    err = load_error(tmp_path, '[pricing]\nmodel = "m"\n')
    assert err.key_path == "pricing"
    assert "expected an array of tables, got table" in err.message
