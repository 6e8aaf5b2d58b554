"""Chaos drills: fake upstream trouble on a timeline, drive load through a gateway, score it.

``load_drill`` reads a TOML drill (see ``llmgw.chaos.drill``); ``run_drill`` runs it on a stack
of its own (mocks + gateway subprocesses) or against a running gateway over HTTP;
``build_scorecard`` is the pure scoring; ``llmgw.chaos.report`` renders and serialises it.
"""

from llmgw.chaos.drill import Drill, DrillError, load_drill, parse_drill, parse_fault_spec
from llmgw.chaos.harness import HarnessError
from llmgw.chaos.runner import DrillRun, run_drill
from llmgw.chaos.score import CallResult, Scorecard, build_scorecard

__all__ = [
    "CallResult",
    "Drill",
    "DrillError",
    "DrillRun",
    "HarnessError",
    "Scorecard",
    "build_scorecard",
    "load_drill",
    "parse_drill",
    "parse_fault_spec",
    "run_drill",
]
