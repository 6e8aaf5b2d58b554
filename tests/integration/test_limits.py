"""Tenant limits and budgets through a real gateway and the real openai SDK."""

from __future__ import annotations

import http.server
import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import httpx
import openai
import pytest

from tests.conftest import Proc, llmgw_cmd
from tests.conftest import start_gateway as start_common
from tests.integration.audit_rows import audit_row
from tests.integration.conftest import create_key

CONFIG = """
[limits]
alert_webhook = "http://127.0.0.1:{hook}/alerts"

[providers.fast]
kind = "mock"

[providers.slow]
kind = "mock"

[providers.slow.mock]
tokens_per_s = 20
output_tokens = 40

[providers.narrow]
kind = "mock"

[providers.narrow.mock]
tokens_per_s = 50
output_tokens = 10

[models.narrow]
deployments = [{ provider = "narrow", model = "mock-small", max_concurrency = 2 }]

[tenants.flood]
models = ["*"]

[tenants.calm]
models = ["*"]

[models.fast]
deployments = [{ provider = "fast", model = "mock-small" }]

[models.slow]
deployments = [{ provider = "slow", model = "mock-small" }]

[tenants.rl]
models = ["*"]
[tenants.rl.limits]
rpm = 5

[tenants.tok]
models = ["*"]
[tenants.tok.limits]
tpm = 400

[tenants.conc]
models = ["*"]
[tenants.conc.limits]
concurrency = 2

[tenants.money]
models = ["*"]
[[tenants.money.limits.budgets]]
period = "month"
limit_usd = "0.0001"

[tenants.soft]
models = ["*"]
[[tenants.soft.limits.budgets]]
period = "day"
limit_usd = "0.00001"
hard = false

[tenants.org]
models = ["*"]
[[tenants.org.limits.budgets]]
period = "month"
limit_usd = "0.002"

[tenants.cli]
models = ["*"]

[tenants.api]
models = ["*"]
"""

MSG = [{"role": "user", "content": "Tell me something"}]
ADMIN_KEY = "limits-admin"


class Hook(http.server.BaseHTTPRequestHandler):
    """Collects webhook posts."""

    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Env:
    gw: Proc
    home: Path
    state: Path
    config: Path
    keys: dict[str, str]

    def client(self, tenant: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.gw.url}/v1", api_key=self.keys[tenant], max_retries=0)


def start_gateway(home: Path, config: Path, state: Path) -> Proc:
    return start_common(home, config, state, env={"LLMGW_ADMIN_KEY": ADMIN_KEY})


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("limits")
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = home / "llmgw.toml"
    config.write_text(CONFIG.replace("{hook}", str(hook.server_address[1])))
    state = home / "state.db"
    tenants = (
        "rl",
        "tok",
        "conc",
        "money",
        "soft",
        "org/a",
        "org/b",
        "cli",
        "flood",
        "calm",
        "api",
    )
    keys = {t: create_key(state, t, "t") for t in tenants}
    gw = start_gateway(home, config, state)
    env = Env(gw, home, state, config, keys)
    yield env
    env.gw.stop()  # the one running now: a test restarts it
    hook.shutdown()


def test_rpm_limit_answers_429_with_retry_after_and_headers(env: Env) -> None:
    c = env.client("rl")
    raw = c.chat.completions.with_raw_response.create(model="fast", messages=MSG)
    assert raw.headers["x-ratelimit-limit-requests"] == "5"
    assert raw.headers["x-ratelimit-remaining-requests"] == "4"
    assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
    for _ in range(4):
        c.chat.completions.create(model="fast", messages=MSG)
    with pytest.raises(openai.RateLimitError) as info:
        c.chat.completions.create(model="fast", messages=MSG)
    assert info.value.code == "rate_limit_exceeded"
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 13
    row = audit_row(env.state, info.value.response.headers["x-request-id"])
    assert row["outcome"] == "rejected" and row["status"] == 429 and row["attempts"] == 0


def test_tpm_limit_counts_the_tokens_actually_used(env: Env) -> None:
    """Each call reserves prompt + 100 output tokens, then settles to what it used (~28)."""
    c = env.client("tok")
    ok = 0
    with pytest.raises(openai.RateLimitError) as info:
        for _ in range(40):
            c.chat.completions.create(model="fast", messages=MSG, max_tokens=100)
            ok += 1
    assert info.value.code == "rate_limit_exceeded"
    assert 8 <= ok <= 16  # ~400 / 28 minus the last call's 100-token reservation


