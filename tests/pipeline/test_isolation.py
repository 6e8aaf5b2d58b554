"""No tenant can hurt another: a huge prompt does not stall the gateway, and a crafted one
cannot make a hard budget overspend."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path
from typing import Any

import pytest

from llmgw.providers.mock_transport import MockRequest, MockResponse
from tests.pipeline.harness import ZERO, Harness, completion, config, sync, words_stream

LETTERS = bytes(range(97, 123))
SMALL = {"model": "chat", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi."}]}
LIMITS = {
    "rpm": 1_000_000,
    "tpm": 1_000_000_000,
    "budgets": [{"period": "month", "limit_usd": "1000"}],
}


def letters(size: int) -> str:
    """``size`` random lowercase letters, no space: BPE over one giant pre-token."""
    return os.urandom(size).translate((LETTERS * 10)[:256]).decode()


def answers(request: MockRequest) -> MockResponse:
    """Answers without parsing the body: the upstream's work is not the gateway's."""
    if request.streamed:
        return words_stream(["Fine", "."])
    return MockResponse.json(completion("Fine."))


def limited_both() -> dict[str, Any]:
    """OpenAI model (exact tokenizer) on the scripted upstream; both tenants have limits."""
    cfg = config([{"provider": "a", "model": "gpt-4o-mini"}], limits=LIMITS)
    cfg["tenants"]["globex"]["limits"] = LIMITS
    return cfg


@sync
async def test_a_huge_prompt_does_not_delay_another_tenants_call(tmp_path: Path) -> None:
    """Before counting left the loop, each 4 MB prompt held it for ~5 s (twice per streamed
    Anthropic call). Another tenant calls every 10 ms meanwhile; by the loop's own clock, each
    call must be done within 200 ms of when it was due."""
    loop = asyncio.get_running_loop()
    async with Harness(tmp_path, limited_both(), answers) as h:
        plain = {"model": "chat", "messages": [{"role": "user", "content": letters(4_000_000)}]}
        streamed = {
            "model": "chat",
            "max_tokens": 16,
            "stream": True,
            "messages": [{"role": "user", "content": "\u200b" * 1_300_000}],
        }
        done = asyncio.Event()
        delays: list[float] = []
        statuses: list[int] = []

        async def victim() -> None:
            while not done.is_set() or len(delays) < 5:
                due = loop.time() + 0.01
                await asyncio.sleep(0.01)  # a late wake-up is a stalled loop: it counts
                reply = await h.chat(SMALL, key=h.other_key)
                delays.append(loop.time() - due)
                statuses.append(reply.status)

        calls = asyncio.ensure_future(victim())
        await asyncio.sleep(0.05)
        replies = await asyncio.gather(h.chat(plain), h.chat(streamed, path="/v1/messages"))
        done.set()
        await calls
        assert h.counters() == ZERO
    assert [r.status for r in replies] == [200, 200], [r.body[:200] for r in replies]
    assert set(statuses) == {200}
    assert max(delays) < 0.2, f"another tenant's call was {max(delays) * 1000:.0f} ms late"


@sync
async def test_a_whitespace_run_that_overflows_tiktoken_is_still_answered(tmp_path: Path) -> None:
    """4 MB of U+3000 made tiktoken's regex overflow its stack (PanicException, which is not
    an Exception): the call must be admitted, served and recorded like any other."""
    async with Harness(tmp_path, limited_both(), answers) as h:
        body = {
            "model": "chat",
            "max_tokens": 16,
            "stream": True,
            "messages": [{"role": "user", "content": "\u3000" * 1_300_000}],
        }
        reply = await h.chat(body, path="/v1/messages")
        rows = await h.rows()
    assert reply.status == 200
    types = [e["type"] for e in reply.events() if isinstance(e, dict)]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert [r["outcome"] for r in rows] == ["ok"]


# ------------------------------------------------------------------------- the budget bound

LIMIT_USD = "0.02"
LIMIT_NANOS = 20_000_000
SHAPES = {
    "spaces": " " * 40_000,
    "one repeated character": "a" * 40_000,
    "random letters": "".join(random.Random(7).choices("abcdefghijklmnopqrstuvwxyz", k=40_000)),
    "emoji": "\U0001f600" * 10_000,
    "cjk": "".join(chr(random.Random(8).randrange(0x4E00, 0x9FFF)) for _ in range(13_000)),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@sync
async def test_crafted_prompts_never_overspend_a_hard_budget(tmp_path: Path, shape: str) -> None:
    """The in-process mock bills input its own way (ASCII by fours, everything else by UTF-8
    bytes); the gateway has no tokenizer for it, so it must reserve the byte bound. Waves of
    concurrent calls run until the budget refuses them all; the audit log's spend must stay
    within the hard limit. With the proxy count, spaces reserved ~1/30 of their bill and
    emoji 1/4: these waves overspent by up to several times."""
    limits = {"budgets": [{"period": "month", "limit_usd": LIMIT_USD, "hard": True}]}
    cfg = config([{"provider": "m", "model": "mock-small"}], limits=limits)
    text = SHAPES[shape]
    async with Harness(tmp_path, cfg, answers) as h:
        refused = served = 0
        for wave in range(12):
            bodies = [
                {
                    "model": "chat",
                    "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"{wave}.{i} {text}"}],
                }
                for i in range(8)
            ]
            replies = await asyncio.gather(*(h.chat(b) for b in bodies))
            statuses = [r.status for r in replies]
            served += statuses.count(200)
            refused += statuses.count(429)
            assert set(statuses) <= {200, 429}, statuses
            if statuses.count(429) == len(statuses):
                break
        rows = await h.rows()
    assert served > 0 and refused > 0
    spent = sum(r["cost_nanos"] for r in rows if r["outcome"] == "ok")
    assert 0 < spent <= LIMIT_NANOS, f"{shape}: spent {spent} of {LIMIT_NANOS} nanodollars"
