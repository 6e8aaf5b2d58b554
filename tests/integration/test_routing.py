"""Failover, breakers, timeouts and tenant routing policy, through a real gateway and mock.

Each mock fault gets one scenario with the outcome a caller sees asserted.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Proc, free_port, llmgw_cmd, start_process
from tests.conftest import start_gateway as start_common
from tests.integration.audit_rows import audit_row
from tests.integration.conftest import create_key

ADMIN_KEY = "admin-test-key"

FAULTS = (
    "primary-down=status:503",
    "reset-model=reset",
    "filtered=content_filter",
    "too-long=context_length",
    "slow-first=stall,after_tokens=0,seconds=3",
    "stall-mid=stall,after_tokens=3,seconds=3",
    "malformed-model=malformed,after_tokens=2",
    "no-done=no_done",
    "cut-model=cut,after_tokens=3",
    "rl-once=rate_limit,retry_after=1,count=1",
    "always-down=status:503",
)

CONFIG = """
[routing.breaker]
consecutive_failures = 3
min_calls = 50
open_s = 30
half_open_probes = 1

[routing.retry]
max_attempts = 3

[routing.timeouts]
ttft_s = 0.6
idle_s = 0.6
total_s = 10

[providers.a]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"

[providers.b]
kind = "anthropic"
base_url = "http://127.0.0.1:{mock}"

[models.failover]
deployments = [{{ provider = "a", model = "primary-down" }}, {{ provider = "b", model = "ok-b" }}]

[models.reset]
deployments = [{{ provider = "a", model = "reset-model" }}, {{ provider = "b", model = "ok-b" }}]

[models.slow-first]
deployments = [{{ provider = "a", model = "slow-first" }}, {{ provider = "b", model = "ok-b" }}]

[models.chain]
deployments = [{{ provider = "a", model = "always-down" }}]
fallbacks = ["backup"]

[models.backup]
deployments = [{{ provider = "b", model = "backup-model" }}]

[models.small-ctx]
deployments = [{{ provider = "a", model = "too-long" }}]
context_fallback = "big-ctx"

[models.big-ctx]
deployments = [{{ provider = "b", model = "big-ctx-model" }}]

[models.filtered]
deployments = [{{ provider = "a", model = "filtered" }}, {{ provider = "b", model = "ok-b" }}]

[models.stall-mid]
deployments = [{{ provider = "a", model = "stall-mid" }}]

[models.malformed]
deployments = [{{ provider = "a", model = "malformed-model" }}]

[models.cut]
deployments = [{{ provider = "a", model = "cut-model" }}]

[models.resumable]
deployments = [{{ provider = "a", model = "cut-model" }}, {{ provider = "b", model = "ok-b" }}]

[models.no-prefill]
deployments = [{{ provider = "a", model = "cut-model" }}, {{ provider = "a", model = "healthy-a" }}]

[models.no-done]
deployments = [{{ provider = "a", model = "no-done" }}]

[models.rl]
deployments = [{{ provider = "a", model = "rl-once" }}]

[models.down]
deployments = [{{ provider = "a", model = "always-down" }}]

[models.healthy]
deployments = [{{ provider = "a", model = "healthy-a" }}, {{ provider = "b", model = "ok-b" }}]

[tenants.acme]
models = ["*"]

[tenants.regulated]
models = ["*"]

[tenants.regulated.routing]
providers = ["a"]

[tenants.kind]
models = ["*"]

