"""The TUI's panels: tenants table, deployments table with transitions, and the call tail.

Tables are updated in place (``update_cell`` on rows that changed, ``add_row`` / ``remove_row``
for rows that came or went) so a refresh with hundreds of tenants costs little, and the cursor
stays on the same tenant or deployment when the order changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from rich.text import Text
from textual.widgets import DataTable, Static

import llmgw.tui.format as fmt

Row = dict[str, Any]
TAIL_MAX = 500
# fixed widths: a busy tail never re-measures its columns, and the layout never jumps
TAIL_COLUMNS = (
    ("time", 8),
    ("tenant", 16),
    ("model", 20),
    ("provider", 30),
    ("status", 22),
    ("ms", 7),
    ("tokens", 7),
    ("cost", 10),
)

TENANT_SORTS: dict[str, tuple[str, Callable[[Row], Any]]] = {
    "spend": ("spend today", lambda t: (-(t.get("spend_today_nanos") or 0), t["tenant"])),
    "burn": ("burn/h", lambda t: (-(t.get("burn_per_hour_nanos") or 0), t["tenant"])),
    "rpm": ("req/min", lambda t: (-(t.get("requests_per_min") or 0), t["tenant"])),
    "name": ("name", lambda t: t["tenant"]),
}


class KeyedTable(DataTable[Any]):
    """A DataTable whose rows are keyed by a name and refreshed cell by cell."""

    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.data: dict[str, Row] = {}
        self._cells: dict[str, tuple[Any, ...]] = {}

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key)

    def cells(self, row: Row) -> tuple[Any, ...]:
        raise NotImplementedError

    def sort_key(self, row: Row) -> Any:
        raise NotImplementedError

    @property
    def selected(self) -> str | None:
        """The key of the row under the cursor."""
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:  # cursor outside the rows while they change
            return None

    def update_rows(self, rows: Iterable[Row], key: str) -> None:
        """Make the table show ``rows`` (keyed by ``row[key]``), touching only what changed."""
        selected = self.selected
        fresh = {str(r[key]): r for r in rows}
        for gone in [k for k in self.data if k not in fresh]:
            self.remove_row(gone)
            del self.data[gone], self._cells[gone]
        column_keys = [c for c, _ in self.COLUMNS]
        for name, row in fresh.items():
            cells = self.cells(row)
            old = self._cells.get(name)
            if old is None:
                self.add_row(*cells, key=name)
            elif old != cells:
                for column, new, before in zip(column_keys, cells, old, strict=True):
                    if new != before:
                        self.update_cell(name, column, new)
            self.data[name] = row
            self._cells[name] = cells
        self.resort(selected)

    def resort(self, selected: str | None = None) -> None:
        """Order rows by ``sort_key`` and keep the cursor on ``selected``."""
        first = self.COLUMNS[0][0]
        self.sort(first, key=lambda name: self.sort_key(self.data[str(name)]))
        if selected is not None and selected in self.data:
            self.move_cursor(row=self.get_row_index(selected), animate=False)


class TenantsTable(KeyedTable):
    """Tenants with rates, spend, the tightest budget as a bar, and a 30-minute sparkline."""

    COLUMNS = (
        ("tenant", "tenant"),
        ("rpm", "req/min"),
        ("tpm", "tok/min"),
        ("rej", "rej/min"),
        ("err", "err/min"),
        ("today", "spend today"),
        ("month", "month"),
        ("burn", "burn/h"),
        ("budget", "budget"),
        ("spark", "spend, 30 min"),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sort_by = "spend"

    def cells(self, row: Row) -> tuple[Any, ...]:
        return (
            row["tenant"],
            str(row.get("requests_per_min", 0)),
            f"{row.get('tokens_per_min', 0):,}",
            str(row.get("rejections_per_min", 0)),
            str(row.get("errors_per_min", 0)),
            fmt.money(row.get("spend_today_nanos")),
            fmt.money(row.get("spend_month_nanos")),
            fmt.money(row.get("burn_per_hour_nanos")),
            fmt.budget_bar(fmt.tightest_budget(row.get("budgets") or [])),
            Text(fmt.sparkline(list(row.get("spark") or [])), style="cyan"),
        )

    def sort_key(self, row: Row) -> Any:
        return TENANT_SORTS[self.sort_by][1](row)

    def set_sort(self, sort_by: str) -> None:
        self.sort_by = sort_by
        self.resort(self.selected)


class DeploymentsTable(KeyedTable):
    """Deployments with breaker state in colour, error rate and latency percentiles."""

    COLUMNS = (
        ("deployment", "deployment"),
        ("state", "breaker"),
        ("err", "errors"),
        ("cpm", "calls/min"),
        ("inflight", "in flight"),
        ("p50", "p50 ms"),
        ("p99", "p99 ms"),
        ("ttft50", "ttft p50"),
        ("ttft99", "ttft p99"),
    )

    def cells(self, row: Row) -> tuple[Any, ...]:
        cpm = row.get("calls_per_min")
        return (
            row["deployment"],
            fmt.state_text(row.get("state", "closed"), row.get("forced")),
            fmt.rate(row.get("error_rate")),
            "-" if cpm is None else str(cpm),
            str(row.get("in_flight", 0)),
            fmt.ms(row.get("latency_p50_ms")),
            fmt.ms(row.get("latency_p99_ms")),
            fmt.ms(row.get("ttft_p50_ms")),
            fmt.ms(row.get("ttft_p99_ms")),
        )

    def sort_key(self, row: Row) -> Any:
        return row["deployment"]


class TransitionsView(Static):
    """The recent breaker transitions of the highlighted deployment."""

    def show(self, deployment: Row | None) -> None:
        if deployment is None:
            self.update("no deployment selected")
            return
        text = Text(f"{deployment['deployment']}: ", style="bold")
        transitions = deployment.get("transitions") or []
        if not transitions:
            text.append("no transitions yet", style="dim")
        for t in transitions[-5:]:
            text.append(f"\n{fmt.clock(t.get('at'))} ")
            text.append_text(fmt.state_text(str(t.get("from", "?"))))
            text.append(" → ")
            text.append_text(fmt.state_text(str(t.get("to", "?"))))
            text.append(f"  {t.get('reason', '')}", style="dim")
        self.update(text)


class Stamp(str):
    """A time cell that also carries the call's arrival order, so the tail sorts by it."""

    order: int

    def __new__(cls, text: str, order: int) -> Stamp:
        obj = super().__new__(cls, text)
        obj.order = order
        return obj


