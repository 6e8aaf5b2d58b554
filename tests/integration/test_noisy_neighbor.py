"""The noisy-neighbour drill: its format (per-tenant load and SLOs), scoring, and a real run.

The real run needs the gateway to enforce tenant limits and deployment capacity (tenant
``weight``/``limits`` and deployment ``max_concurrency`` in its config).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmgw.chaos.drill import DrillError, load_drill, parse_drill
from llmgw.chaos.harness import HarnessError, gateway_config
from llmgw.chaos.runner import tenant_keys
from llmgw.chaos.score import CallResult, build_scorecard
from llmgw.cli.chaos import app

DRILL = Path(__file__).resolve().parents[2] / "examples" / "drills" / "noisy-neighbor.toml"
SCALE = "0.6"  # 20 s -> 12 s


def test_drill_parses_per_tenant_load_limits_and_slos() -> None:
    drill = load_drill(DRILL)
    quiet, noisy = drill.load.tenant_loads
    assert drill.load.tenants == 2 and drill.upstreams[0].max_concurrency == 6
    assert noisy.rate_per_s == 50 * (noisy.rpm or 0) / 60  # 50x its own quota
    assert noisy.from_s == 8 and quiet.weight == 3
    assert [p.name for p in drill.phases] == ["baseline", "flood"]
    assert {s.name for s in drill.slo.tenants} == {"quiet", "noisy"}
    scaled = drill.scaled(0.5)
    assert scaled.load.tenant_loads[1].from_s == 4 and scaled.phases[1].from_s == 4


def test_gateway_config_carries_weights_limits_and_capacity() -> None:
    config = gateway_config(load_drill(DRILL), {"shared": 1})
    (dep,) = config["models"]["chat"]["deployments"]
    assert dep["max_concurrency"] == 6
    assert config["tenants"]["chaos/noisy"] == {
        "weight": 1,
        "limits": {"rpm": 30, "concurrency": 2},
    }
    assert config["tenants"]["chaos/quiet"] == {"weight": 3, "limits": {"rpm": 600}}


def test_plain_drills_write_no_tenant_or_capacity_keys() -> None:
    drill = load_drill(DRILL.parent / "primary-outage.toml")
    config = gateway_config(drill, {u.name: 1 for u in drill.upstreams})
    assert list(config["tenants"]) == ["chaos"]
    assert all(
        "max_concurrency" not in d for m in config["models"].values() for d in m["deployments"]
    )


def test_keys_are_relabelled_by_tenant_name_and_must_match_in_number() -> None:
    drill = load_drill(DRILL)
    keys, specs = tenant_keys(drill, [("chaos/quiet", "k1"), ("chaos/noisy", "k2")])
    assert keys == [("quiet", "k1"), ("noisy", "k2")] and set(specs) == {"quiet", "noisy"}
    with pytest.raises(HarnessError, match="2 tenants"):
        tenant_keys(drill, [("key1", "k1")])


BASE: dict[str, Any] = {
    "name": "n",
    "duration_s": 10,
    "upstreams": [{"name": "a"}],
    "models": [{"name": "chat", "deployments": ["a"]}],
    "load": {"tenants": [{"name": "q", "rate_per_s": 1}]},
}


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"slo": {"tenants": [{"name": "nobody"}]}}, "slo.tenants[0].name"),
        ({"load": {"tenants": [{"name": "q"}]}}, "load.tenants[0]"),  # missing rate_per_s
        ({"load": {"tenants": [{"name": "q", "rate_per_s": 1, "rpn": 3}]}}, "load.tenants[0].rpn"),
        ({"load": {"tenants": []}}, "load.tenants"),
        ({"slo": {"baseline_phase": "nope"}}, "slo.baseline_phase"),
        ({"upstreams": [{"name": "a", "max_concurrency": 0}]}, "upstreams[0].max_concurrency"),
    ],
)
def test_bad_tenant_tables_name_the_key(patch: dict[str, Any], where: str) -> None:
    with pytest.raises(DrillError) as info:
        parse_drill({**BASE, **patch}, "d.toml")
    assert info.value.key_path == where


def call(tenant: str, phase: str, status: int = 200, ms: float = 100.0, err: str | None = None):
    ok = status == 200 and err is None
    return CallResult(0.0, tenant, False, status, ms, error_class=err, ended_ok=ok, phase=phase)


def test_per_tenant_rows_and_verdicts() -> None:
    data = {
        **BASE,
        "load": {"tenants": [{"name": "q", "rate_per_s": 1}, {"name": "n", "rate_per_s": 9}]},
        "phases": [
            {"name": "base", "from_s": 0, "to_s": 5},
            {"name": "flood", "from_s": 5, "to_s": 10},
        ],
        "slo": {
            "tenants": [
                {"name": "q", "success_rate": 0.99, "p99_ms_ratio_to_baseline": 1.1},
                {"name": "n", "rate_limited_min": 1, "timeouts": 0},
            ]
        },
    }
    drill = parse_drill(data)
    calls = [call("q", "base", ms=100.0) for _ in range(5)]
    calls += [call("q", "flood", ms=105.0) for _ in range(5)]
    calls += [call("n", "flood", 429, 3.0, "rate_limit_exceeded") for _ in range(20)]
    card = build_scorecard(drill.phases, calls, [], [], drill.slo, None, (), tenants=["q", "n"])
    rows = {t.name: t for t in card.tenants}
    assert rows["q"].overall.sent == 10 and rows["n"].rate_limited == 20
    v = {x.name: x for x in card.verdicts}
    assert v["q.success_rate"].passed and v["q.p99_ms_ratio_to_baseline"].actual == 1.05
    assert v["q.p99_ms_ratio_to_baseline"].passed and v["n.rate_limited_min"].passed
    assert v["n.timeouts"].passed
    slow = [*calls[:5], *(call("q", "flood", ms=130.0) for _ in range(5))]
    timed_out = [call("n", "flood", 0, 15000.0, "client_timeout")]
    card = build_scorecard(
        drill.phases, slow + timed_out, [], [], drill.slo, None, (), tenants=["q", "n"]
    )
    v = {x.name: x for x in card.verdicts}
    assert v["q.p99_ms_ratio_to_baseline"].passed is False
    assert v["n.timeouts"].passed is False and v["n.rate_limited_min"].passed is False
    assert card.to_dict()["tenants"][0]["name"] == "q" and not card.passed


@pytest.mark.timeout(90)
def test_noisy_neighbor_drill_holds_its_slos(tmp_path: Path) -> None:
    report = tmp_path / "noisy.json"
    args = ["run", str(DRILL), "--duration-scale", SCALE, "--quiet", "--report", str(report)]
    result = CliRunner().invoke(app, args)
    assert report.exists(), result.output
    data = json.loads(report.read_text())
    card = data["scorecard"]
    tenants = {t["name"]: t for t in card["tenants"]}
    quiet, noisy = tenants["quiet"], tenants["noisy"]
    assert quiet["overall"]["sent"] > 20 and noisy["overall"]["sent"] > 50
    assert noisy["rate_limited"] > noisy["overall"]["sent"] / 2  # most of the flood is refused
    v = {x["name"]: x for x in card["verdicts"]}
    for name in ("quiet.success_rate", "quiet.p99_ms_ratio_to_baseline", "quiet.timeouts"):
        assert v[name]["passed"], v[name]
    assert v["noisy.timeouts"]["passed"] and v["noisy.rate_limited_min"]["passed"]
    assert v["double_charges"]["actual"] == 0
    assert result.exit_code == 0, result.output
