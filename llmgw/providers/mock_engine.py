"""The mock engine: deterministic canned answers for canonical chat requests (pure, no I/O).

Both the in-process ``MockProvider`` and the standalone ``llmgw mock serve`` upstream answer with
this engine, so a prompt gets the same answer whichever way it is asked.

* **Text** is a run of word-like pieces (``" lorem"``, ``" ipsum"``, ...) drawn from a fixed
  vocabulary by a 64-bit LCG seeded with a BLAKE2b hash of the prompt (every message's text,
  role-tagged). Same prompt, same text; a different prompt, (almost surely) a different text. The
  model name is not part of the seed: which deployment answered shows in the response's model.
* **Length** is ``output_tokens`` pieces, capped by ``req.max_tokens`` (finish ``length`` when
  the cap cut the answer). A ``stop`` sequence ends the text just before its first occurrence
  (finish ``stop``).
* **Tool calls**: when the request has tools, ``tool_choice`` is not ``"none"`` and the last
  message is from the user, the answer calls the tool named by ``tool_choice`` (else the first
  tool) with arguments built from its JSON schema, every required property filled with a
  deterministic value of its type; finish ``tool_calls``. After a tool result, it answers text.
* **Usage**: input tokens are billed as ``4 + ceil(ascii / 4) + other`` per message, where
  ``ascii`` counts the ASCII characters of the message's text (its content, text parts and tool
  calls' names and arguments) and ``other`` the UTF-8 bytes of every other character: a
  byte-level tokenizer with merges for ASCII only. It is deliberately unlike the proxy
  tokenizer (``o200k_base``) that the gateway estimates with: 400 KB of spaces bill 100,000
  tokens where the proxy counts ~3,000, emoji bill 4 tokens each where it counts 1, CJK 3
  where it counts ~2. Budget tests use it as a provider whose tokenizer the gateway does not
  have; it stays under the byte bound of ``llmgw.accounting.prompt``. Output
  tokens are the number of text pieces, or ``ceil(chars / 4)`` of the tool calls' names and
  arguments for a tool-call answer.
* **Timing** knobs (``ttft_ms``, ``tokens_per_s``) are only reported here (``delay_s``); the
  callers do the sleeping.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmgw.jsontext import dumps_text
from llmgw.types import (
    ChatRequest,
    ChatResponse,
    Chunk,
    FinishReason,
    Message,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
)

_WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud "
    "exercitation ullamco laboris nisi aliquip ex ea commodo consequat duis aute irure "
    "in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint "
    "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est"
)
VOCABULARY: tuple[str, ...] = tuple(" " + w for w in _WORDS.split(" "))
_LCG_MUL = 6364136223846793005
_LCG_ADD = 1442695040888963407
_MASK64 = (1 << 64) - 1
_PER_MESSAGE_TOKENS = 4
_MAX_SCHEMA_DEPTH = 8


@dataclass(slots=True, frozen=True)
class MockAnswer:
    """What the engine answers: text pieces or tool calls, the finish reason and usage."""

    pieces: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: Usage

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def message_text(msg: Message) -> str:
    """All text a canonical message carries (content, text parts, tool-call names/arguments)."""
    content = msg.get("content")
    out: list[str] = []
    if isinstance(content, str):
        out.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.append(part["text"])
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") if isinstance(call, dict) else None
        fn = fn if isinstance(fn, dict) else {}
        out.append(str(fn.get("name") or ""))
        out.append(str(fn.get("arguments") or ""))
    return "".join(out)


def _ceil_div4(n: int) -> int:
    return (n + 3) // 4


def text_tokens(text: str) -> int:
    """``ceil(ascii / 4)`` plus the UTF-8 bytes of every non-ASCII character (C speed)."""
    if text.isascii():
        return _ceil_div4(len(text))
    ascii_chars = len(text.encode("ascii", "ignore"))
    return _ceil_div4(ascii_chars) + len(text.encode("utf-8", "surrogatepass")) - ascii_chars


def estimate_input_tokens(messages: list[Message]) -> int:
    """What the mock bills for ``messages``: ``4 + text_tokens`` of each (module docstring)."""
    return sum(_PER_MESSAGE_TOKENS + text_tokens(message_text(m)) for m in messages)


def prompt_seed(messages: list[Message]) -> int:
    """A 64-bit seed from the prompt's roles and text."""
    h = hashlib.blake2b(digest_size=8)
    for msg in messages:
        h.update(str(msg.get("role", "")).encode())
        h.update(b"\x00")
        h.update(message_text(msg).encode("utf-8", "surrogatepass"))
        h.update(b"\x01")
    return int.from_bytes(h.digest(), "big")


