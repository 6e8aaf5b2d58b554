"""Reconciling the audit log's cost with a synthetic provider bill."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from llmgw.audit.reconcile import BillError, parse_tolerance, read_bill, reconcile
from llmgw.audit.record import INSERT_SQL, AuditRecord
from llmgw.store.db import open_db


def ts(day: str, hour: int) -> float:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC).timestamp()


def test_match_over_tolerance_and_missing_day(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "s.db")
    rows = [
        ("2025-03-01", "gpt-4o", 1_000_000_000, "openai"),  # $1 + $1 = bill $2.01: within 1%
        ("2025-03-01", "gpt-4o", 1_000_000_000, "openai"),
        ("2025-03-02", "gpt-4o", 1_000_000_000, "openai"),  # bill $1.05: 5% off
        ("2025-03-02", "claude", 7_000_000_000, "anthropic"),  # other provider: filtered out
        ("2025-03-05", "gpt-4o", 1, "openai"),  # outside the bill's days
    ]
    for i, (day, model, nanos, provider) in enumerate(rows):
        rec = AuditRecord(ts=ts(day, 23), served_model=model, cost_nanos=nanos, provider=provider)
        conn.execute(INSERT_SQL, rec.to_row())
        assert i >= 0
    bill = [
        "Date,Model,Amount\n",
        "2025-03-01,gpt-4o,$2.01\n",
        "2025-03-02,gpt-4o,1.05\n",
        "2025-03-03,gpt-4o,0.50\n",
    ]
    lines = reconcile(conn, bill, provider="openai", tolerance=parse_tolerance("1%"))
    by_day = {(x.day, x.model): x for x in lines}
    assert set(by_day) == {
        ("2025-03-01", "gpt-4o"),
        ("2025-03-02", "gpt-4o"),
        ("2025-03-03", "gpt-4o"),
    }
    assert not by_day["2025-03-01", "gpt-4o"].flagged
    assert by_day["2025-03-01", "gpt-4o"].difference == Decimal("-0.01")
    assert by_day["2025-03-02", "gpt-4o"].flagged
    assert by_day["2025-03-03", "gpt-4o"].reason == "only on the bill"
    # without the provider filter the Anthropic model shows up on the gateway side only
    everything = reconcile(conn, bill, tolerance=Decimal("0.01"))
    assert [x.reason for x in everything if x.model == "claude"] == ["only in the gateway"]


def test_bill_errors_and_tolerance() -> None:
    assert parse_tolerance("0.5%") == Decimal("0.005")
    with pytest.raises(ValueError):
        parse_tolerance("abc")
    with pytest.raises(BillError, match="header lacks"):
        read_bill(["day,model,cost_usd\n"])
    with pytest.raises(BillError, match="line 2: bad date"):
        read_bill(["date,model,cost\n", "03/01/2025,m,1\n"])
    assert read_bill(["date,model,cost_usd\n", "2025-01-01,m,1\n", "2025-01-01,m,0.5\n"]) == {
        ("2025-01-01", "m"): Decimal("1.5")
    }
