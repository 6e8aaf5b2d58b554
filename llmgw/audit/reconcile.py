"""Reconciling the gateway's computed cost with a provider's bill, per UTC day and model.

The bill is a CSV file with a header line and the columns ``date`` (``YYYY-MM-DD``), ``model``
and the amount in US dollars under ``cost_usd`` (also accepted: ``amount``, ``amount_usd``,
``cost``; header names are matched without regard to case or surrounding spaces; ``$`` and
thousands separators in amounts are ignored). A ``provider`` column, if present, is used to
keep only that provider's lines when a provider filter is given. Lines for the same day and
model are summed.

The gateway side is the sum of ``cost_nanos`` in ``audit_log`` per UTC day of ``ts`` and
``served_model`` (the provider's own model name), over the days the bill covers (first to last
date), optionally for one provider. A pair is flagged when the two sides differ by more than
the tolerance (a fraction of the bill's amount; any difference at all when the bill says 0),
or when it is on one side only. All money is ``Decimal``.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from llmgw.settings.money import nanos_to_usd

AMOUNT_COLUMNS = ("cost_usd", "amount", "amount_usd", "cost")

Key = tuple[str, str]  # (YYYY-MM-DD, model)


class BillError(ValueError):
    """The bill cannot be read; the message names the line and what is wrong."""


def parse_tolerance(text: str) -> Decimal:
    """``1%`` -> 0.01, ``0.5%`` -> 0.005, ``0.02`` -> 0.02 (a fraction)."""
    raw = text.strip()
    try:
        value = Decimal(raw[:-1]) / 100 if raw.endswith("%") else Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"bad tolerance {text!r}: use a percentage like 1% or 0.5%") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"bad tolerance {text!r}: it must be zero or more")
    return value


def _amount(text: str, line: int) -> Decimal:
    cleaned = text.strip().replace("$", "").replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise BillError(f"line {line}: bad amount {text!r}") from None
    if not value.is_finite():
        raise BillError(f"line {line}: bad amount {text!r}")
    return value


def read_bill(lines: Iterable[str], provider: str | None = None) -> dict[Key, Decimal]:
    """The bill's amounts per (day, model); raises ``BillError`` on a malformed file."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise BillError("the bill is empty (expected a header line: date,model,cost_usd)")
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    amount_col = next((c for c in AMOUNT_COLUMNS if c in names), None)
    missing = [c for c in ("date", "model") if c not in names]
    if missing or amount_col is None:
        need = ", ".join(missing + ([] if amount_col else ["cost_usd (or amount, cost)"]))
        raise BillError(f"line 1: the header lacks {need}")
    i_date, i_model, i_amount = names.index("date"), names.index("model"), names.index(amount_col)
    i_provider = names.index("provider") if "provider" in names else None
    totals: dict[Key, Decimal] = {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(names):
            raise BillError(f"line {line}: expected {len(names)} columns, got {len(row)}")
        if provider and i_provider is not None and row[i_provider].strip() != provider:
            continue
        day = row[i_date].strip()
        try:
            date.fromisoformat(day)
        except ValueError:
            raise BillError(f"line {line}: bad date {day!r} (expected YYYY-MM-DD)") from None
        model = row[i_model].strip()
        if not model:
            raise BillError(f"line {line}: empty model")
        key = (day, model)
        totals[key] = totals.get(key, Decimal(0)) + _amount(row[i_amount], line)
    return totals


def gateway_costs(
    conn: sqlite3.Connection, first_day: str, last_day: str, provider: str | None = None
) -> dict[Key, Decimal]:
    """The audit log's cost per (UTC day, served model), for ``first_day..last_day``."""
    start = datetime.fromisoformat(first_day).replace(tzinfo=UTC).timestamp()
    end_day = date.fromisoformat(last_day) + timedelta(days=1)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC).timestamp()
    sql = (
        "SELECT date(ts, 'unixepoch') AS day, served_model, sum(cost_nanos) FROM audit_log "
        "WHERE ts >= ? AND ts < ? AND served_model IS NOT NULL "
        "AND NOT (provider = 'cache' AND outcome = 'ok')"  # hits: cost_nanos is what they saved
    )
    params: list[object] = [start, end]
    if provider:
        sql += " AND provider = ?"
        params.append(provider)
    sql += " GROUP BY day, served_model"
    return {
        (day, model): nanos_to_usd(int(nanos or 0))
        for day, model, nanos in conn.execute(sql, params)
    }


@dataclass(slots=True, frozen=True)
class Line:
    """One (day, model) compared; ``bill`` / ``gateway`` None when that side has nothing."""

    day: str
    model: str
    bill: Decimal | None
    gateway: Decimal | None
    flagged: bool
    reason: str

    @property
    def difference(self) -> Decimal:
        """gateway - bill (a missing side counts as 0)."""
        return (self.gateway or Decimal(0)) - (self.bill or Decimal(0))

    def as_dict(self) -> dict[str, object]:
        def text(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "date": self.day,
            "model": self.model,
            "bill_usd": text(self.bill),
            "gateway_usd": text(self.gateway),
            "difference_usd": str(self.difference),
            "flagged": self.flagged,
            "reason": self.reason,
        }


def compare(
    bill: dict[Key, Decimal], gateway: dict[Key, Decimal], tolerance: Decimal
) -> list[Line]:
    """Both sides side by side, sorted by day and model, each line flagged or not."""
    lines: list[Line] = []
    for key in sorted(bill.keys() | gateway.keys()):
        b, g = bill.get(key), gateway.get(key)
        if b is None:
            flagged, reason = True, "only in the gateway"
        elif g is None:
            flagged, reason = True, "only on the bill"
        else:
            diff = abs(g - b)
            flagged = diff > tolerance * abs(b) if b else diff != 0
            reason = "over tolerance" if flagged else ""
        lines.append(Line(key[0], key[1], b, g, flagged, reason))
    return lines


def reconcile(
    conn: sqlite3.Connection,
    bill_lines: Iterable[str],
    *,
    provider: str | None = None,
    tolerance: Decimal = Decimal("0.01"),
) -> list[Line]:
    """Read the bill, sum the gateway's side over its days, compare."""
    bill = read_bill(bill_lines, provider)
    if not bill:
        return []
    days = sorted(day for day, _ in bill)
    return compare(bill, gateway_costs(conn, days[0], days[-1], provider), tolerance)
