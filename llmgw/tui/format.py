"""Pure formatting for the TUI: money, budget bars, sparklines, colours, times (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.text import Text

from llmgw.settings.money import NANOS_PER_USD

SPARK_CHARS = "▁▂▃▄▅▆▇█"
STATE_STYLE = {"closed": "green", "half_open": "yellow", "open": "bold red"}
STATE_LABEL = {"closed": "closed", "half_open": "half-open", "open": "OPEN"}


def money(nanos: int | None) -> str:
    """``$12,345.67`` from integer nanodollars, for the screen: rounded to cents with thousands
    separators; sub-cent amounts keep six decimals (exact text is ``money.format_usd``'s)."""
    if nanos is None:
        return "-"
    sign = "-" if nanos < 0 else ""  # -$1.23, as llmgw.settings.money writes it
    usd = Decimal(abs(int(nanos))) / NANOS_PER_USD
    if nanos and abs(nanos) < NANOS_PER_USD // 100:
        return f"{sign}${usd:.6f}"
    return f"{sign}${usd:,.2f}"


def budget_style(pct: float) -> str:
    """Green under 50 % used, yellow under 80 %, red from 80 %."""
    if pct < 50:
        return "green"
    if pct < 80:
        return "yellow"
    return "bold red"


def budget_bar(pct: float | None, width: int = 10) -> Text:
    """A bar like ``██████░░░░  61%`` coloured by ``budget_style``; ``-`` with no budget."""
    if pct is None:
        return Text("-", style="dim")
    filled = max(0, min(width, round(pct * width / 100)))
    bar = Text("█" * filled, style=budget_style(pct))
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {pct:>3.0f}%", style=budget_style(pct))
    return bar


def tightest_budget(budgets: list[dict[str, Any]]) -> float | None:
    """The highest ``used_pct`` among a tenant's budgets, or ``None`` when it has none."""
    values = [float(b.get("used_pct") or 0.0) for b in budgets]
    return max(values) if values else None


def sparkline(values: list[int]) -> str:
    """One block character per value, scaled to the largest (all blanks when all zero)."""
    top = max(values, default=0)
    if top <= 0:
        return SPARK_CHARS[0] * len(values)
    steps = len(SPARK_CHARS) - 1
    return "".join(SPARK_CHARS[(v * steps + top - 1) // top] if v > 0 else " " for v in values)


def state_text(state: str, forced: str | None = None) -> Text:
    """A breaker state in its colour (closed green, half-open yellow, open red)."""
    label = STATE_LABEL.get(state, state)
    text = Text(label, style=STATE_STYLE.get(state, ""))
    if forced:
        text.append(" (forced)", style="italic")
    return text


def clock(ts: float | str | None) -> str:
    """``HH:MM:SS`` in UTC for unix seconds (ISO strings are shown as their time part)."""
    if ts is None:
        return "-"
    if isinstance(ts, str):
        return ts[11:19] if len(ts) >= 19 else ts
    return datetime.fromtimestamp(float(ts), UTC).strftime("%H:%M:%S")


def ms(value: float | None) -> str:
    """Milliseconds as a whole number, ``-`` when unknown."""
    return "-" if value is None else f"{value:,.0f}"


def tokens(value: int | dict[str, Any] | None) -> str:
    """A call's tokens: a count, or input + output of the admin API's ``tokens`` object."""
    if isinstance(value, dict):
        return str(int(value.get("input") or 0) + int(value.get("output") or 0))
    return str(value or 0)


def rate(value: float | None) -> str:
    """A 0..1 ratio as a percentage."""
    return "-" if value is None else f"{100 * value:.1f}%"


def status_text(status: int | None, outcome: str | None) -> Text:
    """An HTTP status coloured by outcome."""
    style = {"ok": "green", "rejected": "yellow", "error": "red", "aborted": "magenta"}
    return Text(str(status if status is not None else "-"), style=style.get(outcome or "", ""))
