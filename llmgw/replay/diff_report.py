"""Building a diff from the state file, and showing it: rich summary, JSON and Markdown.

``load_diff(conn, run_a, run_b)`` pairs two sides by original id (either may be ``original``:
the answers on the audit record) and compares every pair with ``llmgw.replay.diff.compare``;
``to_json`` / ``to_markdown`` / ``print_summary`` render the result.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from llmgw.errors import GatewayError
from llmgw.replay import runs
from llmgw.replay.diff import (
    CATEGORIES,
    DEFAULT_SIMILARITY,
    FINDINGS,
    PairDiff,
    Side,
    compare,
    json_requested,
    side_from_response,
)
from llmgw.replay.diff_rules import STAT_FIELDS, summarise
from llmgw.settings.money import format_cost
from llmgw.wire.registry import INBOUND, is_api

ORIGINAL = "original"
_AUDIT_FIELDS = (
    "id, api, request_body, response_body, outcome, error_class, latency_ms, ttft_ms, "
    "input_tokens, output_tokens, cost_nanos"
)


@dataclass(slots=True)
class DiffResult:
    run_a: str
    run_b: str
    pairs: list[PairDiff]
    summary: dict[str, Any]


def _decode(api: str | None, body: str | None) -> Any:
    if not is_api(api) or not body:
        return None
    codec = INBOUND[api]
    try:
        return codec.decode_response(orjson.loads(body))
    except (orjson.JSONDecodeError, GatewayError, TypeError, ValueError):
        return None


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "error_class": row.get("error_class"),
        "latency_ms": row.get("latency_ms"),
        "ttft_ms": row.get("ttft_ms"),
        "input_tokens": int(row.get("input_tokens") or 0),
        "output_tokens": int(row.get("output_tokens") or 0),
        "cost_nanos": int(row.get("cost_nanos") or 0),
    }


def _audit_rows(conn: sqlite3.Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        sql = f"SELECT {_AUDIT_FIELDS} FROM audit_log WHERE id IN ({', '.join('?' * len(chunk))})"
        out.update({r["id"]: dict(r) for r in conn.execute(sql, chunk)})
    return out


def _sides(
    conn: sqlite3.Connection, name: str, originals: dict[str, dict[str, Any]]
) -> dict[str, Side]:
    if name == ORIGINAL:
        out = {}
        for oid, row in originals.items():
            ok = row.get("outcome") == "ok"
            resp = _decode(row.get("api"), row.get("response_body")) if ok else None
            out[oid] = side_from_response(resp, **_metrics(row))
        return out
    sides = {}
    for oid, row in runs.results(conn, name).items():
        api = originals.get(oid, {}).get("api")
        resp = _decode(api, row.get("response_body")) if row.get("status") == "ok" else None
        sides[oid] = side_from_response(resp, **_metrics(row))
    return sides


def load_diff(
    conn: sqlite3.Connection, run_a: str, run_b: str, threshold: float = DEFAULT_SIMILARITY
) -> DiffResult:
    """Compare ``run_a`` with ``run_b``; ``ValueError`` for an unknown run name."""
    for name in (run_a, run_b):
        if name != ORIGINAL and runs.get_run(conn, name) is None:
            raise ValueError(f"no run named {name!r} (see llmgw audit runs)")
    ids: set[str] = set()
    for name in (run_a, run_b):
        if name != ORIGINAL:
            ids |= set(runs.results(conn, name))
    originals = _audit_rows(conn, sorted(ids))
    side_a = _sides(conn, run_a, originals)
    side_b = _sides(conn, run_b, originals)
    common = sorted(set(side_a) & set(side_b))
    pairs = [
        compare(
            oid,
            side_a[oid],
            side_b[oid],
            json_asked=json_requested(originals.get(oid, {}).get("request_body")),
            threshold=threshold,
        )
        for oid in common
    ]
    summary = summarise(pairs, len(set(side_a) - set(side_b)), len(set(side_b) - set(side_a)))
    return DiffResult(run_a, run_b, pairs, summary)


def _side_dict(side: Side | None) -> dict[str, Any] | None:
    if side is None:
        return None
    return {
        "ok": side.ok,
        "text": side.text,
        "tool_calls": [{"name": n, "arguments": a} for n, a in side.tool_calls],
        "finish_reason": side.finish_reason,
        "refusal": side.refusal,
        "error_class": side.error_class,
        "latency_ms": side.latency_ms,
        "input_tokens": side.input_tokens,
        "output_tokens": side.output_tokens,
        "cost_nanos": side.cost_nanos,
    }


def to_json(result: DiffResult, show: str | None = None) -> dict[str, Any]:
    """The report as JSON-ready data; items of every category unless ``show`` names one."""
    items = [
        {
            "original_id": p.original_id,
            "category": p.category,
            "similarity": p.similarity,
            "findings": p.findings,
            "details": p.details,
            "a": _side_dict(p.a),
            "b": _side_dict(p.b),
        }
        for p in result.pairs
        if show is None or p.category == show or show in p.findings
    ]
    return {"run_a": result.run_a, "run_b": result.run_b, **result.summary, "items": items}


def _stat_rows(summary: dict[str, Any]) -> list[tuple[str, ...]]:
    rows = []
    for name in STAT_FIELDS:
        stat = summary["stats"][name]
        for side in ("a", "b", "delta"):
            d = stat[side]
            values = (d["p50"], d["p90"], d["p99"], d["mean"])
            if name == "cost_nanos":
                text = tuple(format_cost(int(v)) for v in values)
            else:
                text = tuple(f"{v:g}" for v in values)
            rows.append((name if side == "a" else "", side, *text))
    return rows


def to_markdown(result: DiffResult, show: str | None = "different") -> str:
    """The report as Markdown: counts, findings, distributions, then the listed items."""
    s = result.summary
    lines = [
        f"# Diff: {result.run_a} vs {result.run_b}",
        "",
        f"{s['pairs']} pairs ({s['only_in_a']} only in {result.run_a}, "
        f"{s['only_in_b']} only in {result.run_b}).",
        "",
        "| metric | count | share |",
        "|---|---:|---:|",
    ]
    for name in (*CATEGORIES, *FINDINGS):
        lines.append(f"| {name} | {s['counts'][name]} | {s['shares'][name]}% |")
    lines += ["", "| field | side | p50 | p90 | p99 | mean |", "|---|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(row) + " |" for row in _stat_rows(s)]
    items = [p for p in result.pairs if show is None or p.category == show or show in p.findings]
    if items:
        lines += ["", f"## Items ({show or 'all'})", ""]
        for p in items:
            found = ", ".join(p.findings) or "no contract finding"
            lines.append(f"- `{p.original_id}` {p.category} ({found})")
            lines += [f"  - {d}" for d in p.details]
    return "\n".join(lines) + "\n"


def print_summary(console: Console, result: DiffResult, show: str | None = None) -> None:
    """Counts, findings and distributions as rich tables; per-item diffs for ``show``."""
    s = result.summary
    console.print(
        f"[bold]{result.run_a}[/] vs [bold]{result.run_b}[/]: {s['pairs']} pairs "
        f"({s['only_in_a']} only in {result.run_a}, {s['only_in_b']} only in {result.run_b})",
        highlight=False,
    )
    counts = Table("metric", "count", "share")
    for name in (*CATEGORIES, *FINDINGS):
        counts.add_row(name, str(s["counts"][name]), f"{s['shares'][name]}%")
    console.print(counts)
    stats = Table("field", "side", "p50", "p90", "p99", "mean")
    for row in _stat_rows(s):
        stats.add_row(*row)
    console.print(stats)
    if show is None:
        return
    for p in result.pairs:
        if p.category != show and show not in p.findings:
            continue
        console.print(f"[bold]{p.original_id}[/] {p.category} {', '.join(p.findings)}")
        for detail in p.details:
            console.print(f"  {detail}", highlight=False)
        if p.a is not None and p.b is not None:
            console.print(f"  [red]- {p.a.text[:200]}[/]", highlight=False)
            console.print(f"  [green]+ {p.b.text[:200]}[/]", highlight=False)
