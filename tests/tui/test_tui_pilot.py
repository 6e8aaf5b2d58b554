"""Behaviour of ``llmgw tui`` driven with Textual's Pilot: against a fake admin API with fixed
data, and against a real gateway fed by a scripted load for the breaker and fault actions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import typer
from textual.pilot import Pilot

from llmgw.limits.periods import period_start
from llmgw.store.db import open_db
from llmgw.tui.app import GatewayTUI
from llmgw.tui.screens import ConfirmScreen, HelpScreen, TenantScreen
from llmgw.tui.source import AdminSource
from llmgw.tui.state_source import StateSource
from llmgw.tui.widgets import TAIL_MAX, CallTail, DeploymentsTable, TenantsTable
from tests.conftest import free_port, llmgw_cmd, start_process
from tests.integration.conftest import create_key
from tests.tui.fake_admin import ADMIN_KEY, CALLS, STREAMED, FakeAdmin, fake_admin

pytestmark = pytest.mark.timeout(60)
SIZE = (160, 50)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAdmin]:
    with fake_admin() as server:
        yield server


async def until(pilot: Pilot[Any], cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Let the app run until ``cond()`` holds (data arrives over loopback HTTP)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


def drive(app: GatewayTUI, scenario: Callable[[Pilot[Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot)

    asyncio.run(main())


def order(app: GatewayTUI) -> list[str]:
    table = app.query_one(TenantsTable)
    return [str(table.coordinate_to_cell_key((i, 0)).row_key.value) for i in range(table.row_count)]


def loaded(app: GatewayTUI) -> Callable[[], bool]:
    return lambda: (
        app.query_one(TenantsTable).row_count == 5 and app.query_one(CallTail).row_count == 9
    )


def test_sorting_keys_reorder_tenants_and_keep_the_cursor(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, ADMIN_KEY))

    async def scenario(pilot: Pilot[Any]) -> None:
        await until(pilot, loaded(app))
        assert order(app) == ["globex", "acme", "acme/search", "umbrella", "initech"]
        table = app.query_one(TenantsTable)
        assert table.selected == "globex" and table.cursor_row == 0
        await pilot.press("b")
        assert order(app) == ["acme/search", "umbrella", "acme", "globex", "initech"]
        assert table.selected == "globex" and table.cursor_row == 3  # the cursor follows
        await pilot.press("r")
        assert order(app) == ["acme/search", "acme", "umbrella", "globex", "initech"]
        await pilot.press("up", "up")  # on "acme"
        await pilot.press("n")
        assert order(app) == ["acme", "acme/search", "globex", "initech", "umbrella"]
        assert table.selected == "acme" and table.cursor_row == 0
        await pilot.press("s")
        assert order(app)[0] == "globex"
        assert "sorted by spend today" in str(app.query_one("#status").render())

    drive(app, scenario)


def test_refresh_updates_rows_in_place(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, ADMIN_KEY), poll_s=0.1)

    async def scenario(pilot: Pilot[Any]) -> None:
        await until(pilot, loaded(app))
        table = app.query_one(TenantsTable)
        before = table.get_row("acme")
        polls = app.polls
        await until(pilot, lambda: app.polls >= polls + 3)
        assert table.get_row("acme") == before and table.row_count == 5

    drive(app, scenario)


def test_call_tail_is_newest_first_and_filters(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, ADMIN_KEY))

    async def scenario(pilot: Pilot[Any]) -> None:
        await until(pilot, loaded(app))
        tail = app.query_one(CallTail)
        first = tail.coordinate_to_cell_key((0, 0)).row_key.value
        assert first == STREAMED[-1]["id"]  # the last streamed call is on top
        last = tail.coordinate_to_cell_key((tail.row_count - 1, 0)).row_key.value
        assert last == CALLS[0]["id"]
        await pilot.press("slash")
        assert app.focused is app.query_one("#filter")
        await pilot.press(*"globex")
        assert tail.row_count == 2
        await pilot.press(*"/foo")
        assert tail.row_count == 0
        for _ in range(10):
            await pilot.press("backspace")
        await pilot.press(*"429")
        assert tail.row_count == 1
        assert tail.get_row_at(0)[1] == "acme/search"

    drive(app, scenario)


def test_call_tail_is_bounded() -> None:
    async def scenario() -> None:
        app = GatewayTUI(_NoSource(), stream=False)
        async with app.run_test(size=SIZE):
            tail = app.query_one(CallTail)
            tail.add_calls({**CALLS[0], "id": f"req_{i}"} for i in range(TAIL_MAX + 120))
            assert tail.row_count == TAIL_MAX and len(tail.calls) == TAIL_MAX
            assert tail.coordinate_to_cell_key((0, 0)).row_key.value == f"req_{TAIL_MAX + 119}"

    asyncio.run(scenario())


def test_enter_opens_the_tenant_drill_down(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, ADMIN_KEY))

    async def scenario(pilot: Pilot[Any]) -> None:
        await until(pilot, loaded(app))
        await pilot.press("n", "up", "up", "down", "enter")  # globex -> acme -> acme/search
        screen = app.screen
        assert isinstance(screen, TenantScreen) and screen.tenant == "acme/search"
        await until(pilot, lambda: screen.keys.row_count == 1)
        assert screen.errors.row_count == 1 and screen.calls.row_count == 1
        assert screen.models.get_row_at(0)[0] == "gpt-4o-mini"
        await pilot.press("escape")
        assert not isinstance(app.screen, TenantScreen)

    drive(app, scenario)


def test_help_lists_every_binding(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, ADMIN_KEY))

    async def scenario(pilot: Pilot[Any]) -> None:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("Static").render())
        for key in ("s / b / r / n", "enter", "/", "o", "c", "a", "f", "?", "q"):
            assert f"{key}  " in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

    drive(app, scenario)


def test_actions_reach_the_admin_api_only_after_confirmation(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, ADMIN_KEY))

    async def scenario(pilot: Pilot[Any]) -> None:
        await until(pilot, loaded(app))
        fake.actions.clear()
        app.query_one(DeploymentsTable).focus()
        # the first row, by name, is anthropic/claude-haiku-4-5
        await pilot.press("o")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert fake.actions == []
        for key in ("o", "c", "a", "f"):
            await pilot.press(key)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
        await until(pilot, lambda: len(fake.actions) == 4)
        dep = "/admin/breakers/anthropic/claude-haiku-4-5"
        assert sorted(fake.actions, key=str) == sorted(
            [
                ("POST", dep, {"force": "open"}),
                ("POST", dep, {"force": "closed"}),
                ("POST", dep, {"force": None}),
                (
                    "POST",
                    "/admin/faults",
                    {"deployment": "anthropic/claude-haiku-4-5", "kind": "outage", "for_s": 60.0},
                ),
            ],
            key=str,
        )

    drive(app, scenario)


def test_transitions_follow_the_highlighted_deployment(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, ADMIN_KEY))

    async def scenario(pilot: Pilot[Any]) -> None:
        await until(pilot, loaded(app))
        app.query_one(DeploymentsTable).focus()
        text = str(app.query_one("#transitions").render())
        assert "claude-haiku-4-5" in text and "cooldown over" in text
        await pilot.press("down")
        text = str(app.query_one("#transitions").render())
        assert "gemini-2.5-flash" in text and "forced open by operator" in text

    drive(app, scenario)


def test_q_quits(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, ADMIN_KEY))

    async def scenario(pilot: Pilot[Any]) -> None:
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running, timeout=5)

    drive(app, scenario)


def test_a_refused_key_shows_on_the_status_line(fake: FakeAdmin) -> None:
    app = GatewayTUI(AdminSource(fake.url, "wrong"), stream=False)

    async def scenario(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: app.polls >= 1)
        assert "refused the admin key" in str(app.query_one("#status").render())

    drive(app, scenario)


class _NoSource:
    """A source with nothing in it (for widget-level checks)."""

    label = "none"
    read_only = True

    async def snapshot(self) -> Any:
        from llmgw.tui.source import Snapshot

        return Snapshot()

    async def recent_calls(self, limit: int = 200) -> list[Any]:
        return []

    async def close(self) -> None:
        return None


# -- a real gateway fed by a scripted load --------------------------------------------------

GATEWAY_CONFIG = """
[audit]
flush_interval_s = 0.01

