"""Hypothesis strategies for hostile request bodies (used by ``test_fuzz``).

A body starts as a valid-ish request of one API (messages of every role, text and image parts,
tools, tool calls and results, sampling parameters, ``stream`` or not), then up to three of its
values are replaced by hostile ones, deleted, or joined by new keys, and the JSON text itself
may be mangled. Hostile values: wrong JSON types, nesting from 250 to 1,100 levels, integers
around and far beyond 64 bits, ``NaN`` / ``Infinity`` literals, lone surrogates in escapes
(``"\\ud800"``), long strings, any unicode. Text-level manglings: duplicate keys, invalid UTF-8,
truncation; whole bodies may also be non-objects or not JSON at all.

Values that no encoder writes (deep nesting, literals) travel through ``json.dumps`` as
placeholder strings and are spliced in as text afterwards (``render``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """JSON text to splice in as it is."""

    text: str


def nested(depth: int, kind: str) -> Raw:
    """``depth`` levels of arrays, objects or both around a number."""
    if kind == "array":
        return Raw("[" * depth + "1" + "]" * depth)
    if kind == "object":
        return Raw('{"a":' * depth + "1" + "}" * depth)
    half = depth // 2
    return Raw('{"a":[' * half + ("[1]" if depth % 2 else "1") + "]}" * half)


def render(value: Any) -> bytes:
    """``value`` as JSON bytes, with every ``Raw`` spliced in as its text."""
    raws: list[str] = []

    def swap(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.text)
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value), ensure_ascii=False)
    for i, raw in enumerate(raws):
        text = text.replace(f'"\\u0000RAW{i}\\u0000"', raw, 1)
    return text.encode("utf-8", "surrogatepass")


DEPTHS = [250, 254, 255, 256, 300, 399, 400, 401, 500, 1000, 1023, 1024, 1025, 1100]
HUGE = [2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), -(2**63) - 1]
HUGE += [2**64, 2**64 + 1, 10**20, 2**100, -(2**64)]  # beyond 64 bits: orjson reads floats
LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    '"\\ud800"',
    '"\\udfff\\ud800"',
    '"a\\ud83d"',
    '"\\u0000"',
    "10" + "0" * 40,
    "-" + "9" * 30,
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(HUGE)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
hostile = (
    json_values
    | st.sampled_from(HUGE)
    | st.builds(nested, st.sampled_from(DEPTHS), st.sampled_from(["array", "object", "mixed"]))
    | st.sampled_from(LITERALS).map(Raw)
    | st.sampled_from([1_000, 100_000]).flatmap(lambda n: st.sampled_from(["x" * n, "é" * n]))
    | st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)
)

words = st.text(max_size=24)
IMAGE_URLS = ["https://example.com/cat.png", "data:image/png;base64,iVBORw0KGgo=", "data:x", ""]
schema = st.fixed_dictionaries(
    {"type": st.just("object")},
    optional={
        "properties": st.dictionaries(
            st.sampled_from(["a", "b", "city"]),
            st.fixed_dictionaries(
                {"type": st.sampled_from(["string", "integer", "array", "object"])},
                optional={"const": hostile, "enum": st.lists(hostile, min_size=1, max_size=2)},
            ),
            max_size=2,
        ),
        "required": st.lists(st.sampled_from(["a", "b", "city"]), max_size=2),
    },
)

# ------------------------------------------------------------------------------ OpenAI bodies

oai_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, words),
    st.builds(
        lambda u: {"type": "image_url", "image_url": {"url": u}}, st.sampled_from(IMAGE_URLS)
    ),
)
oai_tool_call = st.builds(
    lambda i, name, args: {
        "id": f"call_{i}",
        "type": "function",
        "function": {"name": name, "arguments": args},
    },
    st.integers(0, 3),
    st.sampled_from(["lookup", "f"]),
    st.one_of(
        st.just('{"city":"Paris"}'), hostile.map(lambda v: render(v).decode("utf-8", "replace"))
    ),
)
oai_message = st.one_of(
    st.builds(
        lambda c: {"role": "user", "content": c}, words | st.lists(oai_part, min_size=1, max_size=3)
    ),
    st.builds(lambda c: {"role": st_role(c), "content": c}, words),
    st.builds(
        lambda c, calls: {"role": "assistant", "content": c, "tool_calls": calls},
        st.none() | words,
        st.lists(oai_tool_call, min_size=1, max_size=2),
    ),
    st.builds(
        lambda i, c: {"role": "tool", "tool_call_id": f"call_{i}", "content": c},
        st.integers(0, 3),
        words,
    ),
)


def st_role(content: str) -> str:
    return "system" if len(content) % 2 else "developer"


oai_tool = st.builds(
    lambda name, params: {"type": "function", "function": {"name": name, "parameters": params}},
    st.sampled_from(["lookup", "f"]),
    schema,
)
_openai_body = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["chat", "claude", "local", "gem"]),
        "messages": st.lists(oai_message, min_size=1, max_size=4).map(
            lambda ms: [*ms, {"role": "user", "content": "go"}]
        ),
    },
    optional={
        "stream": st.booleans(),
        "tools": st.lists(oai_tool, min_size=1, max_size=2),
        "tool_choice": st.sampled_from(
            ["auto", "none", "required", {"type": "function", "function": {"name": "f"}}]
        ),
        "temperature": st.sampled_from([0, 0.5, 1]),
        "max_tokens": st.integers(1, 64),
        "seed": st.integers(-5, 5),
        "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
        "stop": st.sampled_from(["\n", ["a", "b"]]),
        "user": words,
    },
)


def _consistent(body: dict[str, Any]) -> dict[str, Any]:
    """What a valid request needs: a tool choice only with tools, stream options only when
    streaming (the mutations then break one thing at a time)."""
    if "tools" not in body:
        body.pop("tool_choice", None)
    if body.get("stream"):
        body["stream_options"] = {"include_usage": True}
    return body


openai_body = _openai_body.map(_consistent)

# --------------------------------------------------------------------------- Anthropic bodies

ant_image = st.builds(
    lambda media, data: {
        "type": "image",
        "source": {"type": "base64", "media_type": media, "data": data},
    },
    st.sampled_from(["image/png", "image/png", "image/gif", "text/plain"]),
    st.sampled_from(["iVBORw0KGgo=", "iVBORw0KGgo=", ""]),
) | st.just({"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}})
ant_text = st.builds(lambda t: {"type": "text", "text": t}, words.filter(bool))
ant_tool_use = st.builds(
    lambda i, inp: {"type": "tool_use", "id": f"toolu_{i}", "name": "lookup", "input": inp},
    st.integers(0, 3),
    st.dictionaries(st.sampled_from(["city", "q"]), hostile, max_size=2),
)
ant_tool_result = st.builds(
    lambda i, c, err: {
        "type": "tool_result",
        "tool_use_id": f"toolu_{i}",
        "content": c,
        "is_error": err,
    },
    st.integers(0, 3),
    words | st.lists(ant_text | ant_image, max_size=2),
    st.booleans(),
)
ant_user = st.builds(
    lambda c: {"role": "user", "content": c},
    words.filter(bool) | st.lists(ant_text | ant_image | ant_tool_result, min_size=1, max_size=3),
)
ant_assistant = st.builds(
    lambda c: {"role": "assistant", "content": c},
    words.filter(bool) | st.lists(ant_text | ant_tool_use, min_size=1, max_size=2),
)
ant_tool = st.builds(
    lambda name, s: {"name": name, "description": "d", "input_schema": s},
    st.sampled_from(["lookup", "f"]),
    schema,
)
anthropic_body = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["claude", "chat", "local", "gem"]),
        "max_tokens": st.integers(1, 64),
        "messages": st.lists(st.tuples(ant_user, ant_assistant), max_size=2).map(
            lambda turns: [m for pair in turns for m in pair] + [{"role": "user", "content": "go"}]
        ),
    },
    optional={
        "system": words | st.lists(ant_text, max_size=2),
        "stream": st.booleans(),
        "tools": st.lists(ant_tool, min_size=1, max_size=2),
        "tool_choice": st.sampled_from(
            [{"type": "auto"}, {"type": "any"}, {"type": "tool", "name": "f"}]
        ),
        "temperature": st.sampled_from([0, 0.5, 1]),
        "top_k": st.integers(0, 5),
        "stop_sequences": st.just(["\n\n"]),
        "metadata": st.just({"user_id": "u1"}),
    },
)

# ------------------------------------------------------------------------------- admin bodies
# Valid shapes; ``mutated`` breaks them (its "edge" action puts huge numbers in number fields).
small = st.sampled_from([0, 1, 5])
seconds = st.sampled_from([0, 0.5, 60])
admin_fault = st.fixed_dictionaries(
    {
        "deployment": st.sampled_from(["*", "a/up-a", "c/claude-up"]),
        "kind": st.sampled_from(["status", "outage", "reset", "cut", "stall", "rate_limit"]),
    },
    optional={
        "after_tokens": small,
        "count": small.map(lambda n: n + 1),
        "seconds": seconds,
        "retry_after": seconds,
        "probability": st.sampled_from([0, 0.5, 1]),
        "for_s": seconds.map(lambda s: s + 1),
        "model": st.sampled_from(["*", "up-a"]),
    },
).map(lambda f: {**f, "status": 503} if f["kind"] == "status" else f)
admin_breaker = st.fixed_dictionaries({"force": st.sampled_from(["open", "closed", None])})
admin_budget = st.fixed_dictionaries(
    {"period": st.sampled_from(["day", "month"]), "limit_usd": st.sampled_from(["10", 3, 0.5])},
    optional={"hard": st.booleans(), "model": st.sampled_from(["chat", None])},
) | st.fixed_dictionaries({}, optional={"rpm": small, "tpm": small, "concurrency": small})


# ---------------------------------------------------------------------------------- mutation


edges = st.sampled_from([*HUGE, 1e308, -1e308, -1, 0, 0.5, Raw("1e400"), Raw("NaN"), Raw("-0")])


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _locations(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in ``value``, outermost first."""
    out: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for key in keys:
            out.append((node, key))
            child = node[key]
            if isinstance(child, dict | list):
                stack.append(child)
    return out


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> bytes:
    """A body of ``base`` with up to three values replaced, deleted or added, then rendered
    and perhaps mangled as text; or a body that is not an object, or not JSON at all."""
    shape = draw(st.sampled_from(["mutated"] * 8 + ["intact"] * 3 + ["not_object", "garbage"]))
    if shape == "not_object":
        return render(draw(hostile))
    if shape == "garbage":
        return draw(
            st.binary(max_size=64) | st.sampled_from([b"", b"{", b'{"model":', b"\xff\xfe{}"])
        )
    body = copy.deepcopy(draw(base))  # strategies may share objects (st.just): never mutate them
    for _ in range(
        draw(st.integers(1 if shape == "mutated" else 0, 3 if shape == "mutated" else 0))
    ):
        places = _locations(body)[::-1] or [(body, "x")]  # innermost first: small draws
        node, key = places[draw(st.integers(0, len(places) - 1))]  # go deep
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "edge", "edge"]))
        numbers = [(n, k) for n, k in places if k in n and is_number(n[k])]
        if action == "edge" and numbers:  # a number field gets a number from the edges
            node, key = numbers[draw(st.integers(0, len(numbers) - 1))]
            node[key] = draw(edges)
        elif action == "delete" and isinstance(node, dict) and key in node:
            del node[key]
        elif action == "add" and isinstance(node, dict):
            name = st.sampled_from(["x", "logit_bias", "metadata", "content", "type", "model"])
            node[draw(name)] = draw(hostile)
        else:
            node[key] = draw(hostile)
    text = render(body)
    mangle = draw(st.sampled_from(["none"] * 12 + ["duplicate", "utf8", "truncate"]))
    if mangle == "duplicate":  # a key twice: the parser keeps the last one
        key = draw(st.sampled_from(["model", "messages", "stream", "max_tokens"]))
        text = b'{"' + key.encode() + b'":' + render(draw(hostile)) + b"," + text[1:]
    elif mangle == "utf8":
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe2\x82"]))
            + text[at:]
        )
    elif mangle == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    return text


@st.composite
def one_edge(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> bytes:
    """A body of ``base`` with one field added or set to a number from the edges (huge
    integers, floats that overflow, NaN...): a number where one is expected, just too big."""
    body = copy.deepcopy(draw(base))
    numbers = [(n, k) for n, k in _locations(body) if is_number(n[k])]
    name = draw(st.sampled_from(NUMBER_FIELDS))
    if numbers and draw(st.booleans()):
        node, key = numbers[draw(st.integers(0, len(numbers) - 1))]
        node[key] = draw(edges)
    else:
        body[name] = draw(edges)
    return render(body)


# Number fields of the chat and admin bodies, set by ``one_edge`` even when the body lacks them.
NUMBER_FIELDS = [
    *("max_tokens", "max_completion_tokens", "seed", "n", "temperature", "top_p", "top_k"),
    *("after_tokens", "count", "status", "seconds", "retry_after", "probability", "for_s"),
    *("rpm", "tpm", "concurrency", "window_s", "limit_usd"),
]


def bodies(base: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    """Everything the fuzz tests send for one API: mutated bodies, and bodies one number away
    from valid."""
    return mutated(base) | one_edge(base)
