"""Summaries of a diff (counts, distributions, deltas) and the ``--fail-on`` rules (pure).

Rule language
    A comma-separated list of ``METRIC OP NUMBER[%]``, e.g.
    ``different>10%,json_broken>0,tool_calls_changed>0,cost_delta>+20%``. ``OP`` is one of
    ``>``, ``>=``, ``<``, ``<=``, ``=``. A rule is *crossed* when the comparison holds.

    Count metrics: ``identical``, ``equivalent``, ``different``, ``error``, ``json_broken``,
    ``json_invalid``, ``tool_calls_changed``, ``finish_changed``, ``refusal``. A bare number
    compares the count of pairs; with ``%`` it compares their share of all pairs (0-100).

    Delta metrics: ``cost_delta``, ``latency_delta``, ``input_tokens_delta``,
    ``output_tokens_delta``. With ``%`` they compare the relative change of the total (mean,
    for latency) from the first side to the second (``+20%``: 20% more); a bare number compares
    the absolute change of the total: USD for cost, ms of the mean for latency, tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from llmgw.replay.diff import CATEGORIES, FINDINGS, PairDiff, Side

COUNT_METRICS: tuple[str, ...] = CATEGORIES + FINDINGS
DELTA_METRICS: dict[str, str] = {
    "cost_delta": "cost_nanos",
    "latency_delta": "latency_ms",
    "input_tokens_delta": "input_tokens",
    "output_tokens_delta": "output_tokens",
}
STAT_FIELDS: tuple[str, ...] = (
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "output_tokens",
    "cost_nanos",
)
_RULE = re.compile(r"([a-z_]+)\s*(>=|<=|>|<|=)\s*([+-]?\d+(?:\.\d+)?)\s*(%?)")
_OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "=": lambda a, b: a == b,
}


@dataclass(slots=True, frozen=True)
class Rule:
    """One ``--fail-on`` rule."""

    metric: str
    op: str
    value: Decimal
    percent: bool

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value}{'%' if self.percent else ''}"


def parse_rules(text: str) -> list[Rule]:
    """Rules from ``text``; ``ValueError`` naming the bad part."""
    rules: list[Rule] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = _RULE.fullmatch(part)
        if match is None:
            raise ValueError(f"bad rule {part!r}: use METRIC OP NUMBER[%], e.g. different>10%")
        metric, op, number, pct = match.groups()
        if metric not in COUNT_METRICS and metric not in DELTA_METRICS:
            known = ", ".join((*COUNT_METRICS, *DELTA_METRICS))
            raise ValueError(f"bad rule {part!r}: unknown metric {metric!r} (known: {known})")
        try:
            value = Decimal(number)
        except InvalidOperation:
            raise ValueError(f"bad rule {part!r}: bad number") from None
        rules.append(Rule(metric, op, value, pct == "%"))
    if not rules:
        raise ValueError("no rule given")
    return rules


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (``q`` in 0-100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-int(q * len(ordered)) // 100))
    return float(ordered[min(rank, len(ordered)) - 1])


def distribution(values: list[float]) -> dict[str, float]:
    """p50 / p90 / p99 / mean / n of ``values``."""
    n = len(values)
    mean = float(sum(Decimal(str(v)) for v in values) / n) if n else 0.0
    return {
        "n": n,
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "mean": round(mean, 3),
    }


def _values(sides: list[Side], name: str) -> list[float]:
    return [float(v) for s in sides if (v := getattr(s, name)) is not None]


def summarise(pairs: list[PairDiff], only_a: int = 0, only_b: int = 0) -> dict[str, Any]:
    """Counts, shares and the a / b / delta distributions of every stat field."""
    total = len(pairs)
    counts = {name: 0 for name in COUNT_METRICS}
    for pair in pairs:
        counts[pair.category] += 1
        for finding in set(pair.findings):
            counts[finding] += 1
    both = [p for p in pairs if p.a is not None and p.b is not None and p.a.ok and p.b.ok]
    stats: dict[str, Any] = {}
    for name in STAT_FIELDS:
        a_side = [p.a for p in both if p.a is not None]
        b_side = [p.b for p in both if p.b is not None]
        deltas = [
            float(getattr(p.b, name)) - float(getattr(p.a, name))
            for p in both
            if getattr(p.a, name) is not None and getattr(p.b, name) is not None
        ]
        stats[name] = {
            "a": distribution(_values(a_side, name)),
            "b": distribution(_values(b_side, name)),
            "delta": distribution(deltas),
        }
    totals = {
        side: {
            name: sum(int(getattr(getattr(p, side), name)) for p in both)
            for name in ("cost_nanos", "input_tokens", "output_tokens")
        }
        for side in ("a", "b")
    }
    return {
        "pairs": total,
        "only_in_a": only_a,
        "only_in_b": only_b,
        "counts": counts,
        "shares": {k: round(100 * v / total, 2) if total else 0.0 for k, v in counts.items()},
        "stats": stats,
        "totals": totals,
    }


def _delta(summary: dict[str, Any], metric: str, percent: bool) -> Decimal | None:
    field = DELTA_METRICS[metric]
    if field == "latency_ms":
        a = Decimal(str(summary["stats"][field]["a"]["mean"]))
        b = Decimal(str(summary["stats"][field]["b"]["mean"]))
    else:
        a = Decimal(summary["totals"]["a"][field])
        b = Decimal(summary["totals"]["b"][field])
    if percent:
        if a == 0:
            return None if b == 0 else Decimal("Infinity")
        return (b - a) * 100 / a
    return (b - a).scaleb(-9) if field == "cost_nanos" else b - a


def metric_value(summary: dict[str, Any], rule: Rule) -> Decimal | None:
    """The value ``rule`` compares (None when it cannot be computed, e.g. 0% of no pairs)."""
    if rule.metric in DELTA_METRICS:
        return _delta(summary, rule.metric, rule.percent)
    count = Decimal(summary["counts"][rule.metric])
    if not rule.percent:
        return count
    total = summary["pairs"]
    return count * 100 / Decimal(total) if total else None


def crossed(summary: dict[str, Any], rules: list[Rule]) -> list[tuple[Rule, Decimal]]:
    """The rules whose comparison holds for ``summary``, with the value that crossed them."""
    out = []
    for rule in rules:
        value = metric_value(summary, rule)
        if value is not None and _OPS[rule.op](value, rule.value):
            out.append((rule, value))
    return out
