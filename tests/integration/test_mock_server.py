"""``llmgw mock serve`` driven by the real OpenAI and Anthropic SDKs and by httpx for Gemini."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anthropic
import httpx
import openai
import pytest

from llmgw.mock.faults import parse_fault
from llmgw.mock.server import start_mock
from llmgw.providers.mock_engine import MockEngine
from llmgw.types import ChatRequest

pytestmark = pytest.mark.timeout(30)

T = TypeVar("T")
HI = [{"role": "user", "content": "hi"}]
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
EXPECTED = MockEngine().answer(ChatRequest(model="x", messages=HI)).text


def run(test: Callable[[str], Awaitable[T]], *faults: str, **knobs: float) -> T:
    """Start the mock on a free port, run ``test(base_url)``, stop the mock."""

    async def main() -> T:
        runner, port = await start_mock(faults=[parse_fault(f) for f in faults], **knobs)
        try:
            return await test(f"http://127.0.0.1:{port}")
        finally:
            await runner.cleanup()

    return asyncio.run(main())


def oai(base: str, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0, **kw)


def ant(base: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=base, api_key="x", max_retries=0)


async def sse_events(base: str, path: str, body: dict[str, Any]) -> list[str]:
    """Raw ``data:`` payloads of a streamed answer."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        resp = await client.post(path, json=body)
        assert resp.status_code == 200
        return [line[6:] for line in resp.text.splitlines() if line.startswith("data: ")]


# ----------------------------------------------------------------------------- OpenAI


def test_openai_plain_and_streamed() -> None:
    async def test(base: str) -> None:
        client = oai(base)
        resp = await client.chat.completions.create(model="gpt-4o", messages=HI)  # type: ignore[arg-type]
        assert resp.model == "gpt-4o"
        assert resp.choices[0].message.content == EXPECTED
        assert resp.choices[0].finish_reason == "stop"
        assert resp.usage is not None and resp.usage.completion_tokens == 16
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=HI,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        text, finish, usage = "", None, None
        async for chunk in stream:
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
                finish = chunk.choices[0].finish_reason or finish
            usage = chunk.usage or usage
        assert (text, finish) == (EXPECTED, "stop")
        assert usage is not None and usage.completion_tokens == 16

    run(test)


def test_openai_tool_call_plain_and_streamed() -> None:
    async def test(base: str) -> None:
        client = oai(base)
        resp = await client.chat.completions.create(
            model="gpt-4o",
            messages=HI,  # type: ignore[arg-type]
            tools=[WEATHER],  # type: ignore[list-item]
        )
        choice = resp.choices[0]
        assert choice.finish_reason == "tool_calls"
        call = choice.message.tool_calls[0]  # type: ignore[index]
        assert call.function.name == "get_weather"  # type: ignore[union-attr]
        args = json.loads(call.function.arguments)  # type: ignore[union-attr]
        assert set(args) == {"city", "days"}
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=HI,  # type: ignore[arg-type]
            tools=[WEATHER],  # type: ignore[list-item]
            stream=True,
        )
        pieces = []
        async for chunk in stream:
            for tc in chunk.choices[0].delta.tool_calls or () if chunk.choices else ():
                pieces.append(tc.function.arguments or "")  # type: ignore[union-attr]
        assert len([p for p in pieces if p]) >= 2
        assert json.loads("".join(pieces)) == args

    run(test)


def test_openai_max_tokens_and_stop() -> None:
    async def test(base: str) -> None:
        resp = await oai(base).chat.completions.create(
            model="m",
            messages=HI,  # type: ignore[arg-type]
            max_tokens=3,
        )
        assert resp.choices[0].finish_reason == "length"
        assert resp.usage is not None and resp.usage.completion_tokens == 3

    run(test)


# -------------------------------------------------------------------------- Anthropic


def test_anthropic_plain_and_streamed() -> None:
    async def test(base: str) -> None:
        client = ant(base)
        msg = await client.messages.create(model="claude-x", max_tokens=100, messages=HI)  # type: ignore[arg-type]
        assert msg.content[0].text == EXPECTED  # type: ignore[union-attr]
        assert msg.stop_reason == "end_turn" and msg.usage.output_tokens == 16
        async with client.messages.stream(
            model="claude-x",
            max_tokens=4,
            messages=HI,  # type: ignore[arg-type]
        ) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text == " " + " ".join(EXPECTED.split()[:4])
        assert final.stop_reason == "max_tokens"

    run(test)


# ----------------------------------------------------------------------------- Gemini


