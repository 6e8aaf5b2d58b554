"""The OpenAI chat-completions codec against recorded wire fixtures and the real openai SDK."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from llmgw.errors import (
    AuthenticationFailed,
    BadRequest,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    UpstreamError,
)
from llmgw.types import ChatRequest, ChatResponse, Chunk, StreamMeta, ToolCallDelta, Usage
from llmgw.wire.headers import retry_after_seconds
from llmgw.wire.openai import CODEC as codec
from llmgw.wire.sse import SseEvent, SseParser

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "openai"


def fixture_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def events_of(raw: bytes) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed(raw) + parser.close()


def decode_stream(raw: bytes) -> tuple[list[Chunk], bool]:
    decoder = codec.StreamDecoder()
    chunks = [c for ev in events_of(raw) for c in decoder.feed(ev)]
    return chunks, decoder.done


def body(**over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    out.update(over)
    return out


# ------------------------------------------------------------------------------ decode_request


def test_typical_request_keeps_callers_message_dict() -> None:
    msg = {"role": "user", "content": "hi"}
    req = codec.decode_request({"model": "gpt-4o", "messages": [msg]})
    assert req.messages[0] is msg
    assert req == ChatRequest(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_fixture_request_decodes_to_canonical_record() -> None:
    raw = fixture_json("request_tools.json")
    original = copy.deepcopy(raw)
    req = codec.decode_request(raw)
    assert raw == original, "the caller's body must not be mutated"
    assert req.model == "gpt-4o-mini"
    assert req.messages[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert req.messages[1:] == raw["messages"][1:]
    assert req.stream is True and req.include_usage is True
    assert req.max_tokens == 256
    assert req.temperature == 0.2
    assert req.tools == raw["tools"]
    assert req.tool_choice == "auto"
    assert req.extra == {"parallel_tool_calls": False, "metadata": {"team": "search"}}


def test_named_fields_and_extra() -> None:
    req = codec.decode_request(
        body(
            max_tokens=50,
            top_p=1,
            stop="END",
            seed=7,
            n=1,
            user="u-1",
            response_format={"type": "json_object"},
            tool_choice="none",
            presence_penalty=0.5,
            logit_bias={"50256": -100},
            reasoning_effort="low",
            some_future_key=[1, 2],
        )
    )
    assert (req.max_tokens, req.top_p, req.stop, req.seed, req.user) == (50, 1.0, ["END"], 7, "u-1")
    assert req.response_format == {"type": "json_object"}
    assert req.tool_choice == "none"
    assert req.extra == {
        "presence_penalty": 0.5,
        "logit_bias": {"50256": -100},
        "reasoning_effort": "low",
        "some_future_key": [1, 2],
    }


def test_content_parts_and_flattening() -> None:
    user_parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    req = codec.decode_request(
        body(
            messages=[
                {
                    "role": "system",
                    "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}],
                },
                {"role": "user", "content": user_parts},
                {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
                {"role": "user", "content": "thanks"},
            ]
        )
    )
    assert req.messages[0] == {"role": "system", "content": "be brief"}
    assert req.messages[1]["content"] is user_parts
    assert req.messages[2] == {"role": "assistant", "content": "a cat"}


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    req = codec.decode_request(body(max_tokens=10, max_completion_tokens=20))
    assert req.max_tokens == 20


def test_null_optionals_are_absent() -> None:
    req = codec.decode_request(body(stream=None, temperature=None, stop=None, tools=None, n=None))
    assert req == codec.decode_request(body())


BAD_REQUESTS: list[tuple[Any, str | None, str]] = [
    ([], None, "JSON object"),
    ({"messages": [{"role": "user", "content": "x"}]}, "model", "model"),
    (body(model=""), "model", "model"),
    (body(model=3), "model", "model"),
    (body(messages=[]), "messages", "non-empty"),
    (body(messages="hi"), "messages", "non-empty"),
    (body(messages=["hi"]), "messages[0]", "object"),
    (body(messages=[{"role": "robot", "content": "x"}]), "messages[0].role", "invalid role"),
    (body(messages=[{"content": "x"}]), "messages[0].role", "invalid role"),
    (
        body(messages=[{"role": "function", "name": "f", "content": "x"}]),
        "messages[0].role",
        "tool",
    ),
    (body(messages=[{"role": "user", "content": None}]), "messages[0].content", "user content"),
    (body(messages=[{"role": "user", "content": []}]), "messages[0].content", "empty"),
    (
        body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
        "messages[0].content[0].type",
        "unsupported",
    ),
    (
        body(messages=[{"role": "user", "content": [{"type": "text", "text": 1}]}]),
        "messages[0].content[0].text",
        "string",
    ),
    (
        body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": "u"}]}]),
        "messages[0].content[0].image_url.url",
        "url",
    ),
    (body(messages=[{"role": "system", "content": 5}]), "messages[0].content", "system"),
    (
        body(messages=[{"role": "developer", "content": [{"type": "image_url"}]}]),
        "messages[0].content[0]",
        "text",
    ),
    (body(messages=[{"role": "assistant", "content": None}]), "messages[0]", "tool_calls"),
    (body(messages=[{"role": "assistant"}]), "messages[0]", "tool_calls"),
    (
        body(messages=[{"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}]),
        "messages[0].tool_calls[0].type",
        "function",
    ),
    (
        body(
            messages=[
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}],
                }
            ]
        ),
        "messages[0].tool_calls[0].function.arguments",
        "arguments",
    ),
    (body(messages=[{"role": "tool", "content": "x"}]), "messages[0].tool_call_id", "tool_call_id"),
    (
        body(messages=[{"role": "tool", "tool_call_id": "c", "content": 1}]),
        "messages[0].content",
        "tool content",
    ),
    (body(stream="yes"), "stream", "boolean"),
    (body(stream_options={"include_usage": True}), "stream_options", "stream"),
    (body(stream=True, stream_options=[]), "stream_options", "object"),
    (
        body(stream=True, stream_options={"include_usage": "yes"}),
        "stream_options.include_usage",
        "boolean",
    ),
    (body(max_tokens=0), "max_tokens", "positive"),
    (body(max_tokens=1.5), "max_tokens", "positive"),
    (body(max_tokens=True), "max_tokens", "positive"),
    (body(max_completion_tokens=-1), "max_completion_tokens", "positive"),
    (body(temperature=2.5), "temperature", "between 0 and 2"),
    (body(temperature=-0.1), "temperature", "between"),
    (body(temperature="1"), "temperature", "number"),
    (body(top_p=1.1), "top_p", "between 0 and 1"),
    (body(stop=["a", "b", "c", "d", "e"]), "stop", "at most 4"),
    (body(stop=[1]), "stop", "string"),
    (body(tools=[]), "tools", "non-empty"),
    (body(tools=[{"type": "retrieval"}]), "tools[0].type", "function"),
    (body(tools=[{"type": "function"}]), "tools[0].function", "object"),
    (body(tools=[{"type": "function", "function": {}}]), "tools[0].function.name", "name"),
    (
        body(tools=[{"type": "function", "function": {"name": "has space"}}]),
        "tools[0].function.name",
        "name",
    ),
    (
        body(tools=[{"type": "function", "function": {"name": "f", "parameters": []}}]),
        "tools[0].function.parameters",
        "object",
    ),
    (body(tool_choice="any"), "tool_choice", "auto"),
    (body(tool_choice="required"), "tool_choice", "tools"),
    (
        body(tool_choice={"type": "function", "function": {"name": "f"}}),
        "tool_choice",
        "tools",
    ),
    (body(tool_choice={"type": "function", "function": {}}), "tool_choice.function.name", "name"),
    (body(tool_choice=3), "tool_choice", "auto"),
    (body(response_format={"type": "xml"}), "response_format.type", "json_schema"),
    (body(response_format="json"), "response_format.type", "json_schema"),
    (
        body(response_format={"type": "json_schema", "json_schema": {}}),
        "response_format.json_schema",
        "name",
    ),
    (body(seed=1.5), "seed", "integer"),
    (body(n=2), "n", "n > 1 is not supported"),
    (body(n=0), "n", "positive"),
    (body(user=5), "user", "string"),
]


@pytest.mark.parametrize(("raw", "param", "needle"), BAD_REQUESTS)
def test_validation_errors_name_the_field(raw: Any, param: str | None, needle: str) -> None:
    with pytest.raises(BadRequest) as info:
        codec.decode_request(raw)
    assert info.value.param == param
    assert needle in info.value.message
    assert info.value.status == 400


# ------------------------------------------------------------------------------ encode_request


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("gpt-4o-mini", "max_tokens"),
        ("llama3.1:8b", "max_tokens"),
        ("o1", "max_completion_tokens"),
        ("o3-mini", "max_completion_tokens"),
        ("o4-mini-2025-04-16", "max_completion_tokens"),
        ("gpt-5", "max_completion_tokens"),
        ("gpt-5-nano", "max_completion_tokens"),
        ("omni-model", "max_tokens"),
    ],
)
def test_max_tokens_key_depends_on_model(model: str, key: str) -> None:
    out = codec.encode_request(ChatRequest(model=model, messages=[], max_tokens=99))
    assert out[key] == 99
    assert {"max_tokens", "max_completion_tokens"} - {key} & out.keys() == set()


def test_encode_request_omits_none_and_forces_stream_usage() -> None:
    plain = codec.encode_request(
        ChatRequest(model="m", messages=[{"role": "user", "content": "x"}])
    )
    assert plain == {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    streamed = codec.encode_request(
        ChatRequest(
            model="m", messages=[], stream=True, include_usage=False, extra={"store": False}
        )
    )
    assert streamed == {
        "model": "m",
        "messages": [],
        "stream": True,
        "stream_options": {"include_usage": True},
        "store": False,
    }


def test_named_fields_win_over_extra() -> None:
    out = codec.encode_request(ChatRequest(model="m", messages=[], seed=1, extra={"seed": 2}))
    assert out["seed"] == 1


def test_request_round_trip() -> None:
    req = ChatRequest(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "t"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ],
        stream=True,
        max_tokens=10,
        temperature=0.5,
        top_p=0.9,
        stop=["x"],
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": {}}},
        seed=3,
        user="u",
        include_usage=True,
        extra={"presence_penalty": 0.1, "parallel_tool_calls": True},
    )
    wire = orjson.loads(orjson.dumps(codec.encode_request(req)))
    assert codec.decode_request(wire) == req


# ----------------------------------------------------------------------------------- responses


def test_text_response_fixture() -> None:
    resp = codec.decode_response(fixture_json("response_text.json"))
    assert resp == ChatResponse(
        id="chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        model="gpt-4.1-2025-04-14",
        content="Hello! How can I assist you today?",
        finish_reason="stop",
        usage=Usage(input_tokens=19, output_tokens=10),
        created=1741569952,
    )


def test_tool_call_response_fixture() -> None:
    resp = codec.decode_response(fixture_json("response_tool_call.json"))
    assert resp.content is None
    assert resp.finish_reason == "tool_calls"
    assert resp.tool_calls == [
        {
            "id": "call_abc123",
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "arguments": '{\n"location": "Boston, MA"\n}',
            },
        }
    ]
    assert resp.usage == Usage(input_tokens=82, output_tokens=17, cached_input_tokens=64)


def test_legacy_function_call_response() -> None:
    raw = fixture_json("response_tool_call.json")
    message = raw["choices"][0]["message"]
    del message["tool_calls"]
    message["function_call"] = {"name": "f", "arguments": "{}"}
    raw["choices"][0]["finish_reason"] = "function_call"
    resp = codec.decode_response(raw)
    assert resp.finish_reason == "tool_calls"
    assert resp.tool_calls is not None
    assert resp.tool_calls[0]["function"] == {"name": "f", "arguments": "{}"}


@pytest.mark.parametrize(
    "raw", [[], {}, {"choices": []}, {"choices": [{}]}, {"choices": [{"message": {"content": 1}}]}]
)
def test_malformed_response_is_server_error(raw: Any) -> None:
    with pytest.raises(UpstreamError) as info:
        codec.decode_response(raw)
    assert info.value.error_class == "server_error"


RESPONSES = [
    ChatResponse(id="r1", model="m", content="hi", usage=Usage(3, 4, 1), created=5),
    ChatResponse(
        id="r2",
        model="m",
        content=None,
        finish_reason="tool_calls",
        tool_calls=[{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        usage=Usage(10, 2),
    ),
    ChatResponse(id="r3", model="m", content=None, refusal="I can't help with that."),
    ChatResponse(id="r4", model="m", content="cut", finish_reason="length"),
]


@pytest.mark.parametrize("resp", RESPONSES)
def test_encoded_response_is_valid_for_the_sdk_and_round_trips(resp: ChatResponse) -> None:
    wire = orjson.loads(orjson.dumps(codec.encode_response(resp)))
    parsed = ChatCompletion.model_validate(wire)
    assert parsed.object == "chat.completion"
    assert parsed.choices[0].message.content == resp.content
    assert parsed.usage is not None and parsed.usage.total_tokens == resp.usage.total_tokens
    assert codec.decode_response(wire) == resp


# ------------------------------------------------------------------------------------- streams

META = StreamMeta(id="chatcmpl-x", model="gpt-4o-mini", created=1700000000, input_tokens=12)
CANONICAL_STREAM = [
    Chunk(text="Hel"),
    Chunk(text="lo"),
    Chunk(tool_calls=[ToolCallDelta(index=0, id="call_1", name="lookup", arguments="")]),
    Chunk(tool_calls=[ToolCallDelta(index=0, arguments='{"q":')]),
    Chunk(tool_calls=[ToolCallDelta(index=1, id="call_2", name="other", arguments="{}")]),
    Chunk(tool_calls=[ToolCallDelta(index=0, arguments='"x"}')]),
    Chunk(finish_reason="tool_calls"),
    Chunk(usage=Usage(12, 7, 4)),
]


def encode_stream(chunks: list[Chunk], include_usage: bool) -> bytes:
    enc = codec.StreamEncoder(META, include_usage)
    return enc.start() + b"".join(enc.feed(c) for c in chunks) + enc.finish()


def test_every_encoded_event_is_a_valid_sdk_chunk() -> None:
    events = events_of(encode_stream(CANONICAL_STREAM, include_usage=True))
    assert events[-1].data == "[DONE]"
    parsed = [ChatCompletionChunk.model_validate(orjson.loads(e.data)) for e in events[:-1]]
    assert parsed[0].choices[0].delta.role == "assistant"
    assert all(p.id == META.id and p.object == "chat.completion.chunk" for p in parsed)
    assert [p.choices[0].finish_reason for p in parsed[:-1]][-1] == "tool_calls"
    usage_chunk = parsed[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (12, 7)
    assert usage_chunk.usage.prompt_tokens_details is not None
    assert usage_chunk.usage.prompt_tokens_details.cached_tokens == 4
    first_call = parsed[3].choices[0].delta.tool_calls
    assert first_call is not None and first_call[0].id == "call_1"
    assert first_call[0].function is not None and first_call[0].function.name == "lookup"


def test_stream_round_trip_through_decoder() -> None:
    chunks, done = decode_stream(encode_stream(CANONICAL_STREAM, include_usage=True))
    assert done
    assert chunks == CANONICAL_STREAM


def test_stream_without_include_usage_has_no_usage() -> None:
    raw = encode_stream(CANONICAL_STREAM, include_usage=False)
    events = events_of(raw)
    assert all("usage" not in orjson.loads(e.data) for e in events[:-1])
    chunks, _ = decode_stream(raw)
    assert chunks == CANONICAL_STREAM[:-1]


def test_finish_closes_an_unfinished_stream_with_estimated_usage() -> None:
    enc = codec.StreamEncoder(META, include_usage=True)
    raw = enc.start() + enc.feed(Chunk(text="partial")) + enc.finish()
    chunks, done = decode_stream(raw)
    assert done
    assert chunks == [
        Chunk(text="partial"),
        Chunk(finish_reason="stop"),
        Chunk(usage=Usage(input_tokens=12)),
    ]


def test_usage_only_feed_emits_nothing_and_finish_reason_is_sent_once() -> None:
    enc = codec.StreamEncoder(META, include_usage=False)
    assert enc.feed(Chunk(usage=Usage(1, 1))) == b""
    assert enc.feed(Chunk()) == b""
    once = enc.feed(Chunk(finish_reason="length"))
    assert b'"finish_reason":"length"' in once
    assert enc.feed(Chunk(finish_reason="stop")) == b""
    assert enc.finish() == b"data: [DONE]\n\n"


def test_text_stream_fixture() -> None:
    chunks, done = decode_stream((FIXTURES / "stream_text.sse").read_bytes())
    assert done
    assert chunks == [
        Chunk(text="Hello"),
        Chunk(text="!"),
        Chunk(text=" How can I help?"),
        Chunk(finish_reason="stop"),
        Chunk(usage=Usage(input_tokens=9, output_tokens=6)),
    ]


def test_tool_call_stream_fixture() -> None:
    chunks, done = decode_stream((FIXTURES / "stream_tool_call.sse").read_bytes())
    assert done
    deltas = [tc for c in chunks for tc in (c.tool_calls or [])]
    assert deltas[0] == ToolCallDelta(
        index=0, id="call_DdmO9pD3xa9XTPNJ32zg2hcA", name="get_weather"
    )
    assert all(d.index == 0 and d.id is None and d.name is None for d in deltas[1:])
    assert "".join(d.arguments for d in deltas) == '{"location":"Paris"}'
    assert chunks[-1] == Chunk(finish_reason="tool_calls")


def test_decoder_splits_usage_carried_on_the_finish_chunk() -> None:
    data = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5},
    }
    chunks = codec.StreamDecoder().feed(SseEvent(None, orjson.dumps(data).decode()))
    assert chunks == [Chunk(finish_reason="length"), Chunk(usage=Usage(2, 3))]


def test_decoder_ignores_blank_and_role_only_events() -> None:
    dec = codec.StreamDecoder()
    assert dec.feed(SseEvent(None, "")) == []
    role = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    assert dec.feed(SseEvent(None, orjson.dumps(role).decode())) == []
    assert not dec.done


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", '"text"'])
def test_decoder_rejects_malformed_chunks(data: str) -> None:
    with pytest.raises(UpstreamError) as info:
        codec.StreamDecoder().feed(SseEvent(None, data))
    assert info.value.error_class == "server_error"
    assert "malformed stream chunk" in info.value.message


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (
            {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"},
            "rate_limited",
        ),
        (
            {
                "message": "too long",
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
            },
            "context_length_exceeded",
        ),
        ({"message": "boom", "type": "server_error", "code": None}, "server_error"),
        ({"message": "bad", "type": "invalid_request_error", "code": None}, "invalid_request"),
        ({"message": "?"}, "server_error"),
    ],
)
def test_decoder_raises_on_in_band_errors(error: dict[str, Any], expected: str) -> None:
    with pytest.raises(UpstreamError) as info:
        codec.StreamDecoder().feed(SseEvent(None, orjson.dumps({"error": error}).decode()))
    assert info.value.error_class == expected
    assert error["message"] in info.value.message


def test_encoder_error_event_round_trips_through_decoder() -> None:
    enc = codec.StreamEncoder(META, include_usage=True)
    raw = enc.error(UpstreamError("overloaded", "all deployments busy"))
    assert raw.startswith(b"data: {") and raw.endswith(b"\n\n")
    with pytest.raises(UpstreamError) as info:
        codec.StreamDecoder().feed(events_of(raw)[0])
    assert info.value.error_class == "overloaded"


def sdk_client(handler: Any) -> openai.OpenAI:
    transport = httpx.MockTransport(handler)
    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://127.0.0.1:9/v1",
        http_client=httpx.Client(transport=transport),
        max_retries=0,
    )


def test_real_sdk_reads_an_encoded_stream_and_an_error_event() -> None:
    enc = codec.StreamEncoder(META, include_usage=True)
    good = encode_stream(
        [Chunk(text="Hi"), Chunk(text=" there"), Chunk(finish_reason="stop")], True
    )
    bad = enc.start() + enc.feed(Chunk(text="Hi")) + enc.error(UpstreamError("timeout", "slow"))

    def handler(request: httpx.Request) -> httpx.Response:
        raw = bad if orjson.loads(request.content)["messages"][0]["content"] == "bad" else good
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=raw)

    client = sdk_client(handler)
    msgs: Any = [{"role": "user", "content": "ok"}]
    chunks = list(client.chat.completions.create(model="m", messages=msgs, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hi there"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 12

    with pytest.raises(openai.APIError, match="slow"):
        list(
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "bad"}], stream=True
            )
        )


def test_real_sdk_reads_encoded_response_and_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if orjson.loads(request.content)["model"] == "missing":
            status, payload = codec.encode_error(NotFound("model 'missing' not found"))
            return httpx.Response(status, json=payload)
        return httpx.Response(200, json=codec.encode_response(RESPONSES[1]))

    client = sdk_client(handler)
    completion = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    calls = completion.choices[0].message.tool_calls
    assert calls is not None and calls[0].id == "c"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="missing", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"


# -------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("err", "status", "kind", "code", "param"),
    [
        (BadRequest("bad n", param="n"), 400, "invalid_request_error", "invalid_request", "n"),
        (PayloadTooLarge("big"), 413, "invalid_request_error", "request_too_large", None),
        (AuthenticationFailed("no key"), 401, "authentication_error", "invalid_api_key", None),
        (UpstreamError("rate_limited", "slow"), 429, "rate_limit_error", "rate_limited", None),
        (GatewayError("oops"), 500, "api_error", "internal_error", None),
    ],
)
def test_encode_error(
    err: GatewayError, status: int, kind: str, code: str, param: str | None
) -> None:
    assert codec.encode_error(err) == (
        status,
        {"error": {"message": err.message, "type": kind, "param": param, "code": code}},
    )


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        (400, fixture_bytes("error_400_context_length.json"), "context_length_exceeded"),
        (429, fixture_bytes("error_429_rate_limit.json"), "rate_limited"),
        (429, fixture_bytes("error_429_insufficient_quota.json"), "auth"),
        (
            400,
            b'{"error":{"message":"flagged","type":"invalid_request_error","code":"content_policy_violation"}}',
            "content_filter",
        ),
        (
            400,
            b'{"error":{"message":"x","type":"invalid_request_error","code":"content_filter"}}',
            "content_filter",
        ),
        (
            400,
            b'{"error":{"message":"bad temperature","type":"invalid_request_error","code":null}}',
            "invalid_request",
        ),
        (401, b'{"error":{"message":"Incorrect API key","code":"invalid_api_key"}}', "auth"),
        (403, b"forbidden", "auth"),
        (404, b'{"error":"model \\"llama9\\" not found"}', "invalid_request"),
        (408, b"", "timeout"),
        (500, b'{"error":{"message":"internal","type":"server_error"}}', "server_error"),
        (502, b"<html>Bad Gateway</html>", "server_error"),
        (503, b'{"error":{"message":"overloaded"}}', "overloaded"),
        (
            400,
            b'{"object":"error","message":"maximum context length is 4096",'
            b'"type":"BadRequestError","code":400}',
            "context_length_exceeded",
        ),
    ],
)
def test_decode_error_classification(status: int, raw: bytes, expected: str) -> None:
    err = codec.decode_error(status, raw, {})
    assert err.error_class == expected
    assert err.upstream_status == status
    assert err.message.startswith(f"openai {status}: ")


def test_decode_error_message_and_retry_after() -> None:
    err = codec.decode_error(
        429,
        fixture_bytes("error_429_rate_limit.json"),
        {"retry-after-ms": "210", "retry-after": "1"},
    )
    assert err.message.startswith("openai 429: Rate limit reached for gpt-4o-mini")
    assert err.retry_after == pytest.approx(0.21)
    assert err.retryable
    quota = codec.decode_error(429, fixture_bytes("error_429_insufficient_quota.json"), {})
    assert not quota.retryable and quota.retry_after is None
    plain = codec.decode_error(502, b"  upstream connect error  ", {"Retry-After": "3"})
    assert plain.message == "openai 502: upstream connect error"
    assert plain.retry_after == 3.0
    empty = codec.decode_error(500, b"", {})
    assert empty.message == "openai 500: no error message"


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert retry_after_seconds({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, now) == 30.0
    assert retry_after_seconds({"retry-after": "Tue, 14 Nov 2023 22:00:00 GMT"}, now) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}, now) is None
    assert retry_after_seconds({"retry-after-ms": "x", "retry-after": "2"}, now) == 2.0
    assert retry_after_seconds({}, now) is None
    assert retry_after_seconds(httpx.Headers({"Retry-After-Ms": "1500"}), now) == 1.5
