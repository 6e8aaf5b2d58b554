"""Live operations admin API through a real gateway in front of the real mock upstream."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Proc, free_port, llmgw_cmd, start_process
from tests.integration.conftest import create_key

ADMIN_KEY = "admin-live-key"

CONFIG = """
[audit]
flush_interval_s = 0.01

[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"

[models."gpt-4o-mini"]
deployments = [{{ provider = "up", model = "gpt-4o-mini" }}]

[models.down]
deployments = [{{ provider = "up", model = "broken-503" }}]

[tenants.acme]
models = ["*"]

[[tenants.acme.limits.budgets]]
period = "day"
limit_usd = "10"

[tenants.globex]
models = ["*"]

[tenants.idle]
models = ["gpt-4o-mini"]
"""

MSG = [{"role": "user", "content": "hello there"}]


@dataclass
class Env:
    gw: Proc
    keys: dict[str, str]

    def client(self, tenant: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.gw.url}/v1", api_key=self.keys[tenant], max_retries=0, timeout=10
        )

    def get(self, path: str, key: str | None = ADMIN_KEY, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {key}"} if key else {}
        return httpx.get(f"{self.gw.url}{path}", headers=headers, timeout=10, **kw)


@pytest.fixture(scope="module")
def env(mock_upstream: Proc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home: Path = tmp_path_factory.mktemp("admin-live")
    config = home / "llmgw.toml"
    config.write_text(CONFIG.format(mock=mock_upstream.url.rsplit(":", 1)[1]))
    state = home / "state.db"
    keys = {t: create_key(state, t, "live") for t in ("acme", "globex")}
    port = free_port()
    gw = start_process(
        llmgw_cmd("serve", "--config", str(config), "--state", str(state), "--port", str(port)),
        home / "gw.log",
        f"http://127.0.0.1:{port}/readyz",
        env={"LLMGW_ADMIN_KEY": ADMIN_KEY, "LLMGW_NO_BACKOFF": "1"},
    )
    env = Env(gw, keys)
    acme = env.client("acme")
    for _ in range(3):
        acme.chat.completions.create(model="gpt-4o-mini", messages=MSG)
    for _ in acme.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True):
        pass
    with pytest.raises(openai.APIStatusError):
        env.client("globex").chat.completions.create(model="down", messages=MSG)
    yield env
    gw.stop()


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """``check()`` once it stops raising AssertionError (calls are counted just after the
    answer is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def tenants(env: Env) -> dict[str, dict[str, Any]]:
    resp = env.get("/admin/tenants")
    assert resp.status_code == 200, resp.text
    return {t["tenant"]: t for t in resp.json()["tenants"]}


def test_tenants_list_live_figures_and_budgets(env: Env) -> None:
    def check() -> dict[str, dict[str, Any]]:
        rows = tenants(env)
        assert rows["acme"]["requests_per_min"] == 4
        assert rows["globex"]["errors_per_min"] == 1
        assert rows["acme"]["budgets"][0]["spent_nanos"] == rows["acme"]["spend_today_nanos"]
        return rows

    rows = eventually(check)
    acme = rows["acme"]
    assert acme["tokens_per_min"] > 0
    assert acme["spend_today_nanos"] > 0 and acme["spend_today"].startswith("$")
    assert acme["spend_month_nanos"] >= acme["spend_today_nanos"]
    assert acme["burn_per_hour_nanos"] == acme["spend_today_nanos"]
    assert len(acme["spark"]) == 30 and sum(acme["spark"]) == acme["spend_today_nanos"]
    (budget,) = acme["budgets"]
    assert budget["period"] == "day" and budget["limit_nanos"] == 10 * 10**9
    assert budget["spent_nanos"] == acme["spend_today_nanos"] and budget["hard"] is True
    assert budget["projected_exhaustion_at"] is None or budget["projected_exhaustion_at"] > 0
    assert rows["idle"]["requests_per_min"] == 0 and rows["idle"]["budgets"] == []


def test_one_tenant_with_keys_models_calls_and_errors(env: Env) -> None:
    eventually(lambda: _with_errors(env.get("/admin/tenants/globex").json()))
    acme = env.get("/admin/tenants/acme").json()
    assert [k["prefix"] for k in acme["keys"]] == [env.keys["acme"][:14]]
    assert set(acme["keys"][0]) >= {"id", "name", "prefix", "created_at"}
    assert "gpt-4o-mini" in acme["models"]
    assert len(acme["calls"]) == 4 and acme["errors"] == []
    assert all("request_body" not in c for c in acme["calls"])
    globex = eventually(lambda: _with_errors(env.get("/admin/tenants/globex").json()))
    assert globex["errors"][0]["error_class"] == "overloaded"
    missing = env.get("/admin/tenants/nobody")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def _with_errors(view: dict[str, Any]) -> dict[str, Any]:
    assert view["errors"]
    return view


def test_deployments_merge_breakers_and_latency(env: Env) -> None:
    def check() -> dict[str, dict[str, Any]]:
        resp = env.get("/admin/deployments")
        assert resp.status_code == 200
        deps = {d["deployment"]: d for d in resp.json()["deployments"]}
        assert deps["up/gpt-4o-mini"]["calls_per_min"] == 4
        return deps

    deps = eventually(check)
    ok = deps["up/gpt-4o-mini"]
    assert ok["state"] == "closed" and ok["error_rate"] == 0.0 and ok["in_flight"] == 0
    assert 0 < ok["latency_p50_ms"] <= ok["latency_p99_ms"]
    assert ok["ttft_p50_ms"] is not None
    down = deps["up/broken-503"]
    assert down["error_rate"] == 1.0 and down["latency_p50_ms"] is None
    assert isinstance(down["transitions"], list)


def test_recent_calls_filters(env: Env) -> None:
    calls = eventually(lambda: _nonempty(env.get("/admin/calls?tenant=globex&status=error")))
    assert {c["tenant"] for c in calls} == {"globex"} and calls[0]["status"] == 503
    assert len(env.get("/admin/calls?limit=2").json()["calls"]) == 2
    assert env.get("/admin/calls?limit=0").status_code == 400


def _nonempty(resp: httpx.Response) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = resp.json()["calls"]
    assert calls
    return calls


def test_cache_shape(env: Env) -> None:
    body = env.get("/admin/cache").json()
    assert body["enabled"] is True and body["hit_rate"] is None  # on by default, no traffic yet
    assert body["exact_hits"] == body["semantic_hits"] == body["misses"] == 0
    assert body["savings_nanos"] == 0 and body["by_tenant"] == []


@pytest.mark.parametrize("path", ["/admin/metrics", "/metrics"])
def test_metrics_exposition_behind_the_admin_key(env: Env, path: str) -> None:
    resp = env.get(path)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    requests = {
        (s.labels["tenant"], s.labels["status"]): s.value
        for s in families["llmgw_requests"].samples
    }
    assert requests[("acme", "ok")] == 4
    assert families["llmgw_breaker_state"].samples
    assert env.get(path, key=None).status_code == 401
    assert env.get(path, key=env.keys["acme"]).status_code == 401


def test_admin_views_need_the_admin_key(env: Env) -> None:
    assert env.get("/admin/tenants", key=env.keys["acme"]).status_code == 401
    assert env.get("/admin/calls/stream", key=None).status_code == 401


def test_call_stream_delivers_finished_calls(env: Env) -> None:
    events: list[dict[str, Any]] = []
    with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
        headers = {"authorization": f"Bearer {ADMIN_KEY}"}
        url = f"{env.gw.url}/admin/calls/stream?tenant=acme"
        with client.stream("GET", url, headers=headers) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            lines = resp.iter_lines()
            assert next(lines) == ": connected"
            threading.Thread(target=_calls, args=(env,), daemon=True).start()
            event = None
            for line in lines:
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "call":
                    events.append(json.loads(line[6:]))
                    break
    (call,) = events
    assert call["tenant"] == "acme" and call["outcome"] == "ok"
    assert {"id", "ts", "model", "provider", "latency_ms", "tokens", "cost_nanos"} <= set(call)
    assert "request_body" not in call
    # the gateway dropped the subscriber: the next views still answer quickly
    assert env.get("/admin/tenants").status_code == 200


def _calls(env: Env) -> None:
    env.client("globex").chat.completions.create(model="gpt-4o-mini", messages=MSG)
    env.client("acme").chat.completions.create(model="gpt-4o-mini", messages=MSG)


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        (True, "bad amount true: expected a number or a string such as"),
        ("ten", "bad amount 'ten': expected a plain decimal such as 25, 0.50 or $12.50"),
        ("-1", "bad amount '-1': must be non-negative"),
        (-0.5, "bad amount -0.5: must be non-negative"),
        ("NaN", "bad amount 'NaN': not a finite number"),
        ("0.0000000001", "finer than a nano-dollar (at most 9 decimal places)"),
        (0.1 + 0.2, "bad amount 0.30000000000000004: finer than a nano-dollar"),
        (1e12, "out of range (at most $1,000,000,000)"),
        (None, "bad amount: expected a number or a string such as"),
    ],
)
def test_bad_budget_amounts_are_openai_shaped_400s(env: Env, amount: object, reason: str) -> None:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    body = {"period": "day", "limit_usd": amount}
    resp = httpx.post(f"{env.gw.url}/admin/budgets/spare", headers=headers, json=body, timeout=10)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"
    assert error["message"].startswith("bad budget change: ") and reason in error["message"]
    assert env.get("/admin/budgets", params={"tenant": "spare"}).json() == {"tenants": []}


def test_budget_amounts_read_json_floats_and_dollar_strings_exactly(env: Env) -> None:
    headers = {"authorization": f"Bearer {ADMIN_KEY}"}
    url = f"{env.gw.url}/admin/budgets/spare"
    for amount in (0.1, "$2.50"):
        period = "day" if isinstance(amount, float) else "month"
        body = {"period": period, "limit_usd": amount}
        assert httpx.post(url, headers=headers, json=body, timeout=10).status_code == 200
    try:
        (node,) = env.get("/admin/budgets", params={"tenant": "spare"}).json()["tenants"]
        assert [(b["period"], b["limit_usd"]) for b in node["budgets"]] == [
            ("day", "0.1"),
            ("month", "2.50"),
        ]
    finally:
        assert httpx.delete(url, headers=headers, timeout=10).status_code == 200
