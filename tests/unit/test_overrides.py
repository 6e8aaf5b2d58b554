"""Run-time limit overrides: JSON round trip, budget replacement, rates, clear, version."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmgw.limits import overrides
from llmgw.settings.schema import BudgetConfig, TenantLimits
from llmgw.store.schema import apply_migrations


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(":memory:", isolation_level=None)
    apply_migrations(db)
    yield db
    db.close()


BASE = TenantLimits(
    rpm=100,
    tpm=None,
    concurrency=4,
    budgets=(
        BudgetConfig(period="month", limit_usd=Decimal("100")),
        BudgetConfig(period="day", limit_usd=Decimal("5"), model="gpt-4o"),
    ),
)


def test_json_round_trip_keeps_exact_decimals() -> None:
    limits = TenantLimits(
        rpm=1,
        budgets=(
            BudgetConfig(period="window", limit_usd=Decimal("0.10"), hard=False, window_s=60),
        ),
    )
    text = overrides.limits_to_json(limits)
    assert '"limit_usd":"0.10"' in text
    back = overrides.limits_from_json(text)
    assert back == limits and str(back.budgets[0].limit_usd) == "0.10"


money = st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False)
rates = st.none() | st.integers(1, 10**9)


@given(rates, rates, rates, money, st.booleans())
def test_json_round_trip_property(
    rpm: int | None, tpm: int | None, conc: int | None, usd: Decimal, hard: bool
) -> None:
    budget = BudgetConfig(period="day", limit_usd=usd, hard=hard, model="m")
    limits = TenantLimits(rpm=rpm, tpm=tpm, concurrency=conc, budgets=(budget,))
    assert overrides.limits_from_json(overrides.limits_to_json(limits)) == limits


def test_set_budget_starts_from_base_and_replaces_same_key(conn: sqlite3.Connection) -> None:
    limits = overrides.set_budget(conn, "acme", "month", Decimal("250.50"), True, base=BASE)
    assert limits.rpm == 100 and limits.concurrency == 4
    assert [(b.period, b.model, b.limit_usd) for b in limits.budgets] == [
        ("day", "gpt-4o", Decimal("5")),
        ("month", None, Decimal("250.50")),
    ]
    # the stored override is the starting point now, not the base
    overrides.set_budget(conn, "acme", "day", "7", False, base=TenantLimits())
    overrides.set_budget(conn, "acme", "window", 1, True, window_s=3600)
    overrides.set_budget(conn, "acme", "window", 2, True, window_s=60)
    stored = overrides.load_overrides(conn)["acme"]
    keys = {(b.period, b.model, b.window_s): (b.limit_usd, b.hard) for b in stored.budgets}
    assert keys == {
        ("day", "gpt-4o", None): (Decimal("5"), True),
        ("month", None, None): (Decimal("250.50"), True),
        ("day", None, None): (Decimal("7"), False),
        ("window", None, 3600): (Decimal("1"), True),
        ("window", None, 60): (Decimal("2"), True),
    }
    assert stored.rpm == 100


def test_set_rates_keep_set_and_remove(conn: sqlite3.Connection) -> None:
    limits = overrides.set_rates(conn, "acme/search", rpm=60, base=BASE)
    assert (limits.rpm, limits.tpm, limits.concurrency) == (60, None, 4)
    assert limits.budgets == BASE.budgets
    limits = overrides.set_rates(conn, "acme/search", tpm=1000, concurrency=None)
    assert (limits.rpm, limits.tpm, limits.concurrency) == (60, 1000, None)
    assert overrides.get_override(conn, "acme/search") == limits
    assert overrides.get_override(conn, "acme") is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"period": "week", "limit_usd": 1}, "unknown budget period"),
        ({"period": "day", "limit_usd": -1}, "non-negative"),
        ({"period": "day", "limit_usd": 0.1 + 0.2}, "finer than a nano-dollar"),
        ({"period": "day", "limit_usd": "ten"}, "bad amount 'ten'"),
        ({"period": "day", "limit_usd": "NaN"}, "not a finite number"),
        ({"period": "day", "limit_usd": True}, "got a boolean"),
        ({"period": "day", "limit_usd": None}, "got nothing"),
        ({"period": "day", "limit_usd": "2000000000"}, "out of range"),
        ({"period": "window", "limit_usd": 1}, "window_s"),
        ({"period": "day", "limit_usd": 1, "window_s": 60}, "only a window"),
    ],
)
def test_bad_budgets_are_rejected(
    conn: sqlite3.Connection, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        overrides.set_budget(conn, "acme", **kwargs)  # type: ignore[arg-type]
    assert overrides.load_overrides(conn) == {}


@pytest.mark.parametrize(
    ("amount", "stored"),
    [(0.1, "0.1"), ("$12.50", "12.50"), (Decimal("1E+2"), "100"), (7, "7")],
)
def test_amounts_go_through_the_money_parser(
    conn: sqlite3.Connection, amount: object, stored: str
) -> None:
    """Floats (a JSON body's) read as their shortest repr, ``$`` is allowed, digits are kept."""
    limits = overrides.set_budget(conn, "acme", "day", amount)  # type: ignore[arg-type]
    assert str(limits.budgets[0].limit_usd) == stored
    assert f'"limit_usd":"{stored}"' in overrides.limits_to_json(limits)
    assert overrides.get_override(conn, "acme") == limits


def test_bad_tenant_and_rates(conn: sqlite3.Connection) -> None:
    with pytest.raises(ValueError, match="invalid tenant"):
        overrides.set_budget(conn, "Acme Corp", "day", 1)
    with pytest.raises(ValueError, match="positive integer"):
        overrides.set_rates(conn, "acme", rpm=0)
    with pytest.raises(ValueError, match="positive integer"):
        overrides.set_rates(conn, "acme", tpm=True)  # type: ignore[arg-type]
    assert overrides.version(conn) == 0


def test_version_bumps_on_every_change_and_clear(conn: sqlite3.Connection) -> None:
    assert overrides.version(conn) == 0
    overrides.set_budget(conn, "acme", "day", 1)
    v1 = overrides.version(conn)
    overrides.set_rates(conn, "acme", rpm=5, now=0.0)  # a clock going back does not matter
    v2 = overrides.version(conn)
    overrides.set_rates(conn, "beta", rpm=5)
    v3 = overrides.version(conn)
    assert overrides.clear(conn, "acme") is True
    v4 = overrides.version(conn)
    assert 0 < v1 < v2 < v3 < v4
    assert overrides.clear(conn, "acme") is False
    assert overrides.version(conn) == v4
    assert list(overrides.load_overrides(conn)) == ["beta"]


def test_remove_budget(conn: sqlite3.Connection) -> None:
    overrides.remove_budget(conn, "acme", "day:gpt-4o", base=BASE)
    assert [b.period for b in overrides.load_overrides(conn)["acme"].budgets] == ["month"]
    with pytest.raises(KeyError):
        overrides.remove_budget(conn, "acme", "day:gpt-4o")


def test_unmigrated_and_malformed_state() -> None:
    bare = sqlite3.connect(":memory:", isolation_level=None)
    assert overrides.version(bare) == 0
    assert overrides.load_overrides(bare) == {}
    assert overrides.clear(bare, "acme") is False
    apply_migrations(bare)
    bare.execute("INSERT INTO tenant_limits VALUES ('bad', '{\"rpm\": -3}', 1.0)")
    bare.execute("INSERT INTO tenant_limits VALUES ('worse', 'not json', 1.0)")
    overrides.set_rates(bare, "good", rpm=3)
    assert list(overrides.load_overrides(bare)) == ["good"]


def test_budget_spec_and_effective_limits() -> None:
    spec = overrides.budget_spec(
        BudgetConfig(period="window", limit_usd=Decimal("1.5"), window_s=60, model="m")
    )
    assert (spec.key, spec.limit_nanos, spec.window_s) == ("window60:m", 1_500_000_000, 60)
    config: dict[str, TenantLimits | None] = {"a": BASE, "b": None}
    mine = TenantLimits(rpm=1)
    assert overrides.effective_limits(config, {"a": mine}, "a") is mine
    assert overrides.effective_limits(config, {}, "a") is BASE
    assert overrides.effective_limits(config, {}, "c") is None
