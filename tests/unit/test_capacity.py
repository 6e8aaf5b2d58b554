"""CapacityBoard: provider rate-limit headers, the local rate governor, and the fair gate."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from llmgw.limits.capacity import CapacityBoard, parse_go_duration, parse_rate_headers
from llmgw.limits.model import Rejected
from llmgw.routing.clock import FakeClock
from llmgw.settings.schema import Deployment, ModelConfig, Settings

WALL = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def board(*deps: Deployment, timeout: float = 10.0) -> tuple[CapacityBoard, FakeClock, list[float]]:
    """A board on a fake clock whose sleeps advance the clock and are recorded."""
    clock = FakeClock(start=100.0, wall_start=WALL)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    return CapacityBoard(deps, clock, timeout, sleep=sleep), clock, slept


async def enter(b: CapacityBoard, dep: str, tokens: int = 0, tenant: str = "t") -> None:
    async with b.slot(dep, tenant, 1, tokens):
        pass


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("12ms", 0.012), ("1h2m3.5s", 3723.5), ("0s", 0.0), ("2", 2.0)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "1s2"])
def test_bad_durations(text: str) -> None:
    assert parse_go_duration(text) is None


def test_openai_headers() -> None:
    seen = parse_rate_headers(
        {
            "X-RateLimit-Limit-Requests": "5000",
            "x-ratelimit-remaining-requests": "4999",
            "x-ratelimit-reset-requests": "12ms",
            "x-ratelimit-remaining-tokens": "159976",
            "x-ratelimit-reset-tokens": "6m0s",
        },
        WALL,
    )
    assert seen.requests_remaining == 4999 and seen.requests_reset_s == pytest.approx(0.012)
    assert seen.tokens_remaining == 159976 and seen.tokens_reset_s == 360.0


def test_anthropic_headers_reset_is_an_rfc3339_time() -> None:
    seen = parse_rate_headers(
        {
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:30Z",
            "anthropic-ratelimit-tokens-remaining": "96000",
            "anthropic-ratelimit-tokens-reset": "2026-01-01T00:00:02+00:00",
        },
        WALL,
    )
    assert seen.requests_remaining == 0 and seen.requests_reset_s == 30.0
    assert seen.tokens_remaining == 96000 and seen.tokens_reset_s == 2.0


def test_no_rate_headers_is_empty() -> None:
    assert parse_rate_headers({"content-type": "application/json"}, WALL).empty


def test_provider_out_of_requests_holds_calls_until_its_reset() -> None:
    b, _clock, slept = board()
    reset = datetime.fromtimestamp(WALL + 3, UTC).isoformat()
    b.update_from_headers(
        "anthropic/claude",
        {
            "anthropic-ratelimit-requests-remaining": "1",
            "anthropic-ratelimit-requests-reset": reset,
        },
    )
    asyncio.run(enter(b, "anthropic/claude"))  # the last one left goes at once
    assert slept == []
    asyncio.run(enter(b, "anthropic/claude"))  # then the provider is out: wait for the reset
    assert slept == [3.0]
    asyncio.run(enter(b, "anthropic/claude"))  # after the reset the view is forgotten
    assert slept == [3.0]


def test_provider_hold_longer_than_the_queue_timeout_is_refused_at_once() -> None:
    b, _clock, slept = board(timeout=10.0)
    b.update_from_headers(
        "openai/gpt-4o",
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"},
    )
    with pytest.raises(Rejected) as info:
        asyncio.run(enter(b, "openai/gpt-4o"))
    assert info.value.kind == "rpm" and info.value.node == "openai/gpt-4o"
    assert info.value.retry_after_s == 360.0 and slept == []


def test_provider_tokens_left_below_the_call_holds_it() -> None:
    b, _clock, slept = board()
    b.update_from_headers(
        "openai/gpt-4o",
        {"x-ratelimit-remaining-tokens": "500", "x-ratelimit-reset-tokens": "2s"},
    )
    asyncio.run(enter(b, "openai/gpt-4o", tokens=400))
    assert slept == []
    asyncio.run(enter(b, "openai/gpt-4o", tokens=400))  # only 100 left by local count
    assert slept == [2.0]


def test_declared_rpm_is_a_bucket_of_one_minute() -> None:
    b, _clock, slept = board(Deployment("p", "m", rpm=60))
    for _ in range(60):
        asyncio.run(enter(b, "p/m"))
    assert slept == []
    asyncio.run(enter(b, "p/m"))  # the 61st waits one refill (1 s at 60/min)
    assert slept == [pytest.approx(1.0)]


def test_declared_tpm_refuses_when_the_wait_exceeds_the_timeout() -> None:
    b, _clock, _slept = board(Deployment("p", "m", tpm=6000), timeout=10.0)
    asyncio.run(enter(b, "p/m", tokens=6000))
    with pytest.raises(Rejected) as info:
        asyncio.run(enter(b, "p/m", tokens=3000))  # 30 s to refill 3000 at 100/s
    assert info.value.kind == "tpm" and info.value.retry_after_s == pytest.approx(30.0)


def test_max_concurrency_gate_is_fair_and_stats_show_it() -> None:
    b, _clock, _ = board(Deployment("p", "m", max_concurrency=1))

    async def scenario() -> None:
        release = asyncio.Event()

        async def hold() -> None:
            async with b.slot("p/m", "a", 1, 0):
                await release.wait()

        first = asyncio.create_task(hold())
        await asyncio.sleep(0)
        queued = asyncio.create_task(enter(b, "p/m", tenant="b"))
        await asyncio.sleep(0)
        gate = b.stats()["p/m"].gate
        assert gate is not None and gate.in_flight == 1 and gate.queued == {"b": 1}
        release.set()
        await asyncio.gather(first, queued)

    asyncio.run(scenario())
    gate = b.stats()["p/m"].gate
    assert gate is not None and gate.in_flight == 0 and gate.queued == {}


def test_unlimited_deployment_passes_straight_through() -> None:
    b, _, slept = board(Deployment("p", "m"))
    for _ in range(100):
        asyncio.run(enter(b, "p/m", tokens=10_000))
    assert slept == [] and b.stats() == {}


def test_from_settings_reads_every_model_and_the_queue_timeout() -> None:
    dep = Deployment("p", "m", max_concurrency=3, rpm=10)
    settings = Settings(providers={}, models={"chat": ModelConfig("chat", (dep,))}, tenants={})
    b = CapacityBoard.from_settings(settings, FakeClock())
    assert b.gates["p/m"].capacity == 3 and "p/m" in b.governors
    assert b.queue_timeout_s == settings.limits.queue_timeout_s
