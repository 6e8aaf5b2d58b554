"""SVG snapshots of ``llmgw tui`` against the fake admin API's fixed data.

Update after an intended change with ``pytest tests/tui/test_tui_snapshots.py --snapshot-update``
and look at the new SVGs under ``tests/tui/__snapshots__/`` before committing them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from llmgw.tui.app import GatewayTUI
from llmgw.tui.screens import TenantScreen
from llmgw.tui.source import AdminSource
from llmgw.tui.widgets import CallTail, TenantsTable
from tests.tui.fake_admin import ADMIN_KEY, FakeAdmin, fake_admin

pytest.importorskip("pytest_textual_snapshot")
pytestmark = pytest.mark.timeout(60)
SIZE = (160, 48)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAdmin]:
    with fake_admin() as server:
        yield server


def make_app(fake: FakeAdmin) -> GatewayTUI:
    source = AdminSource(fake.url, ADMIN_KEY)
    source.label = "http://gateway.example:8080"  # the fake's port changes from run to run
    return GatewayTUI(source)


async def until(pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def loaded(pilot: Pilot[Any]) -> None:
    app = pilot.app
    await until(
        pilot,
        lambda: (
            app.query_one(TenantsTable).row_count == 5 and app.query_one(CallTail).row_count == 9
        ),
    )
    await settle(pilot)


async def settle(pilot: Pilot[Any]) -> None:
    """Let tables lay out the rows they just got (column widths are computed when idle)."""
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.2)


def test_main_view(fake: FakeAdmin, snap_compare: Any) -> None:
    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=loaded)


def test_sorted_by_burn_with_filter(fake: FakeAdmin, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("b", "slash", *"acme")
        for field in pilot.app.query(Input):  # a blinking cursor would make the frame random
            field.cursor_blink = False
        await settle(pilot)

    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=run_before)


def test_tenant_drill_down(fake: FakeAdmin, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("enter")  # globex, top by spend today
        screen = pilot.app.screen
        assert isinstance(screen, TenantScreen)
        await until(pilot, lambda: screen.keys.row_count == 1)
        await settle(pilot)

    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=run_before)


def test_help_screen(fake: FakeAdmin, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")
        await settle(pilot)

    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=run_before)


def test_confirm_dialog(fake: FakeAdmin, snap_compare: Any) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("tab", "f")
        await until(pilot, lambda: getattr(pilot.app.focused, "id", None) == "no")
        await settle(pilot)

    assert snap_compare(make_app(fake), terminal_size=SIZE, run_before=run_before)