def test_concurrency_limit(env: Env) -> None:
    c = env.client("conc")
    started = threading.Barrier(3, timeout=10)
    errors: list[Exception] = []

    def slow_stream() -> None:
        stream = c.chat.completions.create(model="slow", messages=MSG, stream=True)
        next(iter(stream))
        started.wait()
        for _ in stream:
            pass

    threads = [threading.Thread(target=slow_stream) for _ in range(2)]
    for t in threads:
        t.start()
    started.wait()
    try:
        c.chat.completions.create(model="fast", messages=MSG)
    except openai.RateLimitError as exc:
        errors.append(exc)
    for t in threads:
        t.join(10)
    assert errors and errors[0].code == "concurrency_limit_exceeded"  # type: ignore[attr-defined]
    assert c.chat.completions.create(model="fast", messages=MSG)  # slots freed after the streams


def spent(state: Path, tenant: str) -> int:
    time.sleep(0.3)  # the audit writer commits within 10-50 ms
    conn = sqlite3.connect(state)
    try:
        row = conn.execute(
            "SELECT coalesce(sum(cost_nanos), 0) FROM audit_log WHERE tenant = ? OR tenant LIKE ?",
            (tenant, tenant + "/%"),
        ).fetchone()
        return int(row[0])
    finally:
        conn.close()


def test_hard_budget_stops_before_it_is_overspent(env: Env) -> None:
    c = env.client("money")
    served = 0
    with pytest.raises(openai.RateLimitError) as info:
        for _ in range(50):
            c.chat.completions.create(model="fast", messages=MSG, max_tokens=50)
            served += 1
    assert info.value.code == "budget_exceeded"  # distinct from a rate limit
    assert served >= 3
    assert 0 < spent(env.state, "money") <= 100_000  # $0.0001 in nanodollars


def test_soft_budget_only_alerts(env: Env) -> None:
    c = env.client("soft")
    for _ in range(5):  # well past $0.00001
        c.chat.completions.create(model="fast", messages=MSG)
    assert spent(env.state, "soft") > 10_000
    conn = sqlite3.connect(env.state)
    try:
        rows = conn.execute(
            "SELECT threshold, hard, payload FROM budget_alerts WHERE node = 'soft' ORDER BY id"
        ).fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == [0.5, 0.8, 1.0] and not any(r[1] for r in rows)
    payload = json.loads(rows[-1][2])
    assert payload["percent"] == 100 and "burn_rate_usd_per_hour" in payload
    deadline = time.monotonic() + 5
    while len([a for a in Hook.received if a["node"] == "soft"]) < 3:
        assert time.monotonic() < deadline, Hook.received
        time.sleep(0.05)


def test_budget_holds_under_200_concurrent_streams(env: Env) -> None:
    """Two child keys share the org's $0.002 budget; 200 concurrent streams race for it."""
    results: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        c = env.client("org/a" if i % 2 else "org/b")
        try:
            for _ in c.chat.completions.create(
                model="fast",
                messages=[{"role": "user", "content": f"story {i}"}],
                max_tokens=20,
                stream=True,
            ):
                pass
            outcome = "ok"
        except openai.RateLimitError as exc:
            outcome = str(exc.code)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 200
    assert results.count("ok") > 50 and "budget_exceeded" in results
    assert spent(env.state, "org") <= 2_000_000  # never over the hard limit


def test_aborted_stream_pays_only_for_what_was_produced(env: Env) -> None:
    c = env.client("soft")
    stream = c.chat.completions.with_raw_response.create(model="slow", messages=MSG, stream=True)
    request_id = stream.headers["x-request-id"]
    for i, _ in enumerate(stream.parse()):
        if i == 5:
            break
    stream.http_response.close()
    row = audit_row(env.state, request_id)
    for _ in range(50):
        if row["outcome"] == "aborted":
            break
        time.sleep(0.1)
        row = audit_row(env.state, request_id)
    assert row["outcome"] == "aborted"
    assert 0 < row["output_tokens"] < 40
    assert 0 < row["cost_nanos"] < 150 * row["input_tokens"] + 600 * 40


