"""Comparing two sets of answers to the same recorded calls (pure: no I/O).

A *side* is the recorded answer of a call (``original``) or a run's answer to it. Pairs are
matched by original id and each pair is classified:

``identical``
    byte-equal text and equal tool calls;
``equivalent``
    equal after normalising the text (case, whitespace and punctuation dropped), or a text
    similarity of at least ``similarity`` (``difflib`` ratio of the normalised texts by
    default; any ``Similarity`` callable, e.g. an embedding cosine, can replace it), with tool
    calls of the same names and argument keys and types;
``different``
    anything else;
``error``
    either side has no answer (the call failed).

Contract findings, the changes that break integrations even when the text looks fine:

``json_broken``
    JSON was expected (the first answer parsed as a JSON object or array, or the request asked
    for JSON through ``response_format``) and the second does not parse, or lost a key, or a
    value changed type; ``json_invalid`` when JSON was asked for and neither answer parses;
``tool_calls_changed``
    tool names, their order, or argument keys / value types differ;
``finish_changed``
    the finish reasons differ;
``refusal``
    the second side refused (content filter, a refusal message) where the first did not.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmgw.types import ChatResponse

CATEGORIES: tuple[str, ...] = ("identical", "equivalent", "different", "error")
FINDINGS: tuple[str, ...] = (
    "json_broken",
    "json_invalid",
    "tool_calls_changed",
    "finish_changed",
    "refusal",
)
DEFAULT_SIMILARITY = 0.85

Similarity = Callable[[str, str], float]
_SPACE = re.compile(r"\s+")
_JSON_TYPES: dict[type[Any], str] = {str: "string", list: "array", dict: "object"}


@dataclass(slots=True, frozen=True)
class Side:
    """One answer to one call, reduced to what the comparison looks at."""

    ok: bool
    text: str = ""
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, arguments JSON text)
    finish_reason: str | None = None
    refusal: bool = False
    error_class: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0


@dataclass(slots=True)
class PairDiff:
    """How the second answer to one call differs from the first."""

    original_id: str
    category: str
    similarity: float | None
    findings: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    a: Side | None = None
    b: Side | None = None


def side_from_response(resp: ChatResponse | None, **metrics: Any) -> Side:
    """A side from a decoded answer (None: the call failed) and its metrics."""
    if resp is None:
        return Side(ok=False, refusal=metrics.get("error_class") == "content_filter", **metrics)
    calls = tuple(
        (str(c.get("function", {}).get("name", "")), str(c.get("function", {}).get("arguments")))
        for c in resp.tool_calls or ()
    )
    refused = resp.finish_reason == "content_filter" or bool(resp.refusal)
    return Side(
        ok=True,
        text=resp.content or "",
        tool_calls=calls,
        finish_reason=resp.finish_reason,
        refusal=refused,
        **metrics,
    )


def json_requested(request_body: str | None) -> bool:
    """True when the recorded request asked for JSON (``response_format`` json_object/schema)."""
    if not request_body:
        return False
    try:
        body = orjson.loads(request_body)
    except orjson.JSONDecodeError:
        return False
    fmt = body.get("response_format") if isinstance(body, dict) else None
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, whitespace runs as one space."""
    kept = "".join(ch for ch in text.lower() if not unicodedata.category(ch).startswith("P"))
    return _SPACE.sub(" ", kept).strip()


def lexical_similarity(a: str, b: str) -> float:
    """``difflib`` ratio of the two normalised texts (1.0 = same)."""
    return difflib.SequenceMatcher(None, normalise(a), normalise(b), autojunk=False).ratio()


def _parse_json(text: str) -> tuple[bool, Any]:
    try:
        value = orjson.loads(text.strip())
    except (orjson.JSONDecodeError, ValueError):
        return False, None
    return isinstance(value, dict | list), value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return _JSON_TYPES.get(type(value), "other")


