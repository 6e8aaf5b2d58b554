"""The Anthropic Messages codec against recorded wire fixtures and the real anthropic SDK."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from pydantic import TypeAdapter

from llmgw.errors import (
    AuthenticationFailed,
    BadRequest,
    GatewayError,
    InternalError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    UpstreamError,
)
from llmgw.types import ChatRequest, ChatResponse, Chunk, StreamMeta, ToolCallDelta, Usage
from llmgw.wire.anthropic import CODEC as codec
from llmgw.wire.anthropic.request_encode import DEFAULT_MAX_TOKENS
from llmgw.wire.sse import SseEvent, SseParser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "anthropic"
META = StreamMeta(id="abc123", model="claude-sonnet-4-5", created=1_700_000_000, input_tokens=12)
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def events_of(raw: bytes) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed(raw) + parser.close()


def decode_stream(raw: bytes) -> tuple[list[Chunk], bool]:
    decoder = codec.StreamDecoder()
    chunks = [c for ev in events_of(raw) for c in decoder.feed(ev)]
    return chunks, decoder.done


def encode_stream(chunks: list[Chunk], meta: StreamMeta = META) -> bytes:
    enc = codec.StreamEncoder(meta, include_usage=False)
    return enc.start() + b"".join(enc.feed(c) for c in chunks) + enc.finish()


def body(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model": "claude-haiku-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    }
    out.update(over)
    return out


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


# ------------------------------------------------------------------------------ decode_request


def test_fixture_request_decodes_to_canonical_record() -> None:
    raw = fixture_json("request_tools.json")
    original = copy.deepcopy(raw)
    req = codec.decode_request(raw)
    assert raw == original, "the caller's body must not be mutated"
    image_data = raw["messages"][0]["content"][1]["source"]["data"]
    assert req.model == "claude-sonnet-4-5"
    assert req.max_tokens == 1024
    assert req.stream is True and req.include_usage is True
    assert req.messages == [
        {"role": "system", "content": "You are a weather assistant.\nAnswer briefly."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is the weather like where this photo was taken?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image_data}"}},
            ],
        },
        {
            "role": "assistant",
            "content": "That looks like San Francisco.",
            "tool_calls": [
                call(
                    "toolu_01A09q90qw90lq917835lq9",
                    "get_weather",
                    '{"location":"San Francisco, CA","unit":"celsius"}',
                )
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "toolu_01A09q90qw90lq917835lq9",
            "content": "15 degrees, fog",
        },
        {"role": "user", "content": "And should I bring a jacket?"},
    ]
    assert req.tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": raw["tools"][0]["input_schema"],
                "description": "Get the current weather in a given location",
            },
        }
    ]
    assert req.tool_choice == "auto"
    assert req.stop == ["\n\nHuman:"]
    assert req.user == "user-42"
    assert req.extra == {
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "parallel_tool_calls": False,
    }


def test_named_params_and_extras() -> None:
    req = codec.decode_request(
        body(temperature=0.3, top_p=0.9, top_k=5, service_tier="auto", system="Be terse.")
    )
    assert req == ChatRequest(
        model="claude-haiku-4-5",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "hi"},
        ],
        max_tokens=100,
        temperature=0.3,
        top_p=0.9,
        extra={"top_k": 5, "service_tier": "auto"},
    )


def test_url_image_error_tool_result_and_dropped_tool_images() -> None:
    content = [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_1",
            "is_error": True,
            "content": [
                {"type": "text", "text": "boom"},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {"type": "text", "text": "again"},
            ],
        },
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "fine"},
        {"type": "image", "source": {"type": "url", "url": "https://x/z.png"}},
    ]
    req = codec.decode_request(body(messages=[{"role": "user", "content": content}]))
    assert req.messages == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: boom\nagain"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "fine"},
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "https://x/z.png"}}],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "f"}, {"type": "function", "function": {"name": "f"}}),
    ],
)
def test_tool_choice_maps_both_ways(choice: dict[str, Any], expected: Any) -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    req = codec.decode_request(body(tools=tools, tool_choice=choice))
    assert req.tool_choice == expected
    assert codec.encode_request(req)["tool_choice"] == choice


def test_final_assistant_prefill_may_be_empty_and_thinking_is_dropped() -> None:
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]},
    ]
    req = codec.decode_request(body(messages=messages))
    assert req.messages[-1] == {"role": "assistant", "content": None}


@pytest.mark.parametrize(
    ("over", "param"),
    [
        ({"model": None}, "model"),
        ({"model": ""}, "model"),
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"max_tokens": True}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": ["hi"]}, "messages.0"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages.0.content"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages.0.content.0"),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "messages.0.content.0.text",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "a"}]}]},
            "messages.0.content.0",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/bmp",
                                    "data": "x",
                                },
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.source.media_type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
            "messages.0.content.0.tool_use_id",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "a"},
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": []}],
                    },
                ]
            },
            "messages.1.content.0.input",
        ),
        ({"system": 5}, "system"),
        ({"system": [{"type": "image"}]}, "system.0.type"),
        ({"temperature": 1.5}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"stream": "yes"}, "stream"),
        ({"tools": {}}, "tools"),
        ({"tools": [{"name": "bad name", "input_schema": {}}]}, "tools.0.name"),
        ({"tools": [{"name": "f"}]}, "tools.0.input_schema"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0.type"),
        ({"tool_choice": "auto"}, "tool_choice"),
        ({"tool_choice": {"type": "required"}}, "tool_choice.type"),
        ({"tool_choice": {"type": "tool"}}, "tool_choice.name"),
        ({"metadata": {"user_id": 7}}, "metadata.user_id"),
    ],
)
def test_validation_names_the_offending_field(over: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        codec.decode_request(body(**over))
    assert info.value.param == param
    assert info.value.status == 400


def test_non_object_body_is_rejected() -> None:
    with pytest.raises(BadRequest):
        codec.decode_request([])  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ encode_request


def test_encode_request_builds_an_anthropic_body() -> None:
    req = ChatRequest(
        model="claude-sonnet-4-5-20250929",
        messages=[
            {"role": "system", "content": "Rule one."},
            {"role": "system", "content": [{"type": "text", "text": "Rule two."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [call("c1", "f", '{"a": 1}'), call("c2", "g", "not json")],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": "two"},
            {"role": "user", "content": "thanks"},
        ],
        temperature=1.7,
        stop=["END"],
        tools=[{"type": "function", "function": {"name": "f"}}],
        tool_choice="required",
        response_format={"type": "json_object"},
        seed=3,
        user="u1",
        stream=True,
        extra={"top_k": 3, "presence_penalty": 0.5, "metadata": {"team": "x"}},
    )
    assert codec.encode_request(req) == {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "Rule one.\nRule two.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x/a.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}},
                    {"type": "tool_use", "id": "c2", "name": "g", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "c1", "content": "one"},
                    {"type": "tool_result", "tool_use_id": "c2", "content": "two"},
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
        "temperature": 1.0,
        "stop_sequences": ["END"],
        "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "any"},
        "top_k": 3,
        "metadata": {"user_id": "u1"},
        "stream": True,
    }
    assert DEFAULT_MAX_TOKENS == 4096


def test_tool_choice_without_tools_is_dropped() -> None:
    req = ChatRequest(model="m", messages=[{"role": "user", "content": "x"}], tool_choice="auto")
    out = codec.encode_request(req)
    assert "tool_choice" not in out and "tools" not in out and "stream" not in out


def test_request_round_trip_from_anthropic_fixture() -> None:
    raw = fixture_json("request_tools.json")
    again = codec.encode_request(codec.decode_request(raw))
    assert again["system"] == "You are a weather assistant.\nAnswer briefly."
    assert again["tools"] == raw["tools"]
    assert again["tool_choice"] == raw["tool_choice"]
    assert again["thinking"] == raw["thinking"]
    assert again["metadata"] == raw["metadata"]
    assert again["messages"][0] == raw["messages"][0]
    # the thinking block has no canonical form; text and tool_use survive
    assert again["messages"][1]["content"] == raw["messages"][1]["content"][1:]
    assert again["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_01A09q90qw90lq917835lq9",
            "content": "15 degrees, fog",
        },
        {"type": "text", "text": "And should I bring a jacket?"},
    ]


def test_canonical_round_trip_through_anthropic_body() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": "thinking aloud",
                "tool_calls": [call("t1", "f", "{}")],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "r"},
            {"role": "assistant", "content": "done"},
        ],
        max_tokens=10,
        top_p=0.5,
        stop=["x"],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
        user="u",
        stream=True,
        include_usage=True,
    )
    assert codec.decode_request(codec.encode_request(req)) == req


# ----------------------------------------------------------------------------------- responses


def test_decode_text_response_fixture() -> None:
    resp = codec.decode_response(fixture_json("response_text.json"))
    assert resp == ChatResponse(
        id="msg_01XFDUDYJgAACzvnptvVoYEL",
        model="claude-sonnet-4-5-20250929",
        content="Hello! How can I help you today?",
        finish_reason="stop",
        usage=Usage(input_tokens=2060, output_tokens=9, cached_input_tokens=2048),
    )


def test_decode_tool_use_response_fixture() -> None:
    resp = codec.decode_response(fixture_json("response_tool_use.json"))
    assert resp.finish_reason == "tool_calls"
    assert resp.content == "I'll check the current weather in San Francisco for you."
    assert resp.tool_calls == [
        call(
            "toolu_01A09q90qw90lq917835lq9",
            "get_weather",
            '{"location":"San Francisco, CA","unit":"celsius"}',
        )
    ]
    assert resp.usage == Usage(input_tokens=384, output_tokens=71)


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(stop_reason: str, finish: str) -> None:
    raw = fixture_json("response_text.json")
    raw["stop_reason"] = stop_reason
    assert codec.decode_response(raw).finish_reason == finish


@pytest.mark.parametrize("bad", [[], {"content": "text"}, {"content": ["x"]}])
def test_malformed_response_is_a_server_error(bad: Any) -> None:
    with pytest.raises(UpstreamError) as info:
        codec.decode_response(bad)
    assert info.value.error_class == "server_error"


@pytest.mark.parametrize("fixture", ["response_text.json", "response_tool_use.json"])
def test_encoded_response_validates_with_sdk_and_round_trips(fixture: str) -> None:
    resp = codec.decode_response(fixture_json(fixture))
    encoded = codec.encode_response(resp)
    message = Message.model_validate(encoded)
    assert message.id == resp.id and message.type == "message"
    assert codec.decode_response(encoded) == resp


def test_encode_response_prefixes_id_and_maps_fields() -> None:
    resp = ChatResponse(
        id="chatcmpl-1",
        model="m",
        content=None,
        refusal="I can't help with that.",
        finish_reason="content_filter",
        tool_calls=[call("t1", "f", "broken")],
        usage=Usage(input_tokens=50, output_tokens=5, cached_input_tokens=30),
    )
    out = codec.encode_response(resp)
    assert out["id"] == "msg_chatcmpl-1"
    assert out["stop_reason"] == "refusal" and out["stop_sequence"] is None
    assert out["content"] == [
        {"type": "text", "text": "I can't help with that."},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
    ]
    assert out["usage"] == {
        "input_tokens": 20,
        "output_tokens": 5,
        "cache_read_input_tokens": 30,
        "cache_creation_input_tokens": 0,
    }
    Message.model_validate(out)


# ------------------------------------------------------------------------------------- streams


def test_decode_text_stream_fixture() -> None:
    chunks, done = decode_stream((FIXTURES / "stream_text.sse").read_bytes())
    assert done
    assert chunks == [
        Chunk(text="Hello"),
        Chunk(text="! How can"),
        Chunk(text=" I help?"),
        Chunk(finish_reason="stop"),
        Chunk(usage=Usage(input_tokens=25, output_tokens=15)),
    ]


def test_decode_tool_use_stream_fixture() -> None:
    chunks, done = decode_stream((FIXTURES / "stream_tool_use.sse").read_bytes())
    assert done
    text = "".join(c.text or "" for c in chunks)
    assert text == "Okay, let's check the weather for San Francisco, CA:"
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert deltas[0] == ToolCallDelta(
        index=0, id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather"
    )
    assert all(d.index == 0 and d.id is None for d in deltas[1:])
    arguments = "".join(d.arguments for d in deltas)
    assert json.loads(arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert chunks[-2:] == [
        Chunk(finish_reason="tool_calls"),
        Chunk(usage=Usage(input_tokens=472, output_tokens=89)),
    ]


def test_error_event_mid_stream_raises_classified_error() -> None:
    decoder = codec.StreamDecoder()
    events = events_of((FIXTURES / "stream_error.sse").read_bytes())
    texts = [c.text for ev in events[:-1] for c in decoder.feed(ev)]
    assert texts == ["Once upon"]
    with pytest.raises(UpstreamError) as info:
        decoder.feed(events[-1])
    assert info.value.error_class == "overloaded" and info.value.retryable
    assert "Overloaded" in info.value.message
    assert not decoder.done


@pytest.mark.parametrize(
    ("err_type", "message", "expected"),
    [
        ("rate_limit_error", "slow down", "rate_limited"),
        ("api_error", "internal", "server_error"),
        ("invalid_request_error", "prompt is too long: 300000 tokens", "context_length_exceeded"),
        ("authentication_error", "bad key", "auth"),
        ("mystery_error", "?", "server_error"),
    ],
)
def test_stream_error_types(err_type: str, message: str, expected: str) -> None:
    data = orjson.dumps({"type": "error", "error": {"type": err_type, "message": message}})
    with pytest.raises(UpstreamError) as info:
        codec.StreamDecoder().feed(SseEvent("error", data.decode()))
    assert info.value.error_class == expected


def test_malformed_stream_event_is_a_server_error() -> None:
    with pytest.raises(UpstreamError) as info:
        codec.StreamDecoder().feed(SseEvent("content_block_delta", "{not json"))
    assert info.value.error_class == "server_error"


def test_ping_and_unknown_events_are_ignored() -> None:
    decoder = codec.StreamDecoder()
    assert decoder.feed(SseEvent("ping", '{"type": "ping"}')) == []
    assert decoder.feed(SseEvent("future_event", '{"type": "future_event"}')) == []
    assert decoder.feed(SseEvent(None, "")) == []


def test_message_delta_with_cache_usage_overrides_start_usage() -> None:
    decoder = codec.StreamDecoder()
    start = {"type": "message_start", "message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}
    decoder.feed(SseEvent("message_start", json.dumps(start)))
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
        "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 7},
    }
    assert decoder.feed(SseEvent("message_delta", json.dumps(delta))) == [
        Chunk(finish_reason="length"),
        Chunk(usage=Usage(input_tokens=105, output_tokens=7, cached_input_tokens=100)),
    ]


TOOL_STREAM = [
    Chunk(text="Let me"),
    Chunk(text=" look."),
    Chunk(tool_calls=[ToolCallDelta(index=0, id="toolu_a", name="get_weather")]),
    Chunk(tool_calls=[ToolCallDelta(index=0, arguments='{"location":')]),
    Chunk(tool_calls=[ToolCallDelta(index=0, arguments=' "Paris"}')]),
    Chunk(tool_calls=[ToolCallDelta(index=1, id="toolu_b", name="get_time", arguments="{}")]),
    Chunk(finish_reason="tool_calls"),
    Chunk(usage=Usage(input_tokens=12, output_tokens=30)),
]


def test_encoder_event_order_and_sdk_event_types() -> None:
    raw = encode_stream(TOOL_STREAM)
    events = events_of(raw)
    assert [e.event for e in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    for event in events:
        data = json.loads(event.data)
        assert data["type"] == event.event
        if event.event != "ping":
            EVENT_ADAPTER.validate_python(data)
    start = json.loads(events[0].data)["message"]
    assert start["id"] == "msg_abc123" and start["content"] == []
    assert start["usage"] == {"input_tokens": 12, "output_tokens": 1}
    indexes = [json.loads(e.data).get("index") for e in events if e.event.startswith("content")]
    assert indexes == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]
    final = json.loads(events[-2].data)
    assert final["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert final["usage"]["output_tokens"] == 30


def merged(chunks: list[Chunk]) -> tuple[str, dict[int, list[str]], list[Any]]:
    """Text, tool calls by index as [id, name, arguments], and the closing fields, in order."""
    calls: dict[int, list[str]] = {}
    for delta in (d for c in chunks for d in c.tool_calls or []):
        parts = calls.setdefault(delta.index, ["", "", ""])
        parts[0] += delta.id or ""
        parts[1] += delta.name or ""
        parts[2] += delta.arguments
    closing = [c.finish_reason or c.usage for c in chunks if c.finish_reason or c.usage]
    return "".join(c.text or "" for c in chunks), calls, closing


def test_encoder_decoder_round_trip() -> None:
    chunks, done = decode_stream(encode_stream(TOOL_STREAM))
    assert done
    assert merged(chunks) == merged(TOOL_STREAM)
    assert merged(chunks)[1] == {
        0: ["toolu_a", "get_weather", '{"location": "Paris"}'],
        1: ["toolu_b", "get_time", "{}"],
    }


def test_encoder_defaults_without_finish_or_usage() -> None:
    enc = codec.StreamEncoder(META, include_usage=True)
    raw = enc.start() + enc.finish()
    assert enc.finish() == b""
    events = events_of(raw)
    assert [e.event for e in events] == ["message_start", "ping", "message_delta", "message_stop"]
    assert json.loads(events[2].data)["delta"]["stop_reason"] == "end_turn"
    assert json.loads(events[2].data)["usage"] == {"output_tokens": 0}


def test_encoder_error_event_round_trips_through_decoder() -> None:
    enc = codec.StreamEncoder(META, include_usage=False)
    raw = enc.error(UpstreamError("overloaded", "all deployments busy"))
    assert raw.startswith(b"event: error\ndata: {")
    (event,) = events_of(raw)
    assert json.loads(event.data) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "all deployments busy"},
    }
    with pytest.raises(UpstreamError) as info:
        codec.StreamDecoder().feed(event)
    assert info.value.error_class == "overloaded"


def sdk_client(handler: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test",
        base_url="http://127.0.0.1:9",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )


def test_real_sdk_accumulates_an_encoded_stream() -> None:
    raw = encode_stream(TOOL_STREAM)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = sdk_client(handler)
    with client.messages.stream(
        model="m", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        message = stream.get_final_message()
    assert message.id == "msg_abc123"
    assert message.stop_reason == "tool_use"
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[0].text == "Let me look."  # type: ignore[union-attr]
    assert message.content[1].input == {"location": "Paris"}  # type: ignore[union-attr]
    assert message.content[2].name == "get_time"  # type: ignore[union-attr]
    assert message.usage.output_tokens == 30 and message.usage.input_tokens == 12


def test_real_sdk_reads_response_and_errors() -> None:
    resp = codec.decode_response(fixture_json("response_tool_use.json"))
    enc = codec.StreamEncoder(META, include_usage=False)
    broken = enc.start() + enc.feed(Chunk(text="Hi")) + enc.error(UpstreamError("timeout", "slow"))

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent = orjson.loads(request.content)
        prompt = sent["messages"][0]["content"]
        if prompt == "limit":
            status, payload = codec.encode_error(UpstreamError("rate_limited", "too fast"))
            return httpx2.Response(status, json=payload)
        if sent.get("stream"):
            return httpx2.Response(
                200, headers={"content-type": "text/event-stream"}, content=broken
            )
        return httpx2.Response(200, json=codec.encode_response(resp))

    client = sdk_client(handler)
    message = client.messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "ok"}]
    )
    assert message.content[1].type == "tool_use"
    with pytest.raises(anthropic.RateLimitError, match="too fast"):
        client.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": "limit"}]
        )
    with pytest.raises(anthropic.APIStatusError, match="slow"):
        list(
            client.messages.create(
                model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}], stream=True
            )
        )


# -------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("err", "status", "err_type"),
    [
        (BadRequest("bad"), 400, "invalid_request_error"),
        (AuthenticationFailed("who"), 401, "authentication_error"),
        (PermissionDenied("no"), 403, "permission_error"),
        (NotFound("none"), 404, "not_found_error"),
        (PayloadTooLarge("big"), 413, "request_too_large"),
        (UpstreamError("rate_limited", "x"), 429, "rate_limit_error"),
        (InternalError("oops"), 500, "api_error"),
        (UpstreamError("server_error", "x"), 502, "api_error"),
        (UpstreamError("overloaded", "x"), 503, "overloaded_error"),
        (UpstreamError("timeout", "x"), 504, "timeout_error"),
        (UpstreamError("context_length_exceeded", "x"), 400, "invalid_request_error"),
    ],
)
def test_encode_error_table(err: GatewayError, status: int, err_type: str) -> None:
    got_status, payload = codec.encode_error(err)
    assert got_status == status == err.status
    assert payload == {"type": "error", "error": {"type": err_type, "message": err.message}}


@pytest.mark.parametrize(
    ("status", "fixture", "headers", "expected", "retry_after"),
    [
        (429, "error_429.json", {"retry-after": "7"}, "rate_limited", 7.0),
        (529, "error_529.json", {}, "overloaded", None),
        (400, "error_400_prompt_too_long.json", {}, "context_length_exceeded", None),
    ],
)
def test_decode_error_fixtures(
    status: int, fixture: str, headers: dict[str, str], expected: str, retry_after: float | None
) -> None:
    raw = (FIXTURES / fixture).read_bytes()
    err = codec.decode_error(status, raw, headers)
    assert err.error_class == expected
    assert err.upstream_status == status and err.provider == "anthropic"
    assert err.retry_after == retry_after
    message = json.loads(raw)["error"]["message"]
    assert err.message == f"anthropic {status}: {message}"


@pytest.mark.parametrize(
    ("status", "err_type", "message", "expected"),
    [
        (500, "overloaded_error", "Overloaded", "overloaded"),
        (400, "rate_limit_error", "x", "rate_limited"),
        (401, "authentication_error", "invalid x-api-key", "auth"),
        (403, "permission_error", "no access", "auth"),
        (400, "billing_error", "credit balance too low", "auth"),
        (404, "not_found_error", "model: x", "invalid_request"),
        (413, "request_too_large", "too big", "invalid_request"),
        (500, "api_error", "Internal server error", "server_error"),
        (504, "timeout_error", "timed out", "timeout"),
        (400, "invalid_request_error", "messages: bad", "invalid_request"),
    ],
)
def test_decode_error_classification(
    status: int, err_type: str, message: str, expected: str
) -> None:
    raw = orjson.dumps({"type": "error", "error": {"type": err_type, "message": message}})
    assert codec.decode_error(status, raw, {}).error_class == expected


def test_decode_error_tolerates_non_json_body() -> None:
    err = codec.decode_error(502, b"<html>Bad Gateway</html>", {"Retry-After": "2"})
    assert err.error_class == "server_error"
    assert err.message == "anthropic 502: <html>Bad Gateway</html>"
    assert err.retry_after == 2.0


def test_missing_and_invalid_fields_are_worded_apart() -> None:
    no_max = body()
    del no_max["max_tokens"]
    with pytest.raises(BadRequest, match=r"^max_tokens: Field required$"):
        codec.decode_request(no_max)
    with pytest.raises(BadRequest, match=r"^max_tokens: must be a positive integer$"):
        codec.decode_request(body(max_tokens=-3))
