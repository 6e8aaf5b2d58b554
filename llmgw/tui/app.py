"""``GatewayTUI``: the operations view of one gateway (or one state file).

The app never blocks on I/O: a timer starts a poll worker every ``poll_s`` seconds (skipped
while the previous one is still out), a second worker follows the call stream into a buffer,
and a third timer moves buffered calls into the tail. Actions on a deployment go through a
confirmation dialog, then a worker, and the next poll shows their effect.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Footer, Header, Input, Static

from llmgw.tui.screens import ConfirmScreen, HelpScreen, TenantScreen
from llmgw.tui.source import CALLS_LIMIT, OUTAGE_S, Row, Snapshot, Source, SourceError
from llmgw.tui.widgets import (
    TENANT_SORTS,
    CallTail,
    DeploymentsTable,
    TenantsTable,
    TransitionsView,
)

STREAM_RETRY_S = 2.0
MAIN_VIEW_ACTIONS = frozenset({"sort", "filter", "act", "help"})
FLUSH_S = 0.25

ACTIONS: dict[str, tuple[str, str | None]] = {
    "open": ("force {dep}'s breaker OPEN (no traffic until set back)?", "open"),
    "closed": ("force {dep}'s breaker CLOSED (traffic even if it fails)?", "closed"),
    "auto": ("give {dep}'s breaker back to automatic?", None),
    "outage": (f"inject a {OUTAGE_S:.0f} s outage (503s) on {{dep}}?", None),
}


class GatewayTUI(App[None]):
    """Tenants, deployments and live calls of a gateway, refreshed twice a second."""

    TITLE = "llmgw"
    CSS_PATH = "styles.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "quit"),
        Binding("question_mark", "help", "help"),
        Binding("s", "sort('spend')", "sort spend"),
        Binding("b", "sort('burn')", "burn"),
        Binding("r", "sort('rpm')", "req/min"),
        Binding("n", "sort('name')", "name"),
        Binding("slash", "filter", "filter"),
        Binding("o", "act('open')", "open"),
        Binding("c", "act('closed')", "close"),
        Binding("a", "act('auto')", "auto"),
        Binding("f", "act('outage')", "fault"),
    ]

    def __init__(self, source: Source, poll_s: float = 0.5, stream: bool = True) -> None:
        super().__init__()
        self.source = source
        self.poll_s = poll_s
        self.stream = stream
        self.snapshot: Snapshot | None = None
        self.error: str | None = None
        self.polls = 0
        self.pending: list[Row] = []
        self._polling = False
        # kept by reference: the drill-down screen may be on top when a poll lands
        self.status = Static("connecting…", id="status")
        self.tenants = TenantsTable(id="tenants")
        self.deployments = DeploymentsTable(id="deployments")
        self.transitions = TransitionsView("no deployment selected", id="transitions")
        self.filter_input = Input(
            placeholder="/ to filter calls by tenant, model or status", id="filter"
        )
        self.tail = CallTail(id="tail")

    def compose(self) -> ComposeResult:
        yield Header()
        yield self.status
        yield self.tenants
        with Horizontal(id="ops"):
            yield self.deployments
            yield self.transitions
        yield self.filter_input
        yield self.tail
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Main-view keys do nothing while another screen is on top."""
        return not (action in MAIN_VIEW_ACTIONS and len(self.screen_stack) > 1)

    def on_mount(self) -> None:
        self.sub_title = self.source.label
        self.tenants.border_title = "tenants"
        self.deployments.border_title = "deployments"
        self.transitions.border_title = "transitions"
        self.tail.border_title = "calls (newest first)"
        self.tenants.focus()
        self.start_poll()
        self.set_interval(self.poll_s, self.start_poll)
        self.set_interval(FLUSH_S, self.flush_calls)
        if self.stream:
            self.run_worker(self.follow_calls(), group="calls")

    async def on_unmount(self) -> None:
        await self.source.close()

    # -- data ------------------------------------------------------------------------------

    def start_poll(self) -> None:
        if not self._polling:
            self._polling = True
            self.run_worker(self.poll(), group="poll")

    async def poll(self) -> None:
        try:
            snap = await self.source.snapshot()
        except SourceError as exc:
            self.error = str(exc)
        else:
            self.error = None
            self.apply(snap)
        finally:
            self._polling = False
            self.polls += 1
            self.show_status()

    def apply(self, snap: Snapshot) -> None:
        """Show one snapshot (rows updated in place)."""
        self.snapshot = snap
        self.tenants.update_rows(snap.tenants, "tenant")
        self.deployments.update_rows(snap.deployments, "deployment")
        self.show_transitions()

    async def follow_calls(self) -> None:
        """Recent calls, then the live stream; reconnects after a pause when it drops."""
        try:
            self.pending.extend(reversed(await self.source.recent_calls(CALLS_LIMIT)))
        except SourceError as exc:
            self.error = str(exc)
        while True:
            try:
                async for call in self.source.call_stream():
                    self.pending.append(call)
                return
            except SourceError as exc:
                self.error = str(exc)
            await asyncio.sleep(STREAM_RETRY_S)

    def flush_calls(self) -> None:
        if self.pending:
            calls, self.pending = self.pending, []
            self.tail.add_calls(calls)

    def show_status(self) -> None:
        snap = self.snapshot or Snapshot()
        text = Text()
        text.append(f"{len(snap.tenants)} tenants · {len(snap.deployments)} deployments")
        cache = snap.cache or {}
        if cache.get("enabled") and cache.get("hit_rate") is not None:
            text.append(f" · cache hits {100 * float(cache['hit_rate']):.0f}%")
        label = TENANT_SORTS[self.tenants.sort_by][0]
        text.append(f" · sorted by {label}")
        if self.source.read_only:
            text.append(" · read-only", style="yellow")
        if snap.missing:
            text.append(f" · not on this gateway: {', '.join(snap.missing)}", style="dim")
        if self.error:
            text.append(f" · {self.error}", style="bold red")
        self.status.update(text)

    def show_transitions(self) -> None:
        selected = self.deployments.selected
        self.transitions.show(self.deployments.data.get(selected) if selected else None)

    # -- events and actions ----------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, DeploymentsTable):
            self.show_transitions()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if isinstance(event.data_table, TenantsTable) and event.row_key.value is not None:
            self.push_screen(TenantScreen(self.source, str(event.row_key.value)))

    def on_input_changed(self, event: Input.Changed) -> None:
        self.tail.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.tail.focus()

    def action_sort(self, sort_by: str) -> None:
        self.tenants.set_sort(sort_by)
        self.show_status()

    def action_filter(self) -> None:
        self.filter_input.focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_act(self, action: str) -> None:
        if self.source.read_only:
            self.notify("read-only: open a running gateway (--gateway) to act", severity="warning")
            return
        dep = self.deployments.selected
        if dep is None:
            self.notify("no deployment selected", severity="warning")
            return
        question = ACTIONS[action][0].format(dep=dep)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self.perform(action, dep), group="actions")

        self.push_screen(ConfirmScreen(question), confirmed)

    async def perform(self, action: str, deployment: str) -> Any:
        """Send one confirmed action to the admin API and say how it went."""
        try:
            if action == "outage":
                await self.source.inject_outage(deployment, OUTAGE_S)
                self.notify(f"{deployment}: {OUTAGE_S:.0f} s outage injected")
            else:
                answer = await self.source.force_breaker(deployment, ACTIONS[action][1])
                self.notify(f"{deployment}: breaker {answer.get('state', '?')}")
        except SourceError as exc:
            self.notify(str(exc), severity="error")
        self.start_poll()
