"""Drill files: parsing, defaults, scaling, and one-line errors naming the key path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from llmgw.chaos.drill import DrillError, load_drill, parse_drill, parse_fault_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "drills"

BASE = """
name = "d"
duration_s = 20
[[upstreams]]
name = "a"
[[upstreams]]
name = "b"
format = "anthropic"
[[models]]
name = "chat"
deployments = ["a", "b"]
[load]
rate_per_s = 5
[[faults]]
at_s = 5
for_s = 8
upstream = "a"
fault = "status:503"
[slo]
success_rate = 0.99
failover_s = 2
"""


def parse(text: str = BASE, **patch: Any) -> Any:
    data = tomllib.loads(text)
    data.update(patch)
    return parse_drill(data, "d.toml")


def test_parses_with_defaults_and_derived_phases() -> None:
    drill = parse()
    assert [u.format for u in drill.upstreams] == ["openai", "anthropic"]
    assert drill.models[0].deployments == ("a", "b")
    assert drill.load_model == "chat"
    assert drill.load.tenants == 1 and drill.load.arrival == "poisson"
    step = drill.faults[0]
    assert (step.fault.kind, step.fault.status, step.end_s) == ("status", 503, 13.0)
    assert [(p.name, p.from_s, p.to_s) for p in drill.phases] == [
        ("before", 0.0, 5.0),
        ("during", 5.0, 13.0),
        ("after", 13.0, 20.0),
    ]
    assert drill.slo.truncated_successes == 0 and drill.slo.double_charges == 0


def test_outage_means_status_503() -> None:
    fault = parse_fault_spec("outage")
    assert (fault.kind, fault.status, fault.model) == ("status", 503, "*")
    assert parse_fault_spec("stall,after_tokens=0,seconds=2").seconds == 2.0


@pytest.mark.parametrize("spec", ["m=status:503", "explode", "status:abc", "cut,bogus=1"])
def test_bad_fault_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_fault_spec(spec)


def test_scaled_shrinks_every_time() -> None:
    text = BASE.replace('"status:503"', '"stall,seconds=4"')
    drill = parse(text, gateway={"routing": {"breaker": {"open_s": 2, "min_calls": 10}}})
    small = drill.scaled(0.25)
    assert small.duration_s == 5.0
    assert (small.faults[0].at_s, small.faults[0].for_s) == (1.25, 2.0)
    assert small.faults[0].fault.seconds == 1.0
    assert small.phases[1].from_s == 1.25
    assert small.slo.failover_s == 0.5
    assert small.routing == {"breaker": {"open_s": 0.5, "min_calls": 10}}
    assert drill.scaled(1.0) is drill


@pytest.mark.parametrize(
    ("patch", "where", "problem"),
    [
        ({"duration": 3}, "duration", "did you mean 'duration_s'"),
        ({"duration_s": -1}, "duration_s", "greater than 0"),
        ({"duration_s": True}, "duration_s", "expected a number, got boolean"),
        ({"load": {"stream_share": 1.5}}, "load.stream_share", "must be in [0, 1]"),
        ({"load": {"arrival": "burst"}}, "load.arrival", "unknown arrival"),
        ({"load": {"model": "nope"}}, "load.model", "unknown model"),
        ({"models": [{"name": "m", "deployments": ["zz"]}]}, "models[0].deployments[0]", "zz"),
        (
            {"faults": [{"at_s": 1, "for_s": 1, "upstream": "a", "fault": "boom"}]},
            "faults[0].fault",
            "unknown kind",
        ),
        (
            {"faults": [{"at_s": 1, "for_s": 1, "upstream": "c", "fault": "outage"}]},
            "faults[0].upstream",
            "unknown upstream",
        ),
        ({"faults": [{"at_s": 1, "upstream": "a", "fault": "outage"}]}, "faults[0]", "'for_s'"),
        ({"phases": [{"name": "x", "from_s": 5, "to_s": 2}]}, "phases[0].to_s", "after from_s"),
        ({"slo": {"success_rate": 2}}, "slo.success_rate", "must be in [0, 1]"),
        ({"upstreams": [{"name": "a"}, {"name": "a"}]}, "upstreams[1].name", "duplicate"),
    ],
)
def test_errors_name_file_and_key_path(patch: dict[str, Any], where: str, problem: str) -> None:
    with pytest.raises(DrillError) as info:
        parse(**patch)
    assert info.value.key_path == where
    text = str(info.value)
    assert text.startswith(f"d.toml: {where}: ") and problem in text


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(DrillError, match="file not found"):
        load_drill(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = ")
    with pytest.raises(DrillError, match="invalid TOML"):
        load_drill(bad)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_examples_are_valid(path: Path) -> None:
    drill = load_drill(path)
    assert drill.name == path.stem
    assert drill.upstreams and drill.models
    assert drill.faults or drill.load.tenant_loads  # trouble injected, or a tenant flooding


def test_required_examples_exist() -> None:
    names = {p.stem for p in EXAMPLES.glob("*.toml")}
    wanted = {"primary-outage", "brownout-30pct", "429-storm", "slow-first-token", "stream-cut"}
    assert wanted | {"flapping-primary"} <= names