def test_spend_survives_a_restart(env: Env) -> None:
    with pytest.raises(openai.RateLimitError):  # "money" spent its budget above
        env.client("money").chat.completions.create(model="fast", messages=MSG, max_tokens=50)
    env.gw.stop()
    env.gw = start_gateway(env.home, env.config, env.state)
    with pytest.raises(openai.RateLimitError) as info:
        env.client("money").chat.completions.create(model="fast", messages=MSG, max_tokens=50)
    assert info.value.code == "budget_exceeded"


def test_budget_set_from_the_cli_applies_to_a_running_gateway(env: Env) -> None:
    c = env.client("cli")
    c.chat.completions.create(model="fast", messages=MSG)  # spend something first
    out = subprocess.run(
        llmgw_cmd(
            "budgets", "set", "cli", "--monthly", "0.000001", "--hard", "--state", str(env.state)
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 5
    while True:
        try:
            c.chat.completions.create(model="fast", messages=MSG)
        except openai.RateLimitError as exc:
            assert exc.code == "budget_exceeded"
            break
        assert time.monotonic() < deadline, "the new budget never applied"
        time.sleep(0.2)


def test_fair_queue_keeps_a_calm_tenant_moving_through_a_flood(env: Env) -> None:
    """A deployment with 2 slots; one tenant floods it with 40 concurrent calls (~200 ms each).
    First-come-first-served would make the calm tenant wait ~4 s per call; the fair queue
    serves it next, and turns most of the flood away at once (per-tenant queue bound)."""
    flood, calm = env.client("flood"), env.client("calm")
    outcomes: list[str] = []
    lock = threading.Lock()

    def flood_one() -> None:
        try:
            flood.chat.completions.create(model="narrow", messages=MSG)
            result = "ok"
        except openai.RateLimitError as exc:
            result = str(exc.code)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=flood_one) for _ in range(40)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    waits = []
    for _ in range(5):
        t0 = time.monotonic()
        calm.chat.completions.create(model="narrow", messages=MSG)
        waits.append(time.monotonic() - t0)
    for t in threads:
        t.join(30)
    assert max(waits) < 1.2, waits  # a slot turnover or two, not the whole flood
    assert outcomes.count("deployment_at_capacity") >= 20  # refused at once, not queued
    assert "ok" in outcomes


def test_admin_api_sets_budgets_and_reports_usage(env: Env) -> None:
    def admin(method: str, path: str, **kw: object) -> httpx.Response:
        headers = {"authorization": f"Bearer {ADMIN_KEY}"}
        return httpx.request(method, f"{env.gw.url}{path}", headers=headers, **kw)

    c = env.client("api")
    c.chat.completions.create(model="fast", messages=MSG)
    r = admin("POST", "/admin/budgets/api", json={"period": "day", "limit_usd": "0.000001"})
    assert r.status_code == 200, r.text
    listed = {t["tenant"]: t for t in admin("GET", "/admin/budgets").json()["tenants"]}
    assert listed["api"]["source"] == "override"
    assert listed["money"]["budgets"][0]["limit_usd"] == "0.0001"
    deadline = time.monotonic() + 5
    while True:
        try:
            c.chat.completions.create(model="fast", messages=MSG)
        except openai.RateLimitError as exc:
            assert exc.code == "budget_exceeded"
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    deadline = time.monotonic() + 5  # the ledger is written in batches, a moment behind
    while True:
        usage = admin("GET", "/admin/usage", params={"by": "tenant"}).json()["rows"]
        if any(row["tenant"] == "api" and row["requests"] >= 2 for row in usage):
            break
        assert time.monotonic() < deadline, usage
        time.sleep(0.1)
    assert admin("GET", "/admin/usage", params={"by": "nonsense"}).status_code == 400
    assert admin("POST", "/admin/budgets/api", json={"period": "day"}).status_code == 400
    assert admin("DELETE", "/admin/budgets/api").json()["cleared"] is True
    tenant_key = {"authorization": f"Bearer {env.keys['api']}"}
    assert httpx.get(f"{env.gw.url}/admin/usage", headers=tenant_key).status_code == 401