def call_matches(call: Row, needle: str) -> bool:
    """Whether a call's tenant, model or status contains ``needle`` (case-insensitive)."""
    if not needle:
        return True
    hay = " ".join(
        str(call.get(k) or "") for k in ("tenant", "model", "served_model", "status", "outcome")
    )
    return needle.lower() in hay.lower()


class CallTail(DataTable[Any]):
    """Finished calls, newest first, at most ``TAIL_MAX`` kept; filtered by a substring."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.calls: deque[tuple[int, Row]] = deque(maxlen=TAIL_MAX)
        self.needle = ""
        self._order = 0
        self._shown: set[str] = set()

    def on_mount(self) -> None:
        for key, width in TAIL_COLUMNS:
            self.add_column(key, key=key, width=width)

    def _cells(self, order: int, call: Row) -> tuple[Any, ...]:
        served = call.get("provider") or "-"
        if call.get("served_model"):
            served = f"{served}/{call['served_model']}"
        label = call.get("error_class") or ""
        status = fmt.status_text(call.get("status"), call.get("outcome"))
        if label:
            status.append(f" {label}", style="dim")
        return (
            Stamp(fmt.clock(call.get("ts")), order),
            str(call.get("tenant") or "-"),
            str(call.get("model") or "-"),
            served,
            status,
            fmt.ms(call.get("latency_ms")),
            fmt.tokens(call.get("tokens")),
            fmt.money(call.get("cost_nanos")),
        )

    def _show(self, order: int, call: Row) -> None:
        key = str(call.get("id") or f"call-{order}")
        if key in self._shown:
            return
        self.add_row(*self._cells(order, call), key=key)
        self._shown.add(key)

    def add_calls(self, calls: Iterable[Row]) -> None:
        """Append calls (oldest first); evicts the oldest beyond ``TAIL_MAX``."""
        added = False
        for call in calls:
            if len(self.calls) == self.calls.maxlen:
                _, old = self.calls[0]
                key = str(old.get("id") or "")
                if key in self._shown:
                    self.remove_row(key)
                    self._shown.discard(key)
            self._order += 1
            self.calls.append((self._order, call))
            if call_matches(call, self.needle):
                self._show(self._order, call)
                added = True
        if added:
            self.sort("time", key=lambda stamp: stamp.order, reverse=True)

    def set_filter(self, needle: str) -> None:
        """Show only calls matching ``needle`` (rebuilds the at most ``TAIL_MAX`` rows)."""
        self.needle = needle.strip()
        self.clear()
        self._shown.clear()
        for order, call in reversed(self.calls):
            if call_matches(call, self.needle):
                self._show(order, call)
