"""Diff classification, contract findings, summaries and the --fail-on rule language."""

from __future__ import annotations

from decimal import Decimal

import pytest

from llmgw.replay.diff import Side, compare, json_requested, lexical_similarity, normalise
from llmgw.replay.diff_rules import crossed, parse_rules, percentile, summarise


def side(text: str = "", **kw: object) -> Side:
    values: dict[str, object] = {"ok": True, "text": text, "finish_reason": "stop", **kw}
    return Side(**values)  # type: ignore[arg-type]


def test_identical_equivalent_different() -> None:
    assert compare("1", side("Hello, world."), side("Hello, world.")).category == "identical"
    assert compare("2", side("Hello, world."), side("hello   WORLD")).category == "equivalent"
    near = compare("3", side("the quick brown fox jumps"), side("the quick brown fox jumped"))
    assert near.category == "equivalent" and near.similarity is not None
    assert near.similarity >= 0.85
    assert compare("4", side("yes"), side("absolutely not")).category == "different"


def test_similarity_threshold_and_pluggable_scorer() -> None:
    a, b = side("the quick brown fox jumps"), side("the quick brown fox jumped")
    assert compare("1", a, b, threshold=0.99).category == "different"
    assert compare("1", side("x"), side("y"), similar=lambda _a, _b: 0.9).category == "equivalent"


def test_normalise_and_similarity() -> None:
    assert normalise("  Hi,\n  THERE!! ") == "hi there"
    assert lexical_similarity("abc", "abc") == 1.0
    assert lexical_similarity("abc", "xyz") == 0.0


def test_error_pairs_and_refusal() -> None:
    failed = Side(ok=False, error_class="content_filter", refusal=True)
    pair = compare("1", side("fine"), failed)
    assert pair.category == "error" and pair.findings == ["refusal"]
    filtered = side("", finish_reason="content_filter", refusal=True)
    pair = compare("2", side("fine"), filtered)
    assert "refusal" in pair.findings and "finish_changed" in pair.findings


def test_json_contract() -> None:
    a = side('{"name": "x", "age": 3, "tags": ["a"]}')
    assert compare("1", a, side('{"name": "y", "age": 4, "tags": ["b"], "new": 1}')).findings == []
    lost = compare("2", a, side('{"name": "y", "tags": ["b"]}'))
    assert lost.findings == ["json_broken"] and "$.age: missing" in lost.details
    typed = compare("3", a, side('{"name": "y", "age": "4", "tags": ["b"]}'))
    assert typed.findings == ["json_broken"] and "$.age: number -> string" in typed.details
    assert compare("4", a, side("Sure! here it is")).findings == ["json_broken"]
    # asked for JSON: the other must parse; neither parsing is its own finding
    assert compare("5", side("no"), side("{}"), json_asked=True).findings == []
    assert compare("6", side("no"), side("nope"), json_asked=True).findings == ["json_invalid"]
    assert compare("7", side("plain"), side("other plain")).findings == []


def test_json_requested() -> None:
    assert json_requested('{"response_format": {"type": "json_object"}}')
    assert json_requested('{"response_format": {"type": "json_schema", "json_schema": {}}}')
    assert not json_requested('{"response_format": {"type": "text"}}')
    assert not json_requested(None) and not json_requested("not json")


def test_tool_call_contract() -> None:
    call = (("lookup", '{"city": "Paris", "days": 2}'),)
    a = side("", tool_calls=call, finish_reason="tool_calls")
    same_keys = side("", tool_calls=(("lookup", '{"city": "Rome", "days": 5}'),))
    pair = compare("1", a, same_keys)
    assert "tool_calls_changed" not in pair.findings
    renamed = side("", tool_calls=(("search", '{"city": "Paris", "days": 2}'),))
    assert "tool_calls_changed" in compare("2", a, renamed).findings
    retyped = side("", tool_calls=(("lookup", '{"city": "Paris", "days": "2"}'),))
    pair = compare("3", a, retyped)
    assert "tool_calls_changed" in pair.findings and pair.category == "different"
    added = side("", tool_calls=(("lookup", '{"city": "Paris", "days": 2, "x": 1}'),))
    assert "tool_calls_changed" in compare("4", a, added).findings
    text_instead = compare("5", a, side("I cannot call tools"))
    assert "tool_calls_changed" in text_instead.findings
    assert "finish_changed" in text_instead.findings


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 90) == 90.0
    assert percentile(values, 99) == 99.0
    assert percentile([], 50) == 0.0
    assert percentile([7.0], 99) == 7.0


def _pairs() -> list:  # type: ignore[type-arg]
    a = side("same", latency_ms=100.0, cost_nanos=1000, output_tokens=10)
    return [
        compare("1", a, side("same", latency_ms=150.0, cost_nanos=1500, output_tokens=12)),
        compare("2", a, side("other text entirely", latency_ms=50.0, cost_nanos=1500)),
        compare("3", a, Side(ok=False, error_class="timeout")),
    ]


def test_summary_counts_and_deltas() -> None:
    s = summarise(_pairs(), only_a=2, only_b=0)
    assert s["pairs"] == 3 and s["only_in_a"] == 2
    assert s["counts"]["identical"] == 1 and s["counts"]["different"] == 1
    assert s["counts"]["error"] == 1
    assert s["totals"]["a"]["cost_nanos"] == 2000 and s["totals"]["b"]["cost_nanos"] == 3000
    assert s["stats"]["latency_ms"]["delta"]["mean"] == 0.0
    assert s["stats"]["latency_ms"]["b"]["p99"] == 150.0


def test_rules_parse_and_cross() -> None:
    s = summarise(_pairs())
    rules = parse_rules("different>10%, json_broken>0,cost_delta>+20%,error>=2")
    assert [str(r) for r in rules] == [
        "different>10%",
        "json_broken>0",
        "cost_delta>20%",
        "error>=2",
    ]
    hits = {str(rule): value for rule, value in crossed(s, rules)}
    assert set(hits) == {"different>10%", "cost_delta>20%"}
    assert hits["cost_delta>20%"] == Decimal(50)
    assert crossed(s, parse_rules("cost_delta>=0.000001")) != []  # absolute: +$0.000001
    assert crossed(s, parse_rules("cost_delta>0.000001")) == []
    assert crossed(s, parse_rules("latency_delta<=0")) != []


@pytest.mark.parametrize("bad", ["", "different", "differnt>1", "different>>1", "cost_delta>x%"])
def test_bad_rules(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rules(bad)
