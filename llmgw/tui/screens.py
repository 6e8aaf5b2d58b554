"""Screens over the main view: tenant drill-down, help, and the confirmation dialog."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Label, Static

import llmgw.tui.format as fmt
from llmgw.tui.source import Row, Source, SourceError

HELP_ROWS: tuple[tuple[str, str], ...] = (
    ("s / b / r / n", "sort tenants by spend today / burn rate / requests per minute / name"),
    ("enter", "open the highlighted tenant (keys, models, recent errors and calls)"),
    ("tab / shift+tab", "move between tenants, deployments and the call tail"),
    ("/", "filter the call tail by tenant, model or status (escape leaves the filter)"),
    ("o", "force the highlighted deployment's breaker open (asks first)"),
    ("c", "force the highlighted deployment's breaker closed (asks first)"),
    ("a", "give the highlighted deployment's breaker back to automatic (asks first)"),
    ("f", "inject a 60 s outage on the highlighted deployment (asks first)"),
    ("?", "this help"),
    ("escape", "close a dialog or the tenant view"),
    ("q", "quit"),
)


class ConfirmScreen(ModalScreen[bool]):
    """Ask yes or no; dismisses with ``True`` only on an explicit yes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Grid(id="confirm"):
            yield Label(self.question, id="question")
            yield Button("Yes (y)", variant="error", id="yes")
            yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """Every key binding, one per line."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "close")]

    def compose(self) -> ComposeResult:
        text = Text("Key bindings\n\n", style="bold")
        for keys, what in HELP_ROWS:
            text.append(f"{keys:>16}  ", style="bold cyan")
            text.append(f"{what}\n")
        text.append("\nescape closes this help", style="dim")
        with Vertical(id="help"):
            yield Static(text)

    def action_close(self) -> None:
        self.dismiss(None)


def _table(*columns: str) -> DataTable[Any]:
    table: DataTable[Any] = DataTable(zebra_stripes=True, cursor_type="row")
    table.add_columns(*columns)
    return table


class TenantScreen(Screen[None]):
    """One tenant: spend and budgets, its keys, models, recent errors and recent calls."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "close", "back"),
        Binding("q", "app.quit", "quit"),
    ]

    def __init__(self, source: Source, tenant: str) -> None:
        super().__init__()
        self.source = source
        self.tenant = tenant
        self.keys = _table("id", "name", "prefix", "created")
        self.models = _table("model", "requests", "tokens", "cost")
        self.errors = _table("time", "model", "status", "error")
        self.calls = _table("time", "model", "provider", "status", "ms", "tokens", "cost")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="tenant-view"):
            yield Static(f"tenant {self.tenant}: loading…", id="tenant-summary")
            yield Label("keys", classes="section")
            yield self.keys
            yield Label("models", classes="section")
            yield self.models
            yield Label("recent errors", classes="section")
            yield self.errors
            yield Label("recent calls", classes="section")
            yield self.calls
        yield Footer()

    def on_mount(self) -> None:
        self.run_worker(self.load(), exclusive=True)

    async def load(self) -> None:
        try:
            data = await self.source.tenant(self.tenant)
        except SourceError as exc:
            self.query_one("#tenant-summary", Static).update(f"tenant {self.tenant}: {exc}")
            return
        self.show(data)

    def show(self, data: Row) -> None:
        """Fill the view from one ``/admin/tenants/{path}`` answer."""
        summary = Text(f"tenant {self.tenant}\n", style="bold")
        summary.append(
            f"spend today {fmt.money(data.get('spend_today_nanos'))}   "
            f"month {fmt.money(data.get('spend_month_nanos'))}   "
            f"burn {fmt.money(data.get('burn_per_hour_nanos'))}/h   "
            f"{data.get('requests_per_min', 0)} req/min\n"
        )
        for b in data.get("budgets") or []:
            summary.append(f"budget {b.get('key')} ({b.get('period')}): ")
            summary.append_text(fmt.budget_bar(float(b.get("used_pct") or 0.0)))
            summary.append(
                f"  {fmt.money(b.get('spent_nanos'))} of {fmt.money(b.get('limit_nanos'))}"
                f"{' hard' if b.get('hard') else ''}\n"
            )
        self.query_one("#tenant-summary", Static).update(summary)
        for k in data.get("keys") or []:
            self.keys.add_row(
                k.get("id"), k.get("name"), k.get("prefix"), fmt.clock(k.get("created_at"))
            )
        for m in data.get("models") or []:
            if isinstance(m, dict):
                self.models.add_row(
                    str(m.get("model")),
                    str(m.get("requests", "")),
                    str(m.get("tokens", "")),
                    fmt.money(m.get("cost_nanos")),
                )
            else:
                self.models.add_row(str(m), "", "", "")
        for e in data.get("errors") or []:
            self.errors.add_row(
                fmt.clock(e.get("ts")),
                str(e.get("model") or "-"),
                fmt.status_text(e.get("status"), e.get("outcome") or "error"),
                str(e.get("error_class") or e.get("error_message") or ""),
            )
        for c in data.get("calls") or []:
            self.calls.add_row(
                fmt.clock(c.get("ts")),
                str(c.get("model") or "-"),
                str(c.get("provider") or "-"),
                fmt.status_text(c.get("status"), c.get("outcome")),
                fmt.ms(c.get("latency_ms")),
                fmt.tokens(c.get("tokens")),
                fmt.money(c.get("cost_nanos")),
            )

    def action_close(self) -> None:
        self.app.pop_screen()