def words(seed: int, n: int) -> list[str]:
    """``n`` vocabulary pieces from ``seed``: a 64-bit LCG, high bits pick the word."""
    out: list[str] = []
    x = seed
    size = len(VOCABULARY)
    for _ in range(n):
        x = (x * _LCG_MUL + _LCG_ADD) & _MASK64
        out.append(VOCABULARY[(x >> 33) % size])
    return out


def _cut_at_stop(pieces: list[str], stops: list[str]) -> list[str] | None:
    """Pieces up to just before the first stop sequence, or None when no stop occurs."""
    text = "".join(pieces)
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    if not hits:
        return None
    left = min(hits)
    out: list[str] = []
    for piece in pieces:
        if left <= 0:
            break
        out.append(piece[:left])
        left -= len(piece)
    return out


# ----------------------------------------------------------------------------------- tools


def value_for_schema(schema: Any, name: str, seed: int, depth: int = 0) -> Any:
    """A deterministic value of the schema's type (``enum`` / ``const`` / ``default`` first)."""
    if not isinstance(schema, dict):
        return f"{name}-{seed % 1000}"
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[seed % len(enum)]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                return value_for_schema(options[0], name, seed, depth + 1)
        kind = "object" if "properties" in schema else "string"
    if kind == "string":
        return VOCABULARY[seed % len(VOCABULARY)].strip()
    if kind == "integer":
        return seed % 100
    if kind == "number":
        return (seed % 1000) / 10
    if kind == "boolean":
        return seed % 2 == 0
    if kind == "null":
        return None
    if kind == "array":
        if depth >= _MAX_SCHEMA_DEPTH:
            return []
        return [value_for_schema(schema.get("items"), name, seed, depth + 1)]
    if kind == "object":
        return object_for_schema(schema, seed, depth + 1)
    return f"{name}-{seed % 1000}"


def object_for_schema(schema: dict[str, Any], seed: int, depth: int = 0) -> dict[str, Any]:
    """An object with every required property of ``schema`` filled by type."""
    if depth >= _MAX_SCHEMA_DEPTH:
        return {}
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    required = schema.get("required")
    required = required if isinstance(required, list) else []
    out: dict[str, Any] = {}
    for i, key in enumerate(required):
        if isinstance(key, str):
            sub_seed = (seed >> (i % 48)) ^ (i * 7919)
            out[key] = value_for_schema(props.get(key), key, sub_seed, depth)
    return out


def _tool_name(tool: Tool) -> str:
    fn = tool.get("function")
    return str(fn.get("name", "")) if isinstance(fn, dict) else ""


def pick_tool(req: ChatRequest) -> Tool | None:
    """The tool this request makes the mock call, or None for a text answer."""
    if not req.tools or req.tool_choice == "none" or not req.messages:
        return None
    if req.messages[-1].get("role") != "user":
        return None
    choice = req.tool_choice
    if isinstance(choice, dict):
        fn = choice.get("function")
        wanted = fn.get("name") if isinstance(fn, dict) else choice.get("name")
        for tool in req.tools:
            if _tool_name(tool) == wanted:
                return tool
    return req.tools[0]


def build_tool_call(tool: Tool, seed: int) -> ToolCall:
    """A complete tool call to ``tool`` with schema-derived arguments and a deterministic id."""
    raw_fn = tool.get("function")
    fn: dict[str, Any] = raw_fn if isinstance(raw_fn, dict) else {}
    raw_params = fn.get("parameters")
    params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
    args = object_for_schema(params, seed)
    return {
        "id": f"call_{seed:016x}",
        "type": "function",
        "function": {"name": _tool_name(tool), "arguments": dumps_text(args)},
    }


