"""The mock engine (pure) and the in-process MockProvider built on it."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import pytest

from llmgw.errors import UpstreamError
from llmgw.mock.faults import FaultTable, parse_fault
from llmgw.providers.mock import MockProvider
from llmgw.providers.mock_engine import (
    VOCABULARY,
    MockEngine,
    estimate_input_tokens,
    split_arguments,
)
from llmgw.settings.schema import ProviderConfig
from llmgw.types import ChatRequest, Chunk

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"type": "string", "enum": ["c", "f"]},
                "detailed": {"type": "boolean"},
                "where": {
                    "type": "object",
                    "properties": {"lat": {"type": "number"}},
                    "required": ["lat"],
                },
                "tags": {"type": "array", "items": {"type": "string"}},
                "optional": {"type": "string"},
            },
            "required": ["city", "days", "unit", "detailed", "where", "tags"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "clock", "parameters": {"type": "object"}}}


def req(text: str = "hello", **kw: Any) -> ChatRequest:
    return ChatRequest(model="m", messages=[{"role": "user", "content": text}], **kw)


def test_same_prompt_same_text_different_prompt_different_text() -> None:
    engine = MockEngine()
    a1, a2, b = engine.answer(req("alpha")), engine.answer(req("alpha")), engine.answer(req("beta"))
    assert a1.pieces == a2.pieces
    assert a1.pieces != b.pieces
    assert len(a1.pieces) == 16
    assert all(p in VOCABULARY and p.startswith(" ") for p in a1.pieces)
    # the model does not change the text
    other = ChatRequest(model="other", messages=[{"role": "user", "content": "alpha"}])
    assert engine.answer(other).pieces == a1.pieces


def test_text_is_stable_across_engines_and_output_tokens_knob() -> None:
    assert (
        MockEngine(output_tokens=4).answer(req("x")).pieces
        == MockEngine().answer(req("x")).pieces[:4]
    )


def test_max_tokens_caps_with_length_finish() -> None:
    answer = MockEngine().answer(req(max_tokens=5))
    assert len(answer.pieces) == 5
    assert answer.finish_reason == "length"
    assert answer.usage.output_tokens == 5
    roomy = MockEngine().answer(req(max_tokens=100))
    assert roomy.finish_reason == "stop"
    assert len(roomy.pieces) == 16


def test_stop_sequence_ends_text_before_it() -> None:
    full = MockEngine().answer(req()).text
    # a stop spanning two pieces: the end of piece 3 and the start of piece 4
    stop = full[len("".join(MockEngine().answer(req()).pieces[:3])) - 2 :][:4]
    answer = MockEngine().answer(req(stop=["never-there", stop]))
    assert answer.finish_reason == "stop"
    assert answer.text == full[: full.index(stop)]
    assert stop not in answer.text
    assert answer.usage.output_tokens == len(answer.pieces)
    assert MockEngine().answer(req(stop=["zzz"])).text == full


def test_usage_input_estimate_is_documented_formula() -> None:
    messages = [
        {"role": "system", "content": "x" * 10},  # 4 + 3
        {"role": "user", "content": [{"type": "text", "text": "y" * 8}]},  # 4 + 2
    ]
    assert estimate_input_tokens(messages) == 13
    answer = MockEngine().answer(ChatRequest(model="m", messages=messages))
    assert answer.usage.input_tokens == 13
    assert answer.usage.output_tokens == 16


def test_tool_call_with_schema_arguments() -> None:
    answer = MockEngine().answer(req("weather?", tools=[WEATHER, CLOCK]))
    assert answer.finish_reason == "tool_calls"
    assert answer.pieces == ()
    (call,) = answer.tool_calls
    assert call["function"]["name"] == "get_weather"
    args = json.loads(call["function"]["arguments"])
    assert set(args) == {"city", "days", "unit", "detailed", "where", "tags"}
    assert isinstance(args["city"], str) and args["city"]
    assert isinstance(args["days"], int) and not isinstance(args["days"], bool)
    assert args["unit"] in ("c", "f")
    assert isinstance(args["detailed"], bool)
    assert isinstance(args["where"]["lat"], float)
    assert isinstance(args["tags"], list) and isinstance(args["tags"][0], str)
    assert answer.usage.output_tokens > 0
    again = MockEngine().answer(req("weather?", tools=[WEATHER, CLOCK]))
    assert again.tool_calls == answer.tool_calls


def test_tool_choice_names_the_tool_and_none_disables() -> None:
    named = {"type": "function", "function": {"name": "clock"}}
    answer = MockEngine().answer(req(tools=[WEATHER, CLOCK], tool_choice=named))
    assert answer.tool_calls[0]["function"]["name"] == "clock"
    assert answer.tool_calls[0]["function"]["arguments"] == "{}"
    plain = MockEngine().answer(req(tools=[WEATHER], tool_choice="none"))
    assert plain.tool_calls == () and plain.finish_reason == "stop"


def test_after_tool_result_answers_text() -> None:
    call = MockEngine().answer(req(tools=[WEATHER])).tool_calls[0]
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "sunny"},
    ]
    answer = MockEngine().answer(ChatRequest(model="m", messages=messages, tools=[WEATHER]))
    assert answer.finish_reason == "stop"
    assert answer.tool_calls == () and len(answer.pieces) == 16


def test_chunks_text_then_finish_then_usage() -> None:
    engine = MockEngine(output_tokens=3)
    chunks = engine.chunks(req())
    assert [c.text for c in chunks[:3]] == list(engine.answer(req()).pieces)
    assert chunks[3] == Chunk(finish_reason="stop")
    assert chunks[4].usage is not None and chunks[4].usage.output_tokens == 3
    assert len(chunks) == 5


def test_chunks_split_tool_arguments_in_fragments() -> None:
    engine = MockEngine()
    chunks = engine.chunks(req(tools=[WEATHER]))
    deltas = [d for c in chunks for d in c.tool_calls or ()]
    assert deltas[0].id and deltas[0].name == "get_weather"
    fragments = [d.arguments for d in deltas]
    assert len([f for f in fragments if f]) >= 2
    full = engine.answer(req(tools=[WEATHER])).tool_calls[0]["function"]["arguments"]
    assert "".join(fragments) == full
    assert chunks[-2].finish_reason == "tool_calls"
    assert split_arguments("{}") == ["{", "}"]


def test_response_record() -> None:
    resp = MockEngine().response(req(max_tokens=2), "id-1", 123)
    assert (resp.id, resp.model, resp.created) == ("id-1", "m", 123)
    assert resp.finish_reason == "length" and resp.content and resp.usage.output_tokens == 2
    tool = MockEngine().response(req(tools=[CLOCK]), "id-2", 0)
    assert tool.content is None and tool.tool_calls and tool.finish_reason == "tool_calls"


def test_delay_and_knobs() -> None:
    engine = MockEngine(ttft_ms=100, tokens_per_s=10, output_tokens=4)
    assert engine.delay_s(engine.answer(req())) == pytest.approx(0.5)
    assert MockEngine.from_knobs({"ttft_ms": 5, "output_tokens": 2}).output_tokens == 2
    with pytest.raises(ValueError):
        MockEngine(ttft_ms=-1)
    with pytest.raises(ValueError):
        MockEngine.from_knobs({"ttft_ms": "fast"})


# ------------------------------------------------------------------------ MockProvider


def provider(*specs: str, **knobs: object) -> MockProvider:
    table = FaultTable([parse_fault(s) for s in specs], random.Random(0))
    return MockProvider(ProviderConfig(name="mock", kind="mock", mock=dict(knobs)), table)


async def _collect(p: MockProvider, r: ChatRequest) -> list[Chunk]:
    return [c async for batch in p.stream(r) for c in batch]


def test_provider_answers_like_the_engine() -> None:
    p = provider(output_tokens=4)
    assert p.kind == "mock" and p.name == "mock"
    resp = asyncio.run(p.complete(req()))
    assert resp.content == MockEngine(output_tokens=4).answer(req()).text
    chunks = asyncio.run(_collect(p, req()))
    assert "".join(c.text or "" for c in chunks) == resp.content
    asyncio.run(p.aclose())


@pytest.mark.parametrize(
    ("spec", "error_class"),
    [
        ("m=status:503", "overloaded"),
        ("m=status:500", "server_error"),
        ("m=status:400", "invalid_request"),
        ("m=rate_limit:3", "rate_limited"),
        ("m=reset", "connection"),
        ("m=no_response:0", "timeout"),
        ("m=context_length", "context_length_exceeded"),
    ],
)
def test_provider_request_faults_raise_upstream_errors(spec: str, error_class: str) -> None:
    with pytest.raises(UpstreamError) as info:
        asyncio.run(provider(spec).complete(req()))
    assert info.value.error_class == error_class
    if error_class == "rate_limited":
        assert info.value.retry_after == 3
    with pytest.raises(UpstreamError):
        asyncio.run(_collect(provider(spec), req()))


@pytest.mark.parametrize(
    ("spec", "error_class"), [("m=cut:2", "connection"), ("m=malformed:2", "server_error")]
)
def test_provider_stream_faults_strike_mid_stream(spec: str, error_class: str) -> None:
    seen: list[Chunk] = []

    async def run() -> None:
        async for batch in provider(spec).stream(req()):
            seen.extend(batch)

    with pytest.raises(UpstreamError) as info:
        asyncio.run(run())
    assert info.value.error_class == error_class
    assert len(seen) == 2 and all(c.text for c in seen)


def test_provider_batches_chunks_made_without_a_pause() -> None:
    async def batches(p: MockProvider) -> list[list[Chunk]]:
        return [b async for b in p.stream(req())]

    instant = asyncio.run(batches(provider(output_tokens=4)))
    assert len(instant) == 1  # no pacing: the whole answer is one burst
    paced = asyncio.run(batches(provider(output_tokens=4, tokens_per_s=1000)))
    assert len(paced) == 4  # one batch per paced token (finish and usage ride with the last)
    assert [c.text for b in paced for c in b if c.text] == [c.text for c in instant[0] if c.text]


def test_provider_content_filter_and_other_model() -> None:
    resp = asyncio.run(provider("m=content_filter").complete(req()))
    assert resp.finish_reason == "content_filter" and not resp.content
    # a fault for another model leaves this one alone
    assert asyncio.run(provider("other=reset").complete(req())).finish_reason == "stop"
    chunks = asyncio.run(_collect(provider("m=no_done"), req()))
    assert chunks[-2].finish_reason == "stop"
