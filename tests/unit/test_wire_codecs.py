"""Every registered codec keeps the contract of ``llmgw.wire.codec`` and round-trips through it.

The per-format details are tested against recorded fixtures in ``test_wire_<format>.py``; here
each codec is used only through the Protocols, the way the gateway, the provider adapters and
the mock provider use it.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import orjson
import pytest

import llmgw.wire
from llmgw.errors import BadRequest, GatewayError, NotFound, UpstreamError
from llmgw.types import ChatRequest, ChatResponse, Chunk, StreamMeta, Usage
from llmgw.wire import anthropic, gemini, openai
from llmgw.wire.codec import (
    Codec,
    ProviderCodec,
    StreamDecoder,
    StreamEncoder,
    WireCodec,
)
from llmgw.wire.registry import FORMATS, INBOUND, codec_for, is_api, wire_codec
from llmgw.wire.sse import SseParser

FORMAT_NAMES = sorted(FORMATS)
META = StreamMeta(id="abc123", model="m-1", created=1_700_000_000, input_tokens=7)


def decode(codec: WireCodec, body: dict[str, Any], model: str) -> ChatRequest:
    """``decode_request`` as each format's server would call it (Gemini's model is in the URL)."""
    if codec is gemini.CODEC:
        return gemini.CODEC.decode_request(body, model)
    return codec.decode_request(body)


# ------------------------------------------------------------------------------ the contract


def test_the_registry_holds_each_format_package_codec() -> None:
    assert dict(FORMATS) == {
        "openai": openai.CODEC,
        "anthropic": anthropic.CODEC,
        "gemini": gemini.CODEC,
    }
    assert dict(INBOUND) == {"openai": openai.CODEC, "anthropic": anthropic.CODEC}


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_every_format_codec_satisfies_both_protocols(name: str) -> None:
    codec = wire_codec(name)
    assert isinstance(codec, Codec)
    assert isinstance(codec, ProviderCodec)
    assert isinstance(codec, WireCodec)
    assert not isinstance(codec, type)  # an object, not a module or a class
    encoder = codec.StreamEncoder(META, True)
    assert isinstance(encoder, StreamEncoder)
    decoder = codec.StreamDecoder()
    assert isinstance(decoder, StreamDecoder)
    assert decoder.done is False
    assert codec.StreamDecoder() is not decoder  # a fresh decoder per stream


@pytest.mark.parametrize("api", sorted(INBOUND))
def test_every_inbound_codec_satisfies_codec(api: str) -> None:
    assert isinstance(codec_for(api), Codec)


def test_an_object_missing_a_member_is_not_a_codec() -> None:
    class HalfCodec:
        StreamEncoder = openai.CODEC.StreamEncoder

        def decode_request(self, body: dict[str, Any]) -> ChatRequest:
            return openai.CODEC.decode_request(body)

        def encode_response(self, resp: ChatResponse) -> dict[str, Any]:
            return openai.CODEC.encode_response(resp)

        def decode_response(self, body: Any) -> ChatResponse:
            return openai.CODEC.decode_response(body)

    assert not isinstance(HalfCodec(), Codec)  # no encode_error
    assert not isinstance(HalfCodec(), ProviderCodec)


def test_codec_for_serves_inbound_apis_only() -> None:
    assert codec_for("openai") is openai.CODEC
    assert codec_for("anthropic") is anthropic.CODEC
    for name in ("gemini", "", "OpenAI"):
        with pytest.raises(KeyError, match="no inbound codec"):
            codec_for(name)
    assert is_api("anthropic")
    assert not is_api("gemini")
    assert not is_api(None)


def test_wire_codec_knows_every_format() -> None:
    assert wire_codec("gemini") is gemini.CODEC
    with pytest.raises(KeyError, match="no codec for format"):
        wire_codec("bedrock")


def test_no_wire_module_loads_names_lazily() -> None:
    """No module ``__getattr__``: every name a wire module offers is there once it is imported."""
    for info in pkgutil.walk_packages(llmgw.wire.__path__, "llmgw.wire."):
        module = importlib.import_module(info.name)
        assert "__getattr__" not in vars(module), info.name


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_request_round_trip(name: str) -> None:
    codec = wire_codec(name)
    req = ChatRequest(
        model="m-1",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello?"},
            {"role": "assistant", "content": "Hi."},
            {"role": "user", "content": "Bye."},
        ],
        max_tokens=64,
        temperature=0.5,
        stop=["END"],
    )
    body = orjson.loads(orjson.dumps(codec.encode_request(req)))  # as it goes over the wire
    back = decode(codec, body, "m-1")
    assert back.model == "m-1"
    assert back.messages == req.messages
    assert (back.max_tokens, back.temperature, back.stop) == (64, 0.5, ["END"])


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_response_round_trip(name: str) -> None:
    codec = wire_codec(name)
    resp = ChatResponse(
        id="msg_r1",
        model="m-1",
        content="Looking it up.",
        finish_reason="tool_calls",
        tool_calls=[
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
        ],
        usage=Usage(input_tokens=12, output_tokens=5, cached_input_tokens=4),
    )
    back = codec.decode_response(orjson.loads(orjson.dumps(codec.encode_response(resp))))
    assert (back.id, back.model, back.content) == (resp.id, resp.model, resp.content)
    assert (back.finish_reason, back.tool_calls) == (resp.finish_reason, resp.tool_calls)
    assert back.usage == resp.usage


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_stream_round_trip(name: str) -> None:
    codec = wire_codec(name)
    encoder = codec.StreamEncoder(META, True)
    sent = [
        Chunk(text="Hel"),
        Chunk(text="lo"),
        Chunk(finish_reason="length"),
        Chunk(usage=Usage(input_tokens=7, output_tokens=2)),
    ]
    raw = encoder.start() + b"".join(encoder.feed(c) for c in sent) + encoder.finish()
    parser = SseParser()
    decoder = codec.StreamDecoder()
    got = [chunk for event in parser.feed(raw) + parser.close() for chunk in decoder.feed(event)]
    assert decoder.done
    assert "".join(c.text for c in got if c.text) == "Hello"
    assert [c.finish_reason for c in got if c.finish_reason] == ["length"]
    usages = [c.usage for c in got if c.usage is not None]
    assert usages[-1] == Usage(input_tokens=7, output_tokens=2)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_stream_error_event_decodes_as_an_upstream_error(name: str) -> None:
    codec = wire_codec(name)
    raw = codec.StreamEncoder(META, False).error(UpstreamError("overloaded", "busy"))
    parser = SseParser()
    decoder = codec.StreamDecoder()
    with pytest.raises(UpstreamError):
        for event in parser.feed(raw) + parser.close():
            decoder.feed(event)


@pytest.mark.parametrize("name", FORMAT_NAMES)
@pytest.mark.parametrize(
    ("err", "error_class"),
    [
        (UpstreamError("rate_limited", "slow down"), "rate_limited"),
        (NotFound("no such model"), "invalid_request"),
    ],
)
def test_error_round_trip(name: str, err: GatewayError, error_class: str) -> None:
    codec = wire_codec(name)
    status, payload = codec.encode_error(err)
    assert status == err.status
    back = codec.decode_error(status, orjson.dumps(payload), {"retry-after": "2"})
    assert back.error_class == error_class
    assert back.upstream_status == status
    assert back.retry_after == 2.0


# ------------------------------------------------------------------------ Gemini's own model


def test_gemini_takes_the_model_from_the_body_when_no_url_names_it() -> None:
    body = {"model": "models/gemini-2.0-flash", "contents": [{"parts": [{"text": "hi"}]}]}
    assert gemini.CODEC.decode_request(body).model == "gemini-2.0-flash"
    assert gemini.CODEC.decode_request(body, "from-url").model == "from-url"
    del body["model"]
    with pytest.raises(BadRequest) as caught:
        gemini.CODEC.decode_request(body)
    assert caught.value.param == "model"