[tenants.kind.routing]
degraded_response = "We are busy right now; please try again shortly."
"""


@dataclass
class Env:
    mock: Proc
    gw: Proc
    state: Path
    config: Path
    keys: dict[str, str]

    def client(self, tenant: str = "acme") -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.gw.url}/v1", api_key=self.keys[tenant], max_retries=0)

    def admin(self, method: str, path: str, **kw: object) -> httpx.Response:
        return httpx.request(
            method, f"{self.gw.url}{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"}, **kw
        )


def start_gateway(env_dir: Path, config: Path, state: Path) -> Proc:
    env = {"LLMGW_ADMIN_KEY": ADMIN_KEY, "LLMGW_NO_BACKOFF": "1"}
    return start_common(env_dir, config, state, env=env)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    home = tmp_path_factory.mktemp("routing")
    mock_port = free_port()
    faults = [arg for spec in FAULTS for arg in ("--fault", spec)]
    mock = start_process(
        llmgw_cmd(
            "mock",
            "serve",
            "--port",
            str(mock_port),
            "--output-tokens",
            "12",
            "--tokens-per-s",
            "400",
            *faults,
        ),
        home / "mock.log",
        f"http://127.0.0.1:{mock_port}/healthz",
    )
    config = home / "llmgw.toml"
    config.write_text(CONFIG.format(mock=mock_port))
    state = home / "state.db"
    keys = {t: create_key(state, t, "t") for t in ("acme", "regulated", "kind")}
    gw = start_gateway(home, config, state)
    env = Env(mock, gw, state, config, keys)
    yield env
    env.gw.stop()  # the one running now: a test restarts it
    mock.stop()


MSG = [{"role": "user", "content": "hello there"}]


def served(raw: object) -> tuple[str, str]:
    headers = raw.headers  # type: ignore[attr-defined]
    return headers["x-llmgw-provider"], headers["x-llmgw-attempts"]


# -- request-level faults: failover before the first byte ----------------------------------


def test_status_503_fails_over(env: Env) -> None:
    raw = env.client().chat.completions.with_raw_response.create(model="failover", messages=MSG)
    assert served(raw) == ("b", "2")
    row = audit_row(env.state, raw.headers["x-request-id"])
    assert [a["error_class"] for a in json.loads(row["attempt_log"])] == ["overloaded", None]


def test_connection_reset_fails_over(env: Env) -> None:
    raw = env.client().chat.completions.with_raw_response.create(model="reset", messages=MSG)
    assert served(raw) == ("b", "2")


def test_slow_first_token_fails_over_within_ttft_timeout(env: Env) -> None:
    t0 = time.monotonic()
    stream = env.client().chat.completions.with_raw_response.create(
        model="slow-first", messages=MSG, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert text and stream.headers["x-llmgw-provider"] == "b"
    assert time.monotonic() - t0 < 2.5  # abandoned at ttft_s=0.6, not after the 3 s stall
    row = audit_row(env.state, stream.headers["x-request-id"])
    assert json.loads(row["attempt_log"])[0]["error_class"] == "timeout"


def test_fallback_model_chain(env: Env) -> None:
    raw = env.client().chat.completions.with_raw_response.create(model="chain", messages=MSG)
    assert raw.headers["x-llmgw-model"] == "backup-model"
    assert raw.headers["x-llmgw-fallback"] == "backup"
    assert raw.parse().model == "backup-model"  # the answer says what served it


def test_context_length_goes_to_the_larger_model_without_retrying(env: Env) -> None:
    raw = env.client().chat.completions.with_raw_response.create(model="small-ctx", messages=MSG)
    assert raw.headers["x-llmgw-model"] == "big-ctx-model"
    row = audit_row(env.state, raw.headers["x-request-id"])
    log = json.loads(row["attempt_log"])
    assert [a["error_class"] for a in log] == ["context_length_exceeded", None]


def test_content_filter_reaches_the_caller_and_is_not_retried(env: Env) -> None:
    resp = env.client().chat.completions.create(model="filtered", messages=MSG)
    assert resp.choices[0].finish_reason == "content_filter"


def test_rate_limit_is_retried_after_retry_after(env: Env) -> None:
    raw = env.client().chat.completions.with_raw_response.create(model="rl", messages=MSG)
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-llmgw-attempts"] == "2"
    row = audit_row(env.state, raw.headers["x-request-id"])
    assert [a["error_class"] for a in json.loads(row["attempt_log"])] == ["rate_limited", None]


# -- stream-level faults: never a truncated success ----------------------------------------


@pytest.mark.parametrize("model", ["stall-mid", "malformed", "cut"])
def test_broken_stream_ends_with_an_error_event(env: Env, model: str) -> None:
    stream = env.client().chat.completions.with_raw_response.create(
        model=model, messages=MSG, stream=True
    )
    got = []
    with pytest.raises(openai.APIError):
        for chunk in stream.parse():
            got.extend(c.delta.content or "" for c in chunk.choices)
    assert "".join(got)  # some of the answer had arrived before the break
    row = audit_row(env.state, stream.headers["x-request-id"])
    assert row["outcome"] == "error" and row["status"] == 200


def test_stream_broken_mid_answer_resumes_on_a_prefill_capable_fallback(env: Env) -> None:
    stream = env.client().chat.completions.with_raw_response.create(
        model="resumable", messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    text, finish, usage = [], None, None
    for chunk in stream.parse():  # no exception: the answer is whole
        usage = chunk.usage or usage
        for c in chunk.choices:
            text.append(c.delta.content or "")
            finish = c.finish_reason or finish
    assert finish == "stop" and len("".join(text).split()) > 3
    row = audit_row(env.state, stream.headers["x-request-id"])
    log = json.loads(row["attempt_log"])
    assert [(a["provider"], a["error_class"]) for a in log] == [("a", "connection"), ("b", None)]
    assert row["outcome"] == "ok" and row["provider"] == "b"
    assert usage is not None and row["output_tokens"] == usage.completion_tokens > 12


def test_stream_is_not_resumed_where_prefill_is_unsupported(env: Env) -> None:
    with pytest.raises(openai.APIError):
        for _ in env.client().chat.completions.create(
            model="no-prefill", messages=MSG, stream=True
        ):
            pass


def test_stream_without_done_is_finalised_promptly_with_usage(env: Env) -> None:
    t0 = time.monotonic()
    usage = None
    for chunk in env.client().chat.completions.create(
        model="no-done", messages=MSG, stream=True, stream_options={"include_usage": True}
    ):
        usage = chunk.usage or usage
    assert usage is not None and usage.completion_tokens == 12
    assert time.monotonic() - t0 < 1.0  # not held until the idle timeout


# -- breakers -----------------------------------------------------------------------------


def test_breaker_opens_and_all_down_answers_503_with_retry_after(env: Env) -> None:
    c = env.client()
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            c.chat.completions.create(model="down", messages=MSG)
    t0 = time.monotonic()
    with pytest.raises(openai.InternalServerError) as info:
        c.chat.completions.create(model="down", messages=MSG)
    assert time.monotonic() - t0 < 0.5  # fast: the open breaker is not even tried
    assert info.value.status_code == 503
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 30
    assert "circuit open" in info.value.message
    breakers = {b["deployment"]: b for b in env.admin("GET", "/admin/breakers").json()["breakers"]}
    assert breakers["a/always-down"]["state"] == "open"
    assert breakers["a/always-down"]["transitions"][-1]["to"] == "open"


def test_operator_forces_a_breaker_open_and_closed(env: Env) -> None:
    r = env.admin("POST", "/admin/breakers/a/healthy-a", json={"force": "open"})
    assert r.status_code == 200 and r.json()["state"] == "open"
    raw = env.client().chat.completions.with_raw_response.create(model="healthy", messages=MSG)
    assert served(raw) == ("b", "1")  # skipped without an attempt
    env.admin("POST", "/admin/breakers/a/healthy-a", json={"force": None})
    raw = env.client().chat.completions.with_raw_response.create(model="healthy", messages=MSG)
    assert served(raw) == ("a", "1")


def test_breakers_cli_live_and_from_saved_state(env: Env) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            llmgw_cmd("breakers", *args),
            capture_output=True,
            text=True,
            timeout=30,
            env={**os.environ, "LLMGW_ADMIN_KEY": ADMIN_KEY},
        )

    for _ in range(3):  # trip it (consecutive_failures = 3), whatever ran before
        with contextlib.suppress(openai.APIStatusError):
            env.client().chat.completions.create(model="down", messages=MSG)
    live = json.loads(cli("--gateway", env.gw.url, "--json").stdout)
    assert {r["deployment"]: r["state"] for r in live}["a/always-down"] == "open"
    forced = cli("force", "a/healthy-a", "open", "--gateway", env.gw.url)
    assert forced.returncode == 0 and "open" in forced.stdout
    assert cli("force", "a/healthy-a", "auto", "--gateway", env.gw.url).returncode == 0
    assert cli("force", "a/healthy-a", "sideways", "--gateway", env.gw.url).returncode == 2
    time.sleep(1.2)  # saved every second
    saved = json.loads(cli("--state", str(env.state), "--json").stdout)
    assert {r["deployment"]: r["state"] for r in saved}["a/always-down"] == "open"
    table = cli("--gateway", env.gw.url)
    assert table.returncode == 0 and "a/always-down" in table.stdout


def test_admin_api_needs_the_admin_key(env: Env) -> None:
    assert httpx.get(f"{env.gw.url}/admin/breakers").status_code == 401
    tenant = {"authorization": f"Bearer {env.keys['acme']}"}
    assert httpx.get(f"{env.gw.url}/admin/breakers", headers=tenant).status_code == 401


def test_injected_fault_on_a_running_gateway(env: Env) -> None:
    r = env.admin(
        "POST", "/admin/faults", json={"deployment": "a/healthy-a", "kind": "outage", "for_s": 30}
    )
    assert r.status_code == 201
    raw = env.client().chat.completions.with_raw_response.create(model="healthy", messages=MSG)
    assert served(raw) == ("b", "2")
    assert env.admin("DELETE", f"/admin/faults/{r.json()['id']}").status_code == 200
    raw = env.client().chat.completions.with_raw_response.create(model="healthy", messages=MSG)
    assert served(raw) == ("a", "1")


# -- tenant policy --------------------------------------------------------------------------


def test_regulated_tenant_is_never_routed_elsewhere(env: Env) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        env.client("regulated").chat.completions.create(model="failover", messages=MSG)
    assert info.value.status_code == 503
    row = audit_row(env.state, info.value.response.headers["x-request-id"])
    assert {a["provider"] for a in json.loads(row["attempt_log"])} == {"a"}


def test_regulated_tenant_cannot_use_a_model_with_no_allowed_deployment(env: Env) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        env.client("regulated").chat.completions.create(model="backup", messages=MSG)


def test_degraded_answer_is_marked(env: Env) -> None:
    raw = env.client("kind").chat.completions.with_raw_response.create(model="down", messages=MSG)
    assert raw.headers["x-llmgw-degraded"] == "true"
    assert raw.parse().choices[0].message.content.startswith("We are busy")
    row = audit_row(env.state, raw.headers["x-request-id"])
    assert row["outcome"] == "degraded" and row["cost_nanos"] == 0


def test_breaker_state_survives_a_restart(env: Env, tmp_path: Path) -> None:
    env.admin("POST", "/admin/breakers/b/backup-model", json={"force": "open"})
    time.sleep(1.5)  # the state is saved every second
    env.gw.stop()
    env.gw = start_gateway(tmp_path, env.config, env.state)
    breakers = {b["deployment"]: b for b in env.admin("GET", "/admin/breakers").json()["breakers"]}
    assert breakers["b/backup-model"]["forced"] == "open"
    assert breakers["a/always-down"]["state"] == "open"  # still cooling down after the restart
    env.admin("POST", "/admin/breakers/b/backup-model", json={"force": None})
