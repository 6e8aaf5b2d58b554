"""Shadow traffic: config, sampling, the in-flight bound, and results stored in a run."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmgw.gateway.runtime import Gateway, build_gateway
from llmgw.replay import runs
from llmgw.replay.resend import ReplayItem
from llmgw.replay.runs import RunResult
from llmgw.replay.shadow import (
    Shadow,
    ShadowPolicy,
    load_shadow_policies,
    policy_for,
    save_in_state,
)
from llmgw.settings.fields import ConfigError
from llmgw.settings.parse import parse_settings
from llmgw.settings.schema import ModelConfig
from llmgw.store.db import open_db
from llmgw.types import ChatRequest


def raw_config(routing: dict[str, Any]) -> dict[str, Any]:
    return {
        "providers": {"local": {"kind": "mock"}},
        "models": {
            "live": {"deployments": [{"provider": "local", "model": "mock-live"}]},
            "candidate": {"deployments": [{"provider": "local", "model": "mock-cand"}]},
        },
        "tenants": {"acme": {"models": ["*"], "routing": routing}, "acme/search": {}},
    }


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (fixtures still resolve by signature)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(fn(*args, **kwargs))

    return wrapper


REQ = ChatRequest("live", [{"role": "user", "content": "hi"}], stream=True)


def test_settings_accept_and_check_shadow_keys() -> None:
    parse_settings(raw_config({"shadow_model": "candidate", "shadow_sample": 0.25}))
    for bad in (
        {"shadow_model": "nope"},
        {"shadow_model": "candidate", "shadow_sample": 1.5},
        {"shadow_sample": 0.5},
    ):
        with pytest.raises(ConfigError):
            parse_settings(raw_config(bad))


def test_policies_from_settings_and_nearest_tenant() -> None:
    settings = parse_settings(raw_config({"shadow_model": "candidate", "shadow_sample": 0.25}))
    policies = load_shadow_policies(settings)
    assert policies == {"acme": ShadowPolicy("candidate", 0.25)}
    assert policy_for(policies, "acme/search/prod") == ShadowPolicy("candidate", 0.25)
    assert policy_for(policies, "globex") is None
    default = load_shadow_policies(parse_settings(raw_config({"shadow_model": "candidate"})))
    assert default["acme"].sample == 0.1


@pytest.fixture
def gw(tmp_path: Path) -> Gateway:
    settings = parse_settings(raw_config({"shadow_model": "candidate", "shadow_sample": 1.0}))
    return build_gateway(settings, tmp_path / "state.db")


@sync
async def test_mirror_goes_through_the_gateway_and_is_stored(gw: Gateway, tmp_path: Path) -> None:
    shadow = Shadow(gw, {"acme": ShadowPolicy("candidate", 1.0)}, save_in_state(gw.state_path))
    assert shadow.maybe_mirror("acme/search", REQ, "req_1", api="openai")
    assert REQ.stream is True  # the live request is not touched
    await shadow.aclose()
    conn = open_db(gw.state_path)
    try:
        stored = runs.results(conn, "shadow:candidate")
        run = runs.get_run(conn, "shadow:candidate")
    finally:
        conn.close()
    assert run is not None and run["kind"] == "shadow" and run["target"] == "candidate"
    row = stored["req_1"]
    assert row["status"] == "ok" and row["output_tokens"] > 0
    body = orjson.loads(row["response_body"])
    assert body["model"] == "mock-cand" and body["choices"][0]["message"]["content"]


@sync
async def test_bounded_in_flight_drops_when_full(gw: Gateway) -> None:
    release = asyncio.Event()
    saved: list[RunResult] = []

    async def slow(_gw: Gateway, _model: ModelConfig, item: ReplayItem) -> RunResult:
        await release.wait()
        return RunResult(item.original_id, "ok")

    shadow = Shadow(
        gw,
        {"acme": ShadowPolicy("candidate", 1.0)},
        lambda _run, _target, result: saved.append(result),
        max_in_flight=2,
        send=slow,
    )
    started = [shadow.maybe_mirror("acme", REQ, f"req_{i}") for i in range(5)]
    assert started == [True, True, False, False, False]
    assert shadow.in_flight == 2 and shadow.dropped == 3
    release.set()
    await shadow.aclose()
    assert sorted(r.original_id for r in saved) == ["req_0", "req_1"]
    assert shadow.in_flight == 0
    assert shadow.maybe_mirror("acme", REQ, "req_9")  # room again
    await shadow.aclose()


@sync
async def test_sampling_and_unconfigured_tenants(gw: Gateway) -> None:
    async def fast(_gw: Gateway, _model: ModelConfig, item: ReplayItem) -> RunResult:
        return RunResult(item.original_id, "ok")

    shadow = Shadow(
        gw,
        {"acme": ShadowPolicy("candidate", 0.3)},
        lambda *_: None,
        rng=random.Random(7),
        send=fast,
        max_in_flight=10_000,
    )
    picked = sum(shadow.maybe_mirror("acme", REQ, f"r{i}") for i in range(2000))
    assert 500 < picked < 700
    assert not shadow.maybe_mirror("globex", REQ, "x")
    await shadow.aclose()


@sync
async def test_a_failing_mirror_is_contained(gw: Gateway) -> None:
    async def broken(_gw: Gateway, _model: ModelConfig, _item: ReplayItem) -> RunResult:
        raise RuntimeError("boom")

    shadow = Shadow(gw, {"acme": ShadowPolicy("candidate", 1.0)}, lambda *_: None, send=broken)
    assert shadow.maybe_mirror("acme", REQ, "r")
    await shadow.aclose()
    assert shadow.failed == 1
