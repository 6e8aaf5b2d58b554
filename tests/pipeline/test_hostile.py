"""The malformed bodies that answered 500 at the previous release, each pinned to its answer.

Deep JSON with the cache on and to HTTP providers in both formats, deep tool schemas while
streaming, deep tool inputs and answers that echo them, lists where strings belong, 64-bit
overflows in the admin API. ``benchmarks/hostile_inputs.py`` sends the same kind of bodies to a
real ``llmgw serve``; ``test_fuzz`` generates thousands more.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.pipeline.fuzz_bodies import nested, render
from tests.pipeline.test_fuzz import ADMIN_KEY, Fuzz, check

USER = [{"role": "user", "content": "hi"}]


def deep_obj(depth: int) -> Any:
    """``depth`` objects inside each other, as a value (encoded by ``render``)."""
    return nested(depth, "object")


def tool_turns(tool_input: Any) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": tool_input}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
        },
    ]


def schema(depth: int) -> dict[str, Any]:
    return {"type": "object", "properties": {"x": {"const": deep_obj(depth)}}, "required": ["x"]}


def items(depth: int) -> dict[str, Any]:
    """An array schema whose items are arrays, ``depth`` JSON levels deep."""
    inner: Any = {"type": "string"}
    for _ in range(depth - 1):
        inner = {"type": "array", "items": inner}
    return inner


def oai_tool_turns(arguments: str) -> list[dict[str, Any]]:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    return [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "user", "content": "and?"},
    ]


OAI = "/v1/chat/completions"
ANT = "/v1/messages"
CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("deep extra field, cache on", OAI, {"model": "chat", "x": nested(300, "array")}, 200, ""),
    (
        "deep extra field, stream",
        OAI,
        {"model": "chat", "stream": True, "x": deep_obj(390)},
        200,
        "",
    ),
    ("deep to anthropic provider", OAI, {"model": "claude", "x": deep_obj(300)}, 200, ""),
    ("1000 deep", OAI, {"model": "chat", "x": nested(1000, "array")}, 400, "at most 400 levels"),
    ("1100 deep", OAI, {"model": "chat", "x": nested(1100, "mixed")}, 400, "at most 400 levels"),
    (
        "response_format.type []",
        OAI,
        {"model": "chat", "response_format": {"type": []}},
        400,
        "response_format.type",
    ),
    (
        "tool schema 300 deep, stream",
        OAI,
        {
            "model": "chat",
            "stream": True,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": schema(300)}}],
        },
        200,
        "",
    ),
    (
        "tool schema 390 deep, gemini",
        OAI,
        {
            "model": "gem",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": schema(390)}}],
        },
        200,
        "",
    ),
    (
        "items schema 390 deep, gemini",
        OAI,
        {
            "model": "gem",
            "tools": [{"type": "function", "function": {"name": "f", "parameters": items(390)}}],
        },
        200,
        "",
    ),
    (
        "arguments 1000 deep, gemini",
        OAI,
        {"model": "gem", "messages": oai_tool_turns(render(deep_obj(1000)).decode())},
        400,
        "arguments",
    ),
    (
        "arguments 1000 deep, anthropic",
        OAI,
        {"model": "claude", "messages": oai_tool_turns(render(deep_obj(1000)).decode())},
        200,
        "",
    ),
    (
        "tool_use.input 390 deep, gemini",
        ANT,
        {"model": "gem", "messages": tool_turns(deep_obj(390))},
        200,
        "",
    ),
    ("max_tokens 2^63", OAI, {"model": "chat", "max_tokens": 2**63}, 400, "max_tokens"),
    (
        "image media_type []",
        ANT,
        {
            "model": "claude",
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
            ],
        },
        400,
        "media_type",
    ),
    (
        "assistant block type []",
        ANT,
        {
            "model": "claude",
            "messages": [*USER, {"role": "assistant", "content": [{"type": []}]}, *USER],
        },
        400,
        "messages.1.content.0",
    ),
    (
        "tool_use.input 1000 deep",
        ANT,
        {"model": "claude", "messages": tool_turns(deep_obj(1000))},
        400,
        "at most 400 levels",
    ),
    (
        "tool_use.input 390 deep, anthropic",
        ANT,
        {"model": "claude", "messages": tool_turns(deep_obj(390))},
        200,
        "",
    ),
    (
        "tool_use.input 390 deep, openai",
        ANT,
        {"model": "chat", "messages": tool_turns(deep_obj(390))},
        200,
        "",
    ),
    (
        "answer echoes a 390-deep tool input, stream",
        ANT,
        {
            "model": "local",
            "stream": True,
            "tools": [{"name": "f", "input_schema": schema(390)}],
            "tool_choice": {"type": "tool", "name": "f"},
        },
        200,
        "",
    ),
    (
        "answer echoes a 390-deep tool input",
        ANT,
        {
            "model": "local",
            "tools": [{"name": "f", "input_schema": schema(390)}],
            "tool_choice": {"type": "tool", "name": "f"},
        },
        200,
        "tool_use",
    ),
]


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    f = Fuzz(tmp_path_factory.mktemp("hostile"))
    yield f
    f.close()


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("tenant", ["acme", "globex"])  # cache on / bodies redacted
def test_hostile_body_is_answered(
    fuzz: Fuzz, path: str, body: dict[str, Any], status: int, needle: str, tenant: str
) -> None:
    body = {"messages": USER, **({"max_tokens": 16} if path == ANT else {}), **body}
    raw = render(body)
    key = fuzz.h.key if tenant == "acme" else fuzz.h.other_key
    reply = fuzz.send(path, raw, key)
    check(fuzz, reply, "anthropic" if path == ANT else "openai", raw)
    assert reply.status == status, reply.body[:300]
    assert needle.encode() in reply.body
    if status == 200 and reply.headers["content-type"].startswith("text/event-stream"):
        assert reply.events()[-1] in ("[DONE]", {"type": "message_stop"})


@pytest.mark.parametrize("value", [2**63, 2**64, 10**30])
@pytest.mark.parametrize("field", ["after_tokens", "count", "for_s", "seconds"])
def test_admin_fault_with_a_huge_number_is_a_400_and_adds_nothing(
    fuzz: Fuzz, field: str, value: int
) -> None:
    body = {"deployment": "*", "kind": "cut", field: value}
    reply = fuzz.send("/admin/faults", render(body), ADMIN_KEY)
    check(fuzz, reply, "openai", render(body))
    assert reply.status == 400
    assert orjson.loads(reply.body)["error"]["param"] in (field, "kind", "for_s")
    listed = orjson.loads(fuzz.send("/admin/faults", b"", ADMIN_KEY, method="GET").body)
    assert listed == {"faults": []}
