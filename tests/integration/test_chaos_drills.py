"""Drills end to end: real mocks and a real gateway started by the harness, scored from reports.

Breaker transitions and ``chaos inject`` against a live gateway depend on the gateway's admin
API (``/admin/breakers``, ``/admin/faults``); the drills themselves only need failover.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmgw.cli.chaos import app
from tests.conftest import free_port

DRILLS = Path(__file__).resolve().parents[2] / "examples" / "drills"
SCALE = "0.3"  # 20 s drills -> 6 s

pytestmark = pytest.mark.timeout(90)


def run_drill(name: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    report = tmp_path / f"{name}.json"
    args = ["run", str(DRILLS / f"{name}.toml"), "--duration-scale", SCALE, "--quiet"]
    result = CliRunner().invoke(app, [*args, "--report", str(report)])
    assert report.exists(), result.output
    return result.exit_code, json.loads(report.read_text())


def verdicts(report: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v for v in report["scorecard"]["verdicts"]}


def test_primary_outage_fails_over_and_back(tmp_path: Path) -> None:
    code, report = run_drill("primary-outage", tmp_path)
    card = report["scorecard"]
    phases = {p["name"]: p for p in card["phases"]}
    assert set(phases["before"]["served"]) == {"primary/chat"}
    during = phases["during"]["served"]
    assert during.get("secondary/chat", 0) > during.get("primary/chat", 0)
    assert "primary/chat" in phases["after"]["served"]
    (fault,) = card["faults"]
    assert fault["primary"] and fault["failover_s"] is not None and fault["recover_s"] is not None
    v = verdicts(report)
    assert v["success_rate"]["passed"], v["success_rate"]
    assert v["truncated_successes"]["actual"] == 0
    assert v["double_charges"]["actual"] == 0
    assert card["audit"]["matched"] == card["overall"]["sent"] > 10
    assert report["mode"] == "owned" and len(report["calls"]) == card["overall"]["sent"]
    assert code == (0 if card["passed"] else 1)


def test_stream_cut_is_never_a_truncated_success(tmp_path: Path) -> None:
    code, report = run_drill("stream-cut", tmp_path)
    card = report["scorecard"]
    during = {p["name"]: p for p in card["phases"]}["during"]
    assert during["sent"] > 0
    cut = [c for c in report["calls"] if c["phase"] == "during" and not c["ok"]]
    assert all(c["error_class"] for c in cut)  # broken streams say so in-band
    v = verdicts(report)
    assert v["truncated_successes"]["actual"] == 0
    assert v["double_charges"]["passed"], card["audit"]
    assert code == 0


def test_429_storm_moves_to_the_secondary(tmp_path: Path) -> None:
    code, report = run_drill("429-storm", tmp_path)
    phases = {p["name"]: p for p in report["scorecard"]["phases"]}
    assert "secondary/chat" in phases["during"]["served"]
    assert verdicts(report)["success_rate"]["passed"]
    assert code == (0 if report["scorecard"]["passed"] else 1)


def test_bad_drill_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nduration_s = 5\n[load]\nstream_share = 3\n')
    result = CliRunner().invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}: load.stream_share: 3 is out of range (must be in [0, 1])" in " ".join(
        result.output.split()
    )


def test_inject_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    dead = f"http://127.0.0.1:{free_port()}"
    args = ["inject", "--gateway", dead, "--admin-key", "k", "--deployment", "p/m"]
    bad = runner.invoke(app, [*args, "--fault", "explode"])
    assert bad.exit_code == 2 and "unknown kind" in bad.output
    down = runner.invoke(app, [*args, "--fault", "outage", "--for", "5s"])
    assert down.exit_code == 1 and "cannot reach the gateway" in down.output
    assert "Traceback" not in down.output + bad.output


@pytest.mark.parametrize("name", ["brownout-30pct", "slow-first-token", "flapping-primary"])
def test_drill_holds_every_slo(tmp_path: Path, name: str) -> None:
    code, report = run_drill(name, tmp_path)
    failed = [v for v in report["scorecard"]["verdicts"] if not v["passed"]]
    assert code == 0 and not failed, failed
    assert report["scorecard"]["audit"]["matched"] == report["scorecard"]["overall"]["sent"]
    if name != "brownout-30pct":  # a 30% brownout need not trip a breaker
        assert report["breakers_available"] and report["scorecard"]["transitions"]
