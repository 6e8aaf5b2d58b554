"""The Gemini codec against recorded wire fixtures, and round trips through canonical form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from llmgw.errors import BadRequest, InternalError, NotFound, UpstreamError
from llmgw.types import ChatRequest, ChatResponse, Chunk, StreamMeta, ToolCallDelta, Usage
from llmgw.wire.gemini import CODEC as gemini
from llmgw.wire.gemini.stream import GeminiStreamDecoder
from llmgw.wire.sse import SseEvent, SseParser

FIXTURES = Path(__file__).parent.parent / "fixtures" / "wire" / "gemini"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def sse_events(raw: bytes) -> list[SseEvent]:
    parser = SseParser()
    return parser.feed(raw) + parser.close()


def decode_stream(raw: bytes) -> tuple[list[Chunk], GeminiStreamDecoder]:
    decoder = gemini.StreamDecoder()
    chunks = [c for e in sse_events(raw) for c in decoder.feed(e)]
    return chunks, decoder


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


# --------------------------------------------------------------------------- paths


def test_request_path() -> None:
    assert gemini.request_path("gemini-2.0-flash", False) == (
        "/v1beta/models/gemini-2.0-flash:generateContent"
    )
    assert gemini.request_path("models/gemini-2.0-flash", True) == (
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    )


# --------------------------------------------------------------------------- decode_request


def test_decode_request_fixture() -> None:
    req = gemini.decode_request(load("request_multiturn_tools.json"), "gemini-2.0-flash")
    assert req.model == "gemini-2.0-flash"
    assert not req.stream
    roles = [m["role"] for m in req.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool", "assistant", "user"]
    assert req.messages[0]["content"] == "You are a weather bot."
    calls = req.messages[2]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_0", "call_1"]
    assert calls[0]["function"] == {"name": "get_weather", "arguments": '{"location":"Paris"}'}
    assert req.messages[2]["content"] is None
    assert [m["tool_call_id"] for m in req.messages[3:5]] == ["call_0", "call_1"]
    assert req.messages[3]["content"] == '{"temp_c":18}'
    assert req.messages[6]["content"] == [
        {"type": "text", "text": "And this place?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    assert (req.temperature, req.top_p, req.max_tokens, req.seed) == (0.2, 0.9, 256, 7)
    assert req.stop == ["END"]
    assert req.extra == {"top_k": 40}
    assert req.tool_choice == "auto"
    assert req.tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"location": {"type": "string", "description": "City name"}},
                    "required": ["location"],
                },
            },
        }
    ]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "contents"),
        ({"contents": []}, "contents"),
        ({"contents": "hi"}, "contents"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ({"contents": [{"role": "user", "parts": []}]}, "contents[0].parts"),
        ({"contents": [{"role": "user", "parts": [{"text": 3}]}]}, "contents[0].parts[0].text"),
        ({"contents": [{"role": "user", "parts": [{"video": {}}]}]}, "contents[0].parts[0]"),
        (
            {"contents": [{"role": "user", "parts": [{"inlineData": {"data": "x"}}]}]},
            "contents[0].parts[0].inlineData",
        ),
        (
            {"contents": [{"role": "model", "parts": [{"functionCall": {"args": {}}}]}]},
            "contents[0].parts[0].functionCall",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}
                ]
            },
            "contents[0].parts[0].functionResponse",
        ),
        (
            {"contents": [user("x")], "generationConfig": {"candidateCount": 2}},
            "generationConfig.candidateCount",
        ),
        (
            {"contents": [user("x")], "generationConfig": {"temperature": "hot"}},
            "generationConfig.temperature",
        ),
        ({"contents": [user("x")], "tools": [{"googleSearch": {}}]}, "tools[0]"),
        (
            {"contents": [user("x")], "toolConfig": {"functionCallingConfig": {"mode": "SOME"}}},
            "toolConfig.functionCallingConfig.mode",
        ),
    ],
)
def test_decode_request_rejects(body: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        gemini.decode_request(body, "m")
    assert info.value.param == param
    assert info.value.status == 400


def test_decode_request_accepts_snake_case_and_lone_part() -> None:
    body = {
        "system_instruction": {"parts": {"text": "Be brief."}},
        "contents": [{"parts": [{"text": "hi"}]}],
        "generation_config": {"max_output_tokens": 5, "response_mime_type": "application/json"},
    }
    req = gemini.decode_request(body, "m")
    assert req.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert req.max_tokens == 5
    assert req.response_format == {"type": "json_object"}


def test_decode_request_response_schema_and_tool_config() -> None:
    body = {
        "contents": [user("x")],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}},
        },
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
    }
    req = gemini.decode_request(body, "m")
    assert req.response_format == {
        "type": "json_schema",
        "json_schema": {
            "name": "response",
            "schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }
    assert req.tool_choice == {"type": "function", "function": {"name": "f"}}
    body["toolConfig"] = {"functionCallingConfig": {"mode": "ANY"}}
    assert gemini.decode_request(body, "m").tool_choice == "required"
    body["toolConfig"] = {"functionCallingConfig": {"mode": "NONE"}}
    assert gemini.decode_request(body, "m").tool_choice == "none"


def test_function_ids_follow_part_ids_and_names_across_turns() -> None:
    body = {
        "contents": [
            user("go"),
            {
                "role": "model",
                "parts": [
                    {"text": "Calling."},
                    {"functionCall": {"name": "a", "args": {}}},
                    {"functionCall": {"id": "xyz", "name": "b", "args": {"k": 1}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "b", "response": {"content": "B"}}},
                    {"functionResponse": {"name": "a", "response": {"content": "A"}}},
                ],
            },
            {"role": "model", "parts": [{"functionCall": {"name": "a", "args": {"again": True}}}]},
            {
                "role": "function",
                "parts": [{"functionResponse": {"name": "a", "response": {"ok": True}}}],
            },
        ]
    }
    msgs = gemini.decode_request(body, "m").messages
    assert msgs[1]["content"] == "Calling."
    assert [c["id"] for c in msgs[1]["tool_calls"]] == ["call_0", "xyz"]
    assert (msgs[2]["tool_call_id"], msgs[2]["content"]) == ("xyz", "B")
    assert (msgs[3]["tool_call_id"], msgs[3]["content"]) == ("call_0", "A")
    assert msgs[4]["tool_calls"][0]["id"] == "call_2"
    assert (msgs[5]["tool_call_id"], msgs[5]["content"]) == ("call_2", '{"ok":true}')


# --------------------------------------------------------------------------- encode_request


def tool_conversation() -> ChatRequest:
    def call(call_id: str, name: str, args: str) -> dict[str, Any]:
        return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}

    return ChatRequest(
        model="gemini-2.0-flash",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Weather and time in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    call("call_w", "get_weather", '{"city": "Paris"}'),
                    call("call_t", "get_time", '{"tz": "CET"}'),
                ],
            },
            {"role": "tool", "tool_call_id": "call_t", "content": "14:00"},
            {"role": "tool", "tool_call_id": "call_w", "content": '{"temp_c": 18}'},
            {"role": "assistant", "content": "18°C at 14:00."},
            {"role": "user", "content": "Thanks"},
            {"role": "user", "content": "And tomorrow?"},
        ],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather",
                    "parameters": {
                        "$schema": "http://json-schema.org/draft-07/schema#",
                        "type": "object",
                        "properties": {"city": {"type": ["string", "null"]}},
                        "required": ["city"],
                        "additionalProperties": False,
                    },
                },
            },
            {
                "type": "function",
                "function": {
                    "name": "get_time",
                    "parameters": {"type": "object", "properties": {}},
                },
            },
        ],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=100,
        temperature=0.5,
        top_p=0.8,
        stop=["STOP"],
        seed=3,
        extra={"top_k": 20},
    )


def test_encode_request_tools_conversation() -> None:
    body = gemini.encode_request(tool_conversation())
    assert "model" not in body
    assert body["systemInstruction"] == {"parts": [{"text": "Be terse."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user", "model", "user"]
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_time", "args": {"tz": "CET"}}},
    ]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_time", "response": {"content": "14:00"}}},
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
    ]
    assert body["contents"][4]["parts"] == [{"text": "Thanks"}, {"text": "And tomorrow?"}]
    decls = body["tools"][0]["functionDeclarations"]
    assert decls[0]["parameters"] == {
        "type": "object",
        "properties": {"city": {"type": "string", "nullable": True}},
        "required": ["city"],
    }
    assert decls[1] == {"name": "get_time"}
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    assert body["generationConfig"] == {
        "temperature": 0.5,
        "topP": 0.8,
        "maxOutputTokens": 100,
        "stopSequences": ["STOP"],
        "seed": 3,
        "topK": 20,
    }


def test_tool_ids_survive_encode_then_decode() -> None:
    """Encode a conversation, decode it back: every tool message still answers its call."""
    req = tool_conversation()
    back = gemini.decode_request(gemini.encode_request(req), "gemini-2.0-flash")
    names_by_id = {
        call["id"]: call["function"]["name"]
        for msg in back.messages
        for call in msg.get("tool_calls") or []
    }
    answered = [names_by_id[m["tool_call_id"]] for m in back.messages if m["role"] == "tool"]
    # Gemini pairs by name, so get_time's answer stays get_time's even though it came first.
    assert sorted(answered) == ["get_time", "get_weather"]
    tool_texts = {
        names_by_id[m["tool_call_id"]]: m["content"] for m in back.messages if m["role"] == "tool"
    }
    assert tool_texts == {"get_time": "14:00", "get_weather": '{"temp_c":18}'}
    assert back.max_tokens == 100 and back.extra == {"top_k": 20}
    assert back.tool_choice == {"type": "function", "function": {"name": "get_weather"}}


def test_encode_request_images_and_formats() -> None:
    req = ChatRequest(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
                ],
            }
        ],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"a": {}}}},
        },
        tool_choice="none",
    )
    body = gemini.encode_request(req)
    assert body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/cat.png"}},
    ]
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"a": {}}},
    }
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "tool", "tool_call_id": "nope", "content": "x"}], "messages[0].tool_call_id"),
        ([{"role": "critic", "content": "x"}], "messages[0].role"),
        ([{"role": "system", "content": "only a system prompt"}], "messages"),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}],
                }
            ],
            "messages[0].tool_calls[0]",
        ),
    ],
)
def test_encode_request_rejects(messages: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(BadRequest) as info:
        gemini.encode_request(ChatRequest(model="m", messages=messages))
    assert info.value.param == param


# --------------------------------------------------------------------------- responses


def test_decode_response_text_fixture() -> None:
    resp = gemini.decode_response(load("response_text.json"))
    assert resp.content == "Hello! The capital of France is Paris."
    assert resp.finish_reason == "stop"
    assert resp.tool_calls is None
    assert resp.id == "uUYBacWqKc2gz7IPq9uGwAs"
    assert resp.model == "gemini-2.5-flash"
    # thinking tokens are billed as output
    assert resp.usage == Usage(input_tokens=9, output_tokens=110, cached_input_tokens=4)


def test_decode_response_function_call_fixture() -> None:
    resp = gemini.decode_response(load("response_function_call.json"))
    assert resp.finish_reason == "tool_calls"
    assert resp.content is None
    assert resp.tool_calls is not None and len(resp.tool_calls) == 2
    first, second = resp.tool_calls
    assert first["function"] == {
        "name": "get_weather",
        "arguments": '{"location":"Boston, MA","unit":"celsius"}',
    }
    assert first["id"].startswith("call_") and first["id"] != second["id"]
    assert resp.usage.input_tokens == 57 and resp.usage.output_tokens == 24


def test_decode_response_blocked_prompt() -> None:
    resp = gemini.decode_response(load("response_safety_blocked.json"))
    assert (resp.content, resp.finish_reason) == ("", "content_filter")
    assert resp.usage.input_tokens == 14


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
    ],
)
def test_decode_response_finish_reasons(reason: str, expected: str) -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert gemini.decode_response(body).finish_reason == expected


def test_decode_response_error_body_raises() -> None:
    with pytest.raises(UpstreamError) as info:
        gemini.decode_response(load("error_503.json"))
    assert info.value.error_class == "overloaded"


def test_response_round_trip() -> None:
    resp = ChatResponse(
        id="r1",
        model="gemini-2.0-flash",
        content="Let me look.",
        finish_reason="tool_calls",
        tool_calls=[
            {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
        ],
        usage=Usage(input_tokens=10, output_tokens=5, cached_input_tokens=2),
    )
    body = gemini.encode_response(resp)
    assert body["candidates"][0]["content"]["role"] == "model"
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert body["usageMetadata"]["totalTokenCount"] == 15
    back = gemini.decode_response(body)
    assert (back.id, back.model, back.content) == ("r1", "gemini-2.0-flash", "Let me look.")
    assert (back.finish_reason, back.tool_calls, back.usage) == (
        resp.finish_reason,
        resp.tool_calls,
        resp.usage,
    )
    for reason in ("stop", "length", "content_filter"):
        plain = ChatResponse(id="r", model="m", content="", finish_reason=reason)  # type: ignore[arg-type]
        assert gemini.decode_response(gemini.encode_response(plain)).finish_reason == reason


# --------------------------------------------------------------------------- streams


def test_stream_decoder_text_fixture() -> None:
    chunks, decoder = decode_stream((FIXTURES / "stream_text.sse").read_bytes())
    assert decoder.done
    texts = [c.text for c in chunks if c.text]
    assert len(texts) == 3
    assert "".join(texts) == "The quick brown fox jumps over the lazy dog."
    assert chunks[-2].finish_reason == "stop"
    assert chunks[-1].usage == Usage(input_tokens=6, output_tokens=11)
    assert decoder.close() == []


def test_stream_decoder_function_call_fixture() -> None:
    chunks, decoder = decode_stream((FIXTURES / "stream_function_call.sse").read_bytes())
    assert chunks[0].text == "Let me check."
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert [(d.index, d.name, d.arguments) for d in deltas] == [
        (0, "get_weather", '{"location":"Paris"}'),
        (1, "get_weather", '{"location":"London"}'),
    ]
    assert all(d.id and d.id.startswith("call_") for d in deltas)
    assert chunks[-2].finish_reason == "tool_calls"
    assert chunks[-1].usage == Usage(input_tokens=42, output_tokens=19)
    assert decoder.done


def test_stream_decoder_errors() -> None:
    decoder = gemini.StreamDecoder()
    with pytest.raises(UpstreamError) as info:
        decoder.feed(SseEvent(None, "{not json"))
    assert info.value.error_class == "server_error"
    event = SseEvent(None, (FIXTURES / "error_429.json").read_text().replace("\n", ""))
    with pytest.raises(UpstreamError) as info:
        gemini.StreamDecoder().feed(event)
    assert info.value.error_class == "rate_limited"
    assert info.value.retry_after == 7.0


def test_stream_decoder_close_emits_pending() -> None:
    decoder = gemini.StreamDecoder()
    body = {
        "candidates": [{"content": {"parts": [{"text": "cut"}]}}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
    }
    assert decoder.feed(SseEvent(None, json.dumps(body))) == [Chunk(text="cut")]
    assert not decoder.done
    assert decoder.close() == [
        Chunk(finish_reason="stop"),
        Chunk(usage=Usage(input_tokens=3, output_tokens=1)),
    ]
    assert decoder.done


def test_stream_decoder_usage_after_finish_and_blocked() -> None:
    decoder = gemini.StreamDecoder()
    finish = {"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "MAX_TOKENS"}]}
    assert decoder.feed(SseEvent(None, json.dumps(finish))) == [Chunk(finish_reason="length")]
    late = {"usageMetadata": {"promptTokenCount": 2, "candidatesTokenCount": 9}}
    assert decoder.feed(SseEvent(None, json.dumps(late))) == [
        Chunk(usage=Usage(input_tokens=2, output_tokens=9))
    ]
    blocked = gemini.StreamDecoder()
    chunks = blocked.feed(SseEvent(None, (FIXTURES / "response_safety_blocked.json").read_text()))
    assert chunks[0] == Chunk(finish_reason="content_filter")
    assert blocked.done


def test_stream_round_trip() -> None:
    meta = StreamMeta(id="resp-1", model="gemini-2.0-flash", created=0, input_tokens=5)
    enc = gemini.StreamEncoder(meta, include_usage=True)
    usage = Usage(input_tokens=5, output_tokens=7)
    raw = enc.start()
    raw += enc.feed(Chunk(text="Hel"))
    raw += enc.feed(Chunk(text="lo"))
    raw += enc.feed(Chunk(tool_calls=[ToolCallDelta(0, "call_a", "f", '{"x"')]))
    raw += enc.feed(Chunk(tool_calls=[ToolCallDelta(0, arguments=": 1}")]))
    raw += enc.feed(Chunk(tool_calls=[ToolCallDelta(1, "call_b", "g", "{}")]))
    raw += enc.feed(Chunk(finish_reason="tool_calls"))
    raw += enc.feed(Chunk(usage=usage))
    raw += enc.finish()
    events = sse_events(raw)
    assert len(events) == 4  # "Hel", "lo", call a, then call b with the finish
    assert all("[DONE]" not in e.data for e in events)
    last = orjson.loads(events[-1].data)
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["usageMetadata"]["candidatesTokenCount"] == 7
    assert last["responseId"] == "resp-1"
    chunks, decoder = decode_stream(raw)
    assert "".join(c.text for c in chunks if c.text) == "Hello"
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert deltas == [
        ToolCallDelta(0, "call_a", "f", '{"x":1}'),
        ToolCallDelta(1, "call_b", "g", "{}"),
    ]
    assert chunks[-2:] == [Chunk(finish_reason="tool_calls"), Chunk(usage=usage)]
    assert decoder.done
    assert enc.finish() == b"" and enc.feed(Chunk(text="late")) == b""


def test_stream_encoder_error_event() -> None:
    enc = gemini.StreamEncoder(StreamMeta(id="r", model="m", created=0), include_usage=False)
    err = UpstreamError("rate_limited", "slow down", retry_after=3)
    (event,) = sse_events(enc.error(err))
    body = orjson.loads(event.data)
    assert body["error"]["code"] == 429
    assert body["error"]["status"] == "RESOURCE_EXHAUSTED"
    with pytest.raises(UpstreamError) as info:
        gemini.StreamDecoder().feed(event)
    assert info.value.error_class == "rate_limited" and info.value.retry_after == 3.0


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("fixture", "status", "error_class", "retry_after"),
    [
        ("error_429.json", 429, "rate_limited", 7.0),
        ("error_400.json", 400, "context_length_exceeded", None),
        ("error_400_api_key.json", 400, "auth", None),
        ("error_503.json", 503, "overloaded", None),
    ],
)
def test_decode_error_fixtures(
    fixture: str, status: int, error_class: str, retry_after: float | None
) -> None:
    body = (FIXTURES / fixture).read_bytes()
    err = gemini.decode_error(status, body, {})
    assert err.error_class == error_class
    assert err.retry_after == retry_after
    assert err.provider == "gemini" and err.upstream_status == status
    message = load(fixture)["error"]["message"]
    assert err.message == f"gemini {status}: {message}"


def rpc_error(code: int, status: str, message: str = "boom") -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "status": status}})


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (429, rpc_error(429, "RESOURCE_EXHAUSTED"), "rate_limited"),
        (503, rpc_error(503, "UNAVAILABLE"), "overloaded"),
        (500, rpc_error(500, "INTERNAL"), "server_error"),
        (504, rpc_error(504, "DEADLINE_EXCEEDED"), "timeout"),
        (401, rpc_error(401, "UNAUTHENTICATED"), "auth"),
        (403, rpc_error(403, "PERMISSION_DENIED"), "auth"),
        (404, rpc_error(404, "NOT_FOUND"), "invalid_request"),
        (400, rpc_error(400, "INVALID_ARGUMENT", "Invalid value at 'contents'"), "invalid_request"),
        (
            400,
            rpc_error(400, "INVALID_ARGUMENT", "The input token count (5) exceeds the maximum"),
            "context_length_exceeded",
        ),
        (429, b"Too Many Requests", "rate_limited"),
        (502, b"<html>Bad Gateway</html>", "server_error"),
        (503, b"", "overloaded"),
        (504, b"[" + rpc_error(504, "DEADLINE_EXCEEDED") + b"]", "timeout"),
    ],
)
def test_decode_error_classification(status: int, body: bytes, error_class: str) -> None:
    assert gemini.decode_error(status, body, {}).error_class == error_class


def test_decode_error_retry_after_header_wins() -> None:
    body = (FIXTURES / "error_429.json").read_bytes()
    assert gemini.decode_error(429, body, {"Retry-After": "12"}).retry_after == 12.0
    assert gemini.decode_error(429, body, {"retry-after": "Wed, 21 Oct 2015"}).retry_after == 7.0


@pytest.mark.parametrize(
    ("err", "status", "rpc"),
    [
        (BadRequest("bad", param="contents"), 400, "INVALID_ARGUMENT"),
        (NotFound("no such model"), 404, "NOT_FOUND"),
        (InternalError("oops"), 500, "INTERNAL"),
        (UpstreamError("rate_limited", "slow"), 429, "RESOURCE_EXHAUSTED"),
        (UpstreamError("overloaded", "busy"), 503, "UNAVAILABLE"),
        (UpstreamError("timeout", "late"), 504, "DEADLINE_EXCEEDED"),
        (UpstreamError("server_error", "down"), 502, "INTERNAL"),
    ],
)
def test_encode_error(err: Any, status: int, rpc: str) -> None:
    got_status, body = gemini.encode_error(err)
    assert got_status == status
    assert body == {"error": {"code": status, "message": err.message, "status": rpc}}


def test_error_round_trip_keeps_class_and_delay() -> None:
    err = UpstreamError("rate_limited", "slow", retry_after=2.5)
    status, body = gemini.encode_error(err)
    back = gemini.decode_error(status, orjson.dumps(body), {})
    assert (back.error_class, back.retry_after) == ("rate_limited", 2.5)