def shape_changes(a: Any, b: Any, path: str = "$", exact_keys: bool = False) -> list[str]:
    """Where ``b`` lost a key of ``a`` or changed a value's type (first array items compared).

    With ``exact_keys`` a key ``b`` adds is a change too (tool arguments).
    """
    if _kind(a) != _kind(b):
        return [f"{path}: {_kind(a)} -> {_kind(b)}"]
    out: list[str] = []
    if isinstance(a, dict):
        for key, value in a.items():
            if key not in b:
                out.append(f"{path}.{key}: missing")
            else:
                out += shape_changes(value, b[key], f"{path}.{key}")
        if exact_keys:
            out += [f"{path}.{key}: added" for key in b if key not in a]
    elif isinstance(a, list) and a and b:
        out += shape_changes(a[0], b[0], f"{path}[0]")
    return out


def _tool_changes(a: Side, b: Side) -> list[str]:
    names_a = [name for name, _ in a.tool_calls]
    names_b = [name for name, _ in b.tool_calls]
    if names_a != names_b:
        return [f"tool calls {names_a} -> {names_b}"]
    out: list[str] = []
    for (name, args_a), (_, args_b) in zip(a.tool_calls, b.tool_calls, strict=True):
        ok_a, va = _parse_json(args_a)
        ok_b, vb = _parse_json(args_b)
        if ok_a and not ok_b:
            out.append(f"{name}: arguments are not a JSON object")
        elif ok_a:
            out += [f"{name} {c}" for c in shape_changes(va, vb, "args", exact_keys=True)]
    return out


def _json_findings(a: Side, b: Side, requested: bool) -> tuple[list[str], list[str]]:
    ok_a, va = _parse_json(a.text)
    if not (ok_a or requested) or a.tool_calls or b.tool_calls:
        return [], []
    ok_b, vb = _parse_json(b.text)
    if not ok_b:
        if not ok_a:
            return ["json_invalid"], ["JSON asked for; neither answer parses"]
        return ["json_broken"], ["answer is no longer valid JSON"]
    if ok_a:
        changes = shape_changes(va, vb)
        if changes:
            return ["json_broken"], changes[:5]
    return [], []


def _category(a: Side, b: Side, threshold: float, similar: Similarity) -> tuple[str, float]:
    if a.text == b.text and a.tool_calls == b.tool_calls:
        return "identical", 1.0
    score = 1.0 if normalise(a.text) == normalise(b.text) else similar(a.text, b.text)
    same_tools = [n for n, _ in a.tool_calls] == [n for n, _ in b.tool_calls]
    if same_tools and not _tool_changes(a, b) and score >= threshold:
        return "equivalent", score
    return "different", score


def compare(
    original_id: str,
    a: Side | None,
    b: Side | None,
    *,
    json_asked: bool = False,
    threshold: float = DEFAULT_SIMILARITY,
    similar: Similarity = lexical_similarity,
) -> PairDiff:
    """Classify one pair and list its contract findings (see the module docstring)."""
    if a is None or b is None or not a.ok or not b.ok:
        diff = PairDiff(original_id, "error", None, a=a, b=b)
        if a is not None and b is not None and b.refusal and not a.refusal:
            diff.findings.append("refusal")
            diff.details.append(f"refused ({b.error_class or b.finish_reason})")
        return diff
    category, score = _category(a, b, threshold, similar)
    diff = PairDiff(original_id, category, round(score, 4), a=a, b=b)
    found, details = _json_findings(a, b, json_asked)
    diff.findings += found
    diff.details += details
    tools = _tool_changes(a, b)
    if tools:
        diff.findings.append("tool_calls_changed")
        diff.details += tools[:5]
    if a.finish_reason != b.finish_reason:
        diff.findings.append("finish_changed")
        diff.details.append(f"finish {a.finish_reason} -> {b.finish_reason}")
    if b.refusal and not a.refusal:
        diff.findings.append("refusal")
        diff.details.append("refused")
    return diff