[providers.local]
kind = "mock"

[models.local-small]
deployments = [{ provider = "local", model = "mock-small" }]

[models.local-big]
deployments = [{ provider = "local", model = "mock-big" }]

[tenants.acme]
models = ["*"]

[tenants.globex]
models = ["*"]
"""
REAL_ADMIN_KEY = "tui-admin-key"


@dataclass
class RealGateway:
    url: str
    state: Path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealGateway]:
    home = tmp_path_factory.mktemp("tui-gw")
    config = home / "llmgw.toml"
    config.write_text(GATEWAY_CONFIG)
    state = home / "state.db"
    keys = {t: create_key(state, t, "tui") for t in ("acme", "globex")}
    port = free_port()
    proc = start_process(
        llmgw_cmd("serve", "--config", str(config), "--state", str(state), "--port", str(port)),
        home / "gw.log",
        f"http://127.0.0.1:{port}/readyz",
        env={"LLMGW_ADMIN_KEY": REAL_ADMIN_KEY},
    )
    try:
        for i in range(30):
            tenant = "acme" if i % 3 else "globex"
            client = openai.OpenAI(
                base_url=f"{proc.url}/v1", api_key=keys[tenant], max_retries=0, timeout=10
            )
            client.chat.completions.create(
                model="local-small" if i % 2 else "local-big",
                messages=[{"role": "user", "content": f"hello {i}"}],
            )
        yield RealGateway(proc.url, state)
    finally:
        proc.stop()


def admin_get(gw: RealGateway, path: str) -> Any:
    resp = httpx.get(
        f"{gw.url}{path}", headers={"Authorization": f"Bearer {REAL_ADMIN_KEY}"}, timeout=5
    )
    resp.raise_for_status()
    return resp.json()


def test_breaker_and_fault_actions_on_a_real_gateway(gateway: RealGateway) -> None:
    app = GatewayTUI(AdminSource(gateway.url, REAL_ADMIN_KEY))
    dep = "local/mock-big"

    def breaker() -> dict[str, Any]:
        rows = admin_get(gateway, "/admin/breakers")["breakers"]
        return next(r for r in rows if r["deployment"] == dep)

    async def confirm(pilot: Pilot[Any], key: str) -> None:
        await pilot.press(key)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")

    async def scenario(pilot: Pilot[Any]) -> None:
        table = app.query_one(DeploymentsTable)
        await until(pilot, lambda: table.row_count == 2)
        table.focus()
        assert table.selected == dep  # sorted by name: local/mock-big, local/mock-small
        await confirm(pilot, "o")
        await until(pilot, lambda: breaker()["forced"] == "open")
        await until(pilot, lambda: table.data[dep]["state"] == "open")  # the next poll shows it
        await confirm(pilot, "a")
        await until(pilot, lambda: breaker()["forced"] is None)
        await confirm(pilot, "f")
        await until(pilot, lambda: len(admin_get(gateway, "/admin/faults")["faults"]) == 1)
        fault = admin_get(gateway, "/admin/faults")["faults"][0]
        assert fault["deployment"] == dep

    try:
        drive(app, scenario)
    finally:
        httpx.delete(
            f"{gateway.url}/admin/faults",
            headers={"Authorization": f"Bearer {REAL_ADMIN_KEY}"},
            timeout=5,
        )


def test_state_file_of_the_real_gateway_shows_its_tenants(gateway: RealGateway) -> None:
    app = GatewayTUI(StateSource(gateway.state))

    async def scenario(pilot: Pilot[Any]) -> None:
        table = app.query_one(TenantsTable)
        await until(pilot, lambda: table.row_count == 2)
        assert set(table.data) == {"acme", "globex"}
        spend = {t: r["spend_month_nanos"] for t, r in table.data.items()}
        assert all(v >= 0 for v in spend.values())
        await until(pilot, lambda: app.query_one(CallTail).row_count >= 30)
        await pilot.press("o")  # read-only: no dialog, a warning instead
        assert not isinstance(app.screen, ConfirmScreen)
        assert "read-only" in str(app.query_one("#status").render())

    drive(app, scenario)


# -- a state file with a million audit rows ---------------------------------------------------


def make_big_state(path: Path, rows: int, now: float) -> None:
    """A state file with ``rows`` audit rows over the last 30 days, 200 tenants."""
    open_db(path).close()
    conn = sqlite3.connect(path)
    step = 30 * 86400 / rows
    conn.executemany(
        "INSERT INTO audit_log (id, ts, tenant, requested_model, provider, served_model, status,"
        " outcome, latency_ms, input_tokens, output_tokens, cost_nanos)"
        " VALUES (?, ?, ?, 'm', 'p', 'm', ?, ?, 100.0, 10, 20, 1000)",
        (
            (
                f"req_{i}",
                now - 30 * 86400 + i * step,
                f"t{i % 200}",
                200 if i % 10 else 500,
                "ok" if i % 10 else "error",
            )
            for i in range(rows)
        ),
    )
    conn.commit()
    conn.close()


def test_a_million_row_state_file_opens_and_renders_fast(tmp_path: Path) -> None:
    now = time.time()
    db = tmp_path / "big.db"
    make_big_state(db, 1_000_000, now)
    t0 = time.monotonic()
    app = GatewayTUI(StateSource(db))

    async def scenario(pilot: Pilot[Any]) -> None:
        table = app.query_one(TenantsTable)
        await until(pilot, lambda: table.row_count == 200 and app.query_one(CallTail).row_count)
        elapsed = time.monotonic() - t0
        print(f"\n1,000,000 audit rows: open + first render in {elapsed:.2f} s")
        assert elapsed < 6.0  # about 1 s on a laptop; generous for a loaded CI machine
        total = sum(r["spend_month_nanos"] for r in table.data.values())
        # every row after the start of the UTC month, at 1000 nanodollars each
        month_start = period_start("month", now)
        first = max(0, int((month_start - (now - 30 * 86400)) / (30 * 86400 / 1_000_000)) - 1)
        assert abs(total - (1_000_000 - first) * 1000) <= 2000

    drive(app, scenario)


# -- the command line -----------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> Any:
    from typer.testing import CliRunner

    from llmgw.cli.tui import tui

    cli = typer.Typer()
    cli.command()(tui)
    return CliRunner().invoke(cli, list(args), env=env or {})


@pytest.mark.parametrize(
    "args", [(), ("--gateway", "http://127.0.0.1:9", "--state", "x.db")], ids=["none", "both"]
)
def test_cli_needs_exactly_one_source(args: tuple[str, ...]) -> None:
    result = run_cli(*args)
    assert result.exit_code == 2
    assert "exactly one of --gateway" in result.output and "Traceback" not in result.output


def test_cli_unreachable_gateway_or_bad_key_is_one_line(fake: FakeAdmin) -> None:
    down = run_cli("--gateway", f"http://127.0.0.1:{free_port()}", "--admin-key", "k")
    assert down.exit_code == 1 and "cannot reach the gateway" in down.output
    refused = run_cli("--gateway", fake.url, "--admin-key", "wrong")
    assert refused.exit_code == 1 and "refused the admin key" in refused.output
    for result in (down, refused):
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_cli_missing_state_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("--state", str(tmp_path / "nope.db"))
    assert result.exit_code == 1 and "no state at" in result.output
