"""Bodies that cannot hurt: the nesting limit, total JSON encoding, wrongly typed and
64-bit-overflowing fields, bounded faults (``llmgw.wire.limits``, ``llmgw.jsontext``)."""

from __future__ import annotations

import json
import threading
from typing import Any

import orjson
import pytest

from llmgw.accounting.tokens import count_prompt
from llmgw.audit.redact import Redactor
from llmgw.cache.keys import exact_key
from llmgw.errors import BadRequest
from llmgw.jsontext import deeper_than, dumps, dumps_text
from llmgw.mock.faults import Fault
from llmgw.wire.anthropic import CODEC as ANTHROPIC
from llmgw.wire.anthropic.request_encode import parse_arguments
from llmgw.wire.limits import MAX_DEPTH, TooDeep, is_int64, one_of, parse_body, shown
from llmgw.wire.openai import CODEC as OPENAI


def nest(depth: int, leaf: Any = 1) -> Any:
    """``depth`` arrays around ``leaf``, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def text(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


@pytest.mark.parametrize("depth", [0, 1, 2, 399, 400, 401, 5000])
def test_deeper_than_counts_levels_without_recursion(depth: int) -> None:
    value = nest(depth)
    assert deeper_than(value, 400) is (depth > 400)
    assert deeper_than({"a": [value]}, 400) is (depth + 2 > 400)
    assert deeper_than(value, depth) is False
    if depth:
        assert deeper_than(value, depth - 1) is True


def test_parse_body_takes_400_levels_and_refuses_401_and_past_the_parsers_limit() -> None:
    assert parse_body(text(MAX_DEPTH)) == nest(MAX_DEPTH)
    for depth in (MAX_DEPTH + 1, 1000, 1024, 1100, 5000):
        with pytest.raises(TooDeep, match="at most 400 levels") as caught:
            parse_body(text(depth))
        assert caught.value.status == 400 and caught.value.code == "nesting_too_deep"
    padded = b'{"pad": "' + b"x" * 70_000 + b'", "x": ' + text(MAX_DEPTH) + b"}"
    with pytest.raises(TooDeep):  # a long body is walked whatever its bracket count
        parse_body(padded)
    assert parse_body('{"s": "[[[[", "x": ' + text(MAX_DEPTH - 1).decode() + "}")["s"] == "[[[["
    for bad in (b"", b"{", b'"\\ud800"', b"NaN", b"1e400", b'"\xff"'):
        with pytest.raises(BadRequest, match="not valid JSON"):
            parse_body(bad)


@pytest.mark.parametrize(
    "value",
    [
        {"b": [1, 2.5, None, True], "a": "é"},
        nest(254),
        nest(300, {"k": 2**64 - 1}),
        nest(398, "x"),
        {"big": 2**70, "z": -(2**64)},
    ],
)
def test_dumps_encodes_what_orjson_cannot_and_matches_it_where_it_can(value: Any) -> None:
    out = dumps(value, sort_keys=True)
    assert json.loads(out) == value
    assert dumps_text(value) == dumps(value).decode()
    try:
        assert out == orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        assert b" " not in out.replace(b'"\xc3\xa9"', b"")  # compact, like orjson


def test_dumps_handles_the_limit_under_a_deep_call_stack() -> None:
    def below(frames: int) -> bytes:
        return dumps(nest(MAX_DEPTH + 10)) if frames == 0 else below(frames - 1)

    assert below(300).startswith(b"[[[")


def test_every_encoder_of_a_request_takes_400_levels() -> None:
    deep = nest(MAX_DEPTH - 10)
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"x": deep}}}],
        "metadata_x": deep,
    }
    req = OPENAI.decode_request(parse_body(dumps(body)))
    assert len(exact_key("acme", "m", req)) == 64
    assert count_prompt("gpt-4o-mini", req.messages, req.tools).tokens > MAX_DEPTH
    assert dumps(OPENAI.encode_request(req)).count(b"[") >= 2 * (MAX_DEPTH - 10)
    assert ANTHROPIC.encode_request(req)["tools"][0]["input_schema"] == {"x": deep}


def test_anthropic_tool_use_input_at_the_limit_round_trips_and_past_it_is_dropped() -> None:
    inner = nest(MAX_DEPTH - 10)
    assert parse_arguments(dumps_text({"a": inner})) == {"a": inner}
    assert parse_arguments(dumps_text({"a": nest(900)})) == {}  # could not be encoded again


def anthropic_body(**over: Any) -> dict[str, Any]:
    return {
        "model": "claude",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "hi"}],
        **over,
    }


@pytest.mark.parametrize(
    ("codec", "body", "param"),
    [
        (OPENAI, {"response_format": {"type": []}}, "response_format.type"),
        (OPENAI, {"response_format": {"type": {}}}, "response_format.type"),
        (OPENAI, {"max_tokens": 2**63}, "max_tokens"),
        (OPENAI, {"max_completion_tokens": 2**31}, "max_completion_tokens"),
        (OPENAI, {"seed": 2**63}, "seed"),
        (OPENAI, {"seed": -(2**63) - 1}, "seed"),
        (OPENAI, {"n": 2**63}, "n"),
        (OPENAI, {"messages": [{"role": [], "content": "x"}]}, "messages[0].role"),
        (OPENAI, {"messages": [{"role": "user", "content": [{"type": {}}]}]}, None),
        (ANTHROPIC, {"max_tokens": 2**63}, "max_tokens"),
        (ANTHROPIC, {"top_k": 2**64 - 1}, "top_k"),
        (ANTHROPIC, {"tools": [{"type": [], "name": "f", "input_schema": {}}]}, "tools.0.type"),
        (
            ANTHROPIC,
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": [], "data": "AA"},
                            }
                        ],
                    }
                ]
            },
            "messages.0.content.0.source.media_type",
        ),
        (
            ANTHROPIC,
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": [{"type": []}]},
                    {"role": "user", "content": "again"},
                ]
            },
            "messages.1.content.0",
        ),
    ],
)
def test_wrong_types_and_huge_integers_are_400s_naming_the_field(
    codec: Any, body: dict[str, Any], param: str | None
) -> None:
    base = (
        anthropic_body()
        if codec is ANTHROPIC
        else {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    )
    with pytest.raises(BadRequest) as caught:
        codec.decode_request({**base, **body})
    if param is not None:
        assert caught.value.param == param
    assert len(caught.value.message) < 200  # never the caller's whole value


def test_int64_and_shown_and_one_of() -> None:
    assert is_int64(2**63 - 1) and is_int64(-(2**63))
    assert not is_int64(2**63) and not is_int64(True) and not is_int64(1.0)
    assert shown("x" * 100).endswith("...'") and len(shown("x" * 100)) == 40
    assert [shown(v) for v in ([1], {}, None, False, 2**200)] == [
        "an array",
        "an object",
        "null",
        "false",
        "a huge integer",
    ]
    assert one_of("a", frozenset({"a"})) and not one_of([], frozenset({"a"}))


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"after_tokens": 2**63}, "after_tokens must be at most"),
        ({"after_tokens": 2**64}, "beyond 64 bits"),
        ({"count": 2**63}, "count must be at most"),
        ({"seconds": 1e300}, "seconds must be at most"),
        ({"retry_after": float("nan")}, "must not be negative"),
        ({"status": 2**64}, "100..599"),
    ],
)
def test_faults_are_bounded(fields: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        Fault.from_dict({"kind": "cut", **fields})


def test_redaction_keeps_the_row_of_a_body_too_deep_to_walk() -> None:
    body = '{"phone": "call +1 415 555 0100", "x": ' + text(1000).decode() + "}"
    out: list[str | None] = []
    thread = threading.Thread(target=lambda: out.append(Redactor().body(body)))
    thread.start()
    thread.join()
    assert out[0] is not None and "[REDACTED:phone]" in out[0] and "555 0100" not in out[0]