def test_gemini_plain_sse_and_array() -> None:
    path = "/v1beta/models/gemini-2.5-flash"

    async def test(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            resp = await client.post(
                f"{path}:generateContent", json=GEMINI_BODY, headers={"x-goog-api-key": "x"}
            )
            body = resp.json()
            assert resp.status_code == 200
            assert body["candidates"][0]["content"]["parts"][0]["text"] == EXPECTED
            assert body["candidates"][0]["finishReason"] == "STOP"
            assert body["usageMetadata"]["candidatesTokenCount"] == 16
            array = await client.post(f"{path}:streamGenerateContent", json=GEMINI_BODY)
            items = array.json()
            assert isinstance(items, list) and items[-1]["candidates"][0]["finishReason"]
        events = await sse_events(base, f"{path}:streamGenerateContent?alt=sse", GEMINI_BODY)
        parsed = [json.loads(e) for e in events]
        text = "".join(p["text"] for e in parsed for p in e["candidates"][0]["content"]["parts"])
        assert text == EXPECTED
        assert parsed[-1]["candidates"][0]["finishReason"] == "STOP"

    run(test)


# ----------------------------------------------------------------------------- faults


def test_fault_status() -> None:
    async def test(base: str) -> None:
        with pytest.raises(openai.InternalServerError) as info:
            await oai(base).chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
        assert info.value.status_code == 503
        with pytest.raises(anthropic.InternalServerError) as ainfo:
            await ant(base).messages.create(model="m", max_tokens=5, messages=HI)  # type: ignore[arg-type]
        assert ainfo.value.status_code == 503
        # other models are untouched
        ok = await oai(base).chat.completions.create(model="fine", messages=HI)  # type: ignore[arg-type]
        assert ok.choices[0].message.content == EXPECTED

    run(test, "m=status:503")


def test_fault_rate_limit() -> None:
    async def test(base: str) -> None:
        with pytest.raises(openai.RateLimitError) as info:
            await oai(base).chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
        assert info.value.status_code == 429
        assert info.value.response.headers["retry-after"] == "2"
        async with httpx.AsyncClient(base_url=base) as client:
            resp = await client.post("/v1beta/models/m:generateContent", json=GEMINI_BODY)
            assert resp.status_code == 429
            assert resp.json()["error"]["status"] == "RESOURCE_EXHAUSTED"

    run(test, "*=rate_limit,retry_after=2")


def test_fault_reset() -> None:
    async def test(base: str) -> None:
        with pytest.raises(openai.APIConnectionError):
            await oai(base).chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
        with pytest.raises(anthropic.APIConnectionError):
            await ant(base).messages.create(model="m", max_tokens=5, messages=HI)  # type: ignore[arg-type]
        ok = await oai(base).chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
        assert ok.choices[0].finish_reason == "stop"  # count=2 used up

    run(test, "m=reset,count=2")


def test_fault_no_response() -> None:
    async def test(base: str) -> None:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            await oai(base, timeout=0.3).chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
        assert time.monotonic() - started < 5
        # bounded by seconds: then the connection drops
        with pytest.raises(openai.APIConnectionError):
            await oai(base, timeout=5).chat.completions.create(model="short", messages=HI)  # type: ignore[arg-type]

    run(test, "m=no_response:30", "short=no_response:0.2")


def test_fault_stall() -> None:
    async def test(base: str) -> None:
        stream = await oai(base).chat.completions.create(
            model="m",
            messages=HI,  # type: ignore[arg-type]
            stream=True,
        )
        stamps: list[float] = []
        text = ""
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                stamps.append(time.monotonic())
                text += chunk.choices[0].delta.content
        assert text == EXPECTED  # then continues
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        assert gaps[1] >= 0.25  # between token 2 and token 3
        assert max(gaps[:1] + gaps[2:]) < 0.2

    run(test, "m=stall:0.3,after_tokens=2")


def test_fault_cut() -> None:
    async def test(base: str) -> None:
        body = {"model": "m", "messages": HI, "stream": True}
        events = await sse_events(base, "/v1/chat/completions", body)
        assert "[DONE]" not in events
        content = [json.loads(e)["choices"][0]["delta"].get("content") for e in events]
        assert [c for c in content if c] == [" " + w for w in EXPECTED.split()[:3]]
        assert len(content) == 4  # the role chunk and 3 tokens
        assert all(json.loads(e)["choices"][0]["finish_reason"] is None for e in events)

    run(test, "m=cut,after_tokens=3")


def test_fault_malformed() -> None:
    async def test(base: str) -> None:
        events = await sse_events(
            base, "/v1/chat/completions", {"model": "m", "messages": HI, "stream": True}
        )
        bad = []
        for e in events[:-1]:  # the last one is [DONE]
            try:
                json.loads(e)
            except json.JSONDecodeError:
                bad.append(e)
        assert len(bad) == 1
        with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces a decode error
            stream = await oai(base).chat.completions.create(
                model="m",
                messages=HI,  # type: ignore[arg-type]
                stream=True,
            )
            async for _ in stream:
                pass

    run(test, "m=malformed,after_tokens=1")


def test_fault_no_done() -> None:
    async def test(base: str) -> None:
        body = {
            "model": "m",
            "messages": HI,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        events = await sse_events(base, "/v1/chat/completions", body)
        assert events[-1] != "[DONE]"
        assert json.loads(events[-1])["usage"]["completion_tokens"] == 16
        async with httpx.AsyncClient(base_url=base) as client:
            resp = await client.post(
                "/v1/messages",
                json={"model": "m", "max_tokens": 50, "messages": HI, "stream": True},
            )
            assert "event: message_delta" in resp.text
            assert "message_stop" not in resp.text
        gem = await sse_events(base, "/v1beta/models/m:streamGenerateContent?alt=sse", GEMINI_BODY)
        assert not any("finishReason" in e for e in gem)

    run(test, "m=no_done")


def test_fault_context_length() -> None:
    async def test(base: str) -> None:
        with pytest.raises(openai.BadRequestError) as info:
            await oai(base).chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
        assert info.value.code == "context_length_exceeded"
        with pytest.raises(anthropic.BadRequestError) as ainfo:
            await ant(base).messages.create(model="m", max_tokens=5, messages=HI)  # type: ignore[arg-type]
        assert "prompt is too long: " in str(ainfo.value)
        async with httpx.AsyncClient(base_url=base) as client:
            resp = await client.post("/v1beta/models/m:generateContent", json=GEMINI_BODY)
        assert resp.status_code == 400
        assert resp.json()["error"]["status"] == "INVALID_ARGUMENT"
        assert "exceeds the maximum number of tokens allowed" in resp.json()["error"]["message"]

    run(test, "m=context_length")


def test_fault_content_filter() -> None:
    async def test(base: str) -> None:
        resp = await oai(base).chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
        assert resp.choices[0].finish_reason == "content_filter"
        msg = await ant(base).messages.create(model="m", max_tokens=5, messages=HI)  # type: ignore[arg-type]
        assert msg.stop_reason == "refusal"
        async with httpx.AsyncClient(base_url=base) as client:
            gem = await client.post("/v1beta/models/m:generateContent", json=GEMINI_BODY)
        assert gem.json()["candidates"][0]["finishReason"] == "SAFETY"

    run(test, "m=content_filter")


# ------------------------------------------------------------------ errors and control


def test_bad_requests_get_the_format_error_body() -> None:
    async def test(base: str) -> None:
        async with httpx.AsyncClient(base_url=base) as client:
            resp = await client.post("/v1/chat/completions", content=b"{nope")
            assert resp.status_code == 400 and resp.json()["error"]["type"]
            resp = await client.post("/v1/messages", json={"model": "m", "messages": HI})
            assert resp.status_code == 400 and resp.json()["type"] == "error"
            resp = await client.post("/v1/chat/completions", json={"model": "m"})
            assert resp.status_code == 400

    run(test)


def test_control_api_and_stats() -> None:
    async def test(base: str) -> None:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/healthz")).status_code == 200
            added = await client.post(
                "/_mock/faults", json={"kind": "status", "model": "m", "status": 500}
            )
            assert added.status_code == 201
            await client.post("/_mock/faults", json={"spec": "n=reset"})
            bad = await client.post("/_mock/faults", json={"kind": "explode"})
            assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]["message"]
            faults = (await client.get("/_mock/faults")).json()["faults"]
            assert [f["model"] for f in faults] == ["m", "n"]
            body = {"model": "m", "messages": HI}
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 500
            assert (await client.delete("/_mock/faults", params={"model": "m"})).json() == {
                "removed": 1
            }
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 200
            stats = (await client.get("/_mock/stats")).json()
            assert stats["by_model"] == {"m": 2}
            assert stats["by_path"] == {"/v1/chat/completions": 2}
            assert stats["faults_fired"] == {"status": 1}
            models = (await client.get("/v1/models")).json()
            assert "m" in [m["id"] for m in models["data"]]
            await client.post("/_mock/reset")
            assert (await client.get("/_mock/stats")).json()["requests"] == 0
            assert (await client.get("/_mock/faults")).json()["faults"] == []

    run(test)


def test_timing_knobs_pace_streams() -> None:
    async def test(base: str) -> None:
        started = time.monotonic()
        resp = await oai(base).chat.completions.create(model="m", messages=HI)  # type: ignore[arg-type]
        assert resp.usage is not None and resp.usage.completion_tokens == 4
        elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < 2  # 100 ms ttft + 4 tokens at 20/s

    run(test, ttft_ms=100, tokens_per_s=20, output_tokens=4)


# ------------------------------------------------------------------------------- CLI


def test_cli_serve_prints_address_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmgw", "mock", "serve", "--port", "0", "--fault", "m=status:502"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("llmgw mock listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        resp = httpx.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": HI})
        assert resp.status_code == 502
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_cli_bad_fault_is_one_line_exit_2() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "llmgw", "mock", "serve", "--fault", "m=explode"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 2
    assert "unknown kind" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
