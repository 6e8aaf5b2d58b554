"""Showing a drill: live progress and the scorecard with rich, and the JSON report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from llmgw.chaos.runner import DrillRun, Progress
    from llmgw.chaos.score import PhaseScore, Scorecard

REPORT_VERSION = 1


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f}s"


def progress_view(p: Progress) -> Table:
    """One small table: time, phase, calls, success so far, active faults."""
    stats = p.stats
    table = Table.grid(padding=(0, 2))
    table.add_row(
        Text(f"{p.elapsed_s:5.1f}/{p.duration_s:.1f}s", style="bold"),
        f"phase [cyan]{p.phase}[/]",
        f"sent {stats.sent}",
        f"done {stats.done}",
        f"ok {_rate(stats.ok / stats.done if stats.done else None)}",
        f"in flight {stats.in_flight}",
        f"shed {stats.shed}",
    )
    faults = ", ".join(p.active_faults) or "none"
    table.add_row("", Text(f"faults: {faults}", style="red" if p.active_faults else "dim"))
    return table


def phase_table(phases: list[PhaseScore]) -> Table:
    table = Table(title="Phases", title_justify="left")
    for col in ("phase", "window", "calls", "success", "p50 ms", "p99 ms", "ttft p50", "ttft p99"):
        table.add_column(col, justify="left" if col in ("phase", "window") else "right")
    table.add_column("errors")
    table.add_column("served by")
    for ph in phases:
        errors = ", ".join(f"{k}×{v}" for k, v in ph.errors.items()) or "-"
        served = ", ".join(f"{k}×{v}" for k, v in ph.served.items()) or "-"
        table.add_row(
            ph.name,
            f"{ph.from_s:.1f}-{ph.to_s:.1f}s",
            str(ph.sent),
            _rate(ph.success_rate),
            _ms(ph.p50_ms),
            _ms(ph.p99_ms),
            _ms(ph.ttft_p50_ms),
            _ms(ph.ttft_p99_ms),
            errors,
            served,
        )
    return table


def scorecard_view(card: Scorecard) -> Group:
    """Phases, faults, breaker transitions, audit, notes and SLO verdicts."""
    parts: list[Any] = [phase_table([*card.phases, card.overall])]
    for tenant in card.tenants:
        rows = phase_table([*tenant.phases, tenant.overall])
        rows.title = (
            f"Tenant {tenant.name} ({tenant.rate_limited} rate limited, "
            f"{tenant.timeouts} timed out)"
        )
        parts.append(rows)
    if card.faults:
        faults = Table(title="Faults", title_justify="left")
        for col in ("fault", "deployment", "window", "primary", "failover", "recover"):
            faults.add_column(col)
        for f in card.faults:
            faults.add_row(
                f.label,
                f.deployment,
                f"{f.at_s:.1f}-{f.end_s:.1f}s",
                "yes" if f.primary else "no",
                _s(f.failover_s) if f.primary else "-",
                _s(f.recover_s) if f.primary else "-",
            )
        parts.append(faults)
    if card.transitions:
        trans = Table(title="Breaker transitions", title_justify="left")
        for col in ("at", "deployment", "from", "to", "reason"):
            trans.add_column(col)
        for t in card.transitions:
            trans.add_row(f"{t.at_s:.2f}s", t.deployment, t.from_state, t.to_state, t.reason)
        parts.append(trans)
    if card.audit is not None:
        a = card.audit
        parts.append(
            Text(
                f"audit: {a.matched} calls matched, {len(a.missing)} missing, "
                f"{len(a.duplicated)} duplicated, {len(a.failed_charged)} failed calls charged, "
                f"{len(a.token_mismatch)} token mismatches "
                f"(billed {a.billed_output_tokens} / received {a.received_output_tokens} tokens)"
            )
        )
    for note in card.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    verdicts = Table(title="SLOs", title_justify="left")
    for col in ("slo", "target", "actual", "verdict", ""):
        verdicts.add_column(col)
    for v in card.verdicts:
        mark = {True: "[green]pass[/]", False: "[bold red]FAIL[/]", None: "[dim]skipped[/]"}
        actual = "-" if v.actual is None else f"{v.actual:.4g}"
        verdicts.add_row(v.name, f"{v.target:g}", actual, mark[v.passed], v.note)
    parts.append(verdicts)
    verdict = "[bold green]PASSED[/]" if card.passed else "[bold red]FAILED[/]"
    parts.append(Text.from_markup(f"drill {verdict}"))
    return Group(*parts)


def print_scorecard(console: Console, run: DrillRun) -> None:
    console.print(f"[bold]{run.drill.name}[/] — {run.drill.description}".rstrip(" —"))
    console.print(scorecard_view(run.scorecard))


def report_dict(run: DrillRun, scale: float = 1.0) -> dict[str, Any]:
    """The JSON report: the drill's identity, how it ran, the scorecard and every call."""
    drill = run.drill
    return {
        "version": REPORT_VERSION,
        "drill": {
            "name": drill.name,
            "description": drill.description,
            "duration_s": drill.duration_s,
            "duration_scale": scale,
            "model": drill.load_model,
        },
        "mode": run.mode,
        "gateway": run.gateway_url,
        "breakers_available": run.outcome.breakers_available,
        "shed": run.outcome.shed,
        "scorecard": run.scorecard.to_dict(),
        "calls": [
            {
                "start_s": round(c.start_s, 4),
                "phase": c.phase,
                "tenant": c.tenant,
                "stream": c.stream,
                "status": c.status,
                "latency_ms": round(c.latency_ms, 2),
                "ttft_ms": None if c.ttft_ms is None else round(c.ttft_ms, 2),
                "deployment": c.deployment,
                "error_class": c.error_class,
                "ok": c.ok,
                "truncated": c.truncated,
                "request_id": c.request_id,
                "output_tokens": c.output_tokens,
                "attempts": c.attempts,
            }
            for c in run.outcome.calls
        ],
    }
