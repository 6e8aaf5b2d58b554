"""Prometheus metrics: names, labels and values in the text exposition."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmgw.audit.record import AuditRecord
from llmgw.ops.live import LiveState
from llmgw.ops.metrics import Metrics
from llmgw.routing.breaker import BreakerBoard
from llmgw.routing.clock import FakeClock
from llmgw.settings.parse import parse_settings
from llmgw.settings.schema import BreakerConfig

CONFIG = """
[providers.a]
kind = "mock"

[models.m1]
aliases = ["one"]
deployments = [{ provider = "a", model = "up-1" }, { provider = "a", model = "up-2" }]
"""


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[s.name, frozenset(s.labels.items())] = s.value
    return out


def labels(**kw: str) -> frozenset[tuple[str, str]]:
    return frozenset(kw.items())


def ok_call(**kw: Any) -> AuditRecord:
    base: dict[str, Any] = {
        "tenant": "acme",
        "requested_model": "one",
        "provider": "a",
        "served_model": "up-1",
        "attempt_log": (
            {"provider": "a", "model": "up-2", "error_class": "overloaded"},
            {"provider": "a", "model": "up-1", "error_class": None},
        ),
        "input_tokens": 10,
        "output_tokens": 4,
        "cached_tokens": 2,
        "cost_nanos": 1_500_000_000,
        "latency_ms": 1500.0,
        "ttft_ms": 300.0,
    }
    base.update(kw)
    return AuditRecord(**base)


@pytest.fixture
def live() -> LiveState:
    settings = parse_settings(tomllib.loads(CONFIG), "cfg.toml")
    clock = FakeClock()
    board = BreakerBoard(BreakerConfig(consecutive_failures=1), clock)
    return LiveState(settings, None, clock, breakers=board)


def test_call_metrics_names_and_labels(live: LiveState) -> None:
    live.observe(ok_call())
    live.observe(ok_call())
    live.observe(
        ok_call(
            requested_model="made-up-model",
            provider=None,
            served_model=None,
            attempt_log=(),
            outcome="rejected",
            error_class="budget_exceeded",
            cost_nanos=0,
            input_tokens=0,
            output_tokens=0,
            cached_tokens=0,
        )
    )
    s = samples(live.metrics)
    assert (
        s["llmgw_requests_total", labels(tenant="acme", model="m1", provider="a", status="ok")] == 2
    )
    assert (
        s[
            "llmgw_requests_total",
            labels(tenant="acme", model="other", provider="", status="rejected"),
        ]
        == 1
    )
    for direction, value in (("input", 20), ("output", 8), ("cached", 4)):
        key = labels(tenant="acme", model="up-1", provider="a", direction=direction)
        assert s["llmgw_tokens_total", key] == value
    assert s["llmgw_cost_dollars_total", labels(tenant="acme", model="up-1", provider="a")] == 3.0
    hist = labels(model="up-1", provider="a")
    assert s["llmgw_request_duration_seconds_count", hist] == 2
    assert s["llmgw_request_duration_seconds_sum", hist] == 3.0
    assert s["llmgw_request_duration_seconds_bucket", hist | {("le", "2.0")}] == 2
    assert s["llmgw_request_duration_seconds_bucket", hist | {("le", "1.0")}] == 0
    assert s["llmgw_time_to_first_token_seconds_bucket", hist | {("le", "0.3")}] == 2
    assert s["llmgw_limit_rejections_total", labels(tenant="acme", reason="budget")] == 1
    attempts = "llmgw_upstream_attempts_total"
    assert s[attempts, labels(provider="a", model="up-2", error_class="overloaded")] == 2
    assert s[attempts, labels(provider="a", model="up-1", error_class="none")] == 2


def test_every_configured_deployment_has_a_breaker_gauge(live: LiveState) -> None:
    s = samples(live.metrics)
    assert s["llmgw_breaker_state", labels(deployment="a/up-1")] == 0
    assert s["llmgw_breaker_state", labels(deployment="a/up-2")] == 0


def test_breaker_gauge_follows_the_board() -> None:
    settings = parse_settings(tomllib.loads(CONFIG), "cfg.toml")
    board = BreakerBoard(BreakerConfig(consecutive_failures=1), FakeClock())
    metrics = Metrics(settings, board)
    breaker = board.get("a/up-2")
    assert breaker.allow()
    breaker.record_failure("server_error")
    assert samples(metrics)["llmgw_breaker_state", labels(deployment="a/up-2")] == 2
    breaker.force("closed")
    assert samples(metrics)["llmgw_breaker_state", labels(deployment="a/up-2")] == 0


def test_cache_hits_counter(live: LiveState) -> None:
    live.cache_hit("acme", "semantic", 250)
    s = samples(live.metrics)
    assert s["llmgw_cache_hits_total", labels(tenant="acme", kind="semantic")] == 1
    assert live.cache.savings == {"acme": 250}


def test_every_family_has_help_and_llmgw_prefix(live: LiveState) -> None:
    live.observe(ok_call())
    families = list(text_string_to_metric_families(live.metrics.render().decode()))
    names = {f.name for f in families}
    assert {
        "llmgw_requests",
        "llmgw_tokens",
        "llmgw_cost_dollars",
        "llmgw_request_duration_seconds",
        "llmgw_time_to_first_token_seconds",
        "llmgw_breaker_state",
        "llmgw_limit_rejections",
        "llmgw_cache_hits",
        "llmgw_upstream_attempts",
    } <= names
    assert all(f.name.startswith("llmgw_") and f.documentation for f in families)
    cost = next(f for f in families if f.name == "llmgw_cost_dollars")
    assert "ledger" in cost.documentation