def split_arguments(arguments: str) -> list[str]:
    """Arguments in 2+ fragments (about 16 characters each), as streams deliver them."""
    n = max(2, _ceil_div4(len(arguments)) // 4 + 1)
    step = max(1, -(-len(arguments) // n))
    parts = [arguments[i : i + step] for i in range(0, len(arguments), step)]
    while len(parts) < 2:
        parts.append("")
    return parts


# ---------------------------------------------------------------------------------- engine


class MockEngine:
    """Deterministic answers plus the timing knobs callers apply (``0`` tokens/s = instant)."""

    __slots__ = ("output_tokens", "tokens_per_s", "ttft_ms")

    def __init__(
        self, ttft_ms: float = 0, tokens_per_s: float = 0, output_tokens: int = 16
    ) -> None:
        if ttft_ms < 0 or tokens_per_s < 0 or output_tokens < 0:
            raise ValueError("mock knobs must not be negative")
        self.ttft_ms = float(ttft_ms)
        self.tokens_per_s = float(tokens_per_s)
        self.output_tokens = int(output_tokens)

    @classmethod
    def from_knobs(cls, knobs: dict[str, object]) -> MockEngine:
        """An engine from a ``ProviderConfig.mock`` dict (unknown keys are ignored)."""

        def num(key: str, default: float) -> float:
            value = knobs.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"mock knob {key} must be a number")
            return float(value)

        return cls(
            ttft_ms=num("ttft_ms", 0),
            tokens_per_s=num("tokens_per_s", 0),
            output_tokens=int(num("output_tokens", 16)),
        )

    @property
    def ttft_s(self) -> float:
        return self.ttft_ms / 1000

    @property
    def token_interval_s(self) -> float:
        """Seconds between two streamed tokens (0 when instant)."""
        return 1 / self.tokens_per_s if self.tokens_per_s > 0 else 0.0

    def delay_s(self, answer: MockAnswer) -> float:
        """How long a non-streamed answer takes: time to first token plus pacing."""
        return self.ttft_s + answer.usage.output_tokens * self.token_interval_s

    def answer(self, req: ChatRequest) -> MockAnswer:
        """The canned answer for ``req``."""
        seed = prompt_seed(req.messages)
        input_tokens = estimate_input_tokens(req.messages)
        tool = pick_tool(req)
        if tool is not None:
            call = build_tool_call(tool, seed)
            fn = call["function"]
            out = _ceil_div4(len(fn["name"]) + len(fn["arguments"]))
            return MockAnswer((), (call,), "tool_calls", Usage(input_tokens, out))
        n = self.output_tokens
        finish: FinishReason = "stop"
        if req.max_tokens is not None and req.max_tokens < n:
            n = max(0, req.max_tokens)
            finish = "length"
        pieces = words(seed, n)
        if req.stop:
            cut = _cut_at_stop(pieces, req.stop)
            if cut is not None:
                pieces, finish = cut, "stop"
        return MockAnswer(tuple(pieces), (), finish, Usage(input_tokens, len(pieces)))

    def response(self, req: ChatRequest, id: str, created: int) -> ChatResponse:
        """The whole answer as a canonical ``ChatResponse``."""
        return self.to_response(self.answer(req), req.model, id, created)

    @staticmethod
    def to_response(answer: MockAnswer, model: str, id: str, created: int) -> ChatResponse:
        """``answer`` as a canonical ``ChatResponse`` for ``model``."""
        return ChatResponse(
            id=id,
            model=model,
            content=None if answer.tool_calls else answer.text,
            finish_reason=answer.finish_reason,
            tool_calls=[dict(c) for c in answer.tool_calls] or None,
            usage=Usage(answer.usage.input_tokens, answer.usage.output_tokens),
            created=created,
        )

    def chunks(self, req: ChatRequest) -> list[Chunk]:
        """The canonical stream for ``req``: content chunks, the finish chunk, the usage chunk."""
        return list(answer_chunks(self.answer(req)))


def answer_chunks(answer: MockAnswer) -> Iterator[Chunk]:
    """``answer`` as canonical chunks; each text piece or argument fragment is one token."""
    for piece in answer.pieces:
        yield Chunk(text=piece)
    for index, call in enumerate(answer.tool_calls):
        fn = call["function"]
        yield Chunk(tool_calls=[ToolCallDelta(index, id=call["id"], name=fn["name"])])
        for fragment in split_arguments(fn["arguments"]):
            yield Chunk(tool_calls=[ToolCallDelta(index, arguments=fragment)])
    yield Chunk(finish_reason=answer.finish_reason)
    yield Chunk(usage=Usage(answer.usage.input_tokens, answer.usage.output_tokens))


def is_token(chunk: Chunk) -> bool:
    """Whether a chunk carries content (counts toward ``after_tokens`` of stream faults)."""
    return bool(chunk.text or chunk.tool_calls)
