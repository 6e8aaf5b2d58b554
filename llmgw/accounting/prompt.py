"""A prompt taken apart for counting: its texts, its fixed overhead, and a byte bound. Pure.

One walk over the canonical messages and tools gives what every counter needs:

``texts``
    Every string a tokenizer reads, in order: each message's string fields (role, content,
    name, ...), the text of its content parts, its tool calls' names and arguments, and the
    tools' compact JSON.
``overhead``
    The tokens that OpenAI's chat recipe adds around those texts: 3 per message, 1 per
    ``name``, 3 per tool call, a fixed estimate per image part, and 3 priming the reply. The
    exact count is ``overhead`` plus the tokens of every text.
``chars``
    The characters of all texts: the work BPE would do, known before doing any of it.
``bound``
    Tokens that no byte-level tokenizer can exceed: the UTF-8 bytes of each text and of each
    tool-call id (a byte-level BPE emits at least one byte per token), plus
    :data:`BOUND_TOKENS_PER_MESSAGE` per message, :data:`BOUND_TOKENS_PER_TOOL_CALL` per tool
    call, :data:`IMAGE_TOKENS_BOUND` per image and the reply priming. SentencePiece
    tokenizers with byte fallback (Gemini) stay under it too: a piece covers at least one
    byte, and the one extra prefix token per text fits in the per-message allowance. Content
    parts the gateway does not know are bounded by the bytes of their JSON. A crafted text
    cannot beat this bound, whatever the provider's vocabulary; computing it costs one
    ``str.encode`` per non-ASCII text (C speed, about 1 ms per MB).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmgw.jsontext import dumps, dumps_text
from llmgw.types import Message, Tool

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
TOKENS_PER_TOOL_CALL = 3
# OpenAI's vision pricing: 85 base tokens plus 170 per 512px tile. A 1024x1024 image at "high"
# or "auto" detail is scaled to 768x768, four tiles: 85 + 4 * 170 = 765. "low" is a flat 85.
IMAGE_TOKENS = 765
IMAGE_TOKENS_LOW = 85

# The bound's allowances: more than any provider's known per-message and per-call framing
# (OpenAI 3-4, the mock 4), and Anthropic's documented most for one image (~1,600 tokens at
# 1.15 megapixels, the size it scales every image down to).
BOUND_TOKENS_PER_MESSAGE = 8
BOUND_TOKENS_PER_TOOL_CALL = 8
IMAGE_TOKENS_BOUND = 1600


def utf8_len(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (lone surrogates, which JSON can carry, count as 3).

    O(1) for ASCII; otherwise one encode, ~5 ms for 4 MB (a third more with the
    ``surrogatepass`` handler, so that is only the fallback)."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return len(text.encode("utf-8", "surrogatepass"))


@dataclass(slots=True)
class PromptShape:
    """What the module docstring describes, for one prompt. ``bound`` is computed on first
    use (it encodes non-ASCII texts) and kept; ``allowance`` is its part that is not text."""

    texts: tuple[str, ...]
    overhead: int
    chars: int
    allowance: int
    _bound: int | None = field(default=None, repr=False, compare=False)

    @property
    def bound(self) -> int:
        if self._bound is None:
            self._bound = self.allowance + sum(map(utf8_len, self.texts))
        return self._bound

    @property
    def cheap_bound(self) -> int:
        """A looser bound known without encoding: 4 bytes per character at most."""
        return self.allowance + 4 * self.chars


class _Walk:
    __slots__ = ("allowance", "overhead", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.overhead = REPLY_PRIMING_TOKENS
        self.allowance = REPLY_PRIMING_TOKENS

    def text(self, value: str) -> None:
        if value:
            self.texts.append(value)

    def part(self, part: Any) -> None:
        if not isinstance(part, dict):
            return
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if isinstance(text, str):
                self.text(text)
        elif kind == "image_url":
            image = part.get("image_url")
            detail = image.get("detail") if isinstance(image, dict) else None
            self.overhead += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS
            self.allowance += IMAGE_TOKENS_BOUND
        else:  # not counted by the recipe, but a provider may bill it: bound it by its bytes
            self.allowance += len(dumps(part))

    def tool_call(self, call: Any) -> None:
        fn = call.get("function") if isinstance(call, dict) else None
        fn = fn if isinstance(fn, dict) else {}
        self.overhead += TOKENS_PER_TOOL_CALL
        self.allowance += BOUND_TOKENS_PER_TOOL_CALL
        call_id = call.get("id") if isinstance(call, dict) else None
        if isinstance(call_id, str):  # not in OpenAI's recipe, but providers render it
            self.allowance += utf8_len(call_id)
        for value in (fn.get("name"), fn.get("arguments")):
            if isinstance(value, str):
                self.text(value)

    def message(self, message: Message) -> None:
        self.overhead += TOKENS_PER_MESSAGE
        self.allowance += BOUND_TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "tool_calls":
                if isinstance(value, list):
                    for call in value:
                        self.tool_call(call)
            elif isinstance(value, str):
                self.text(value)
                if key == "name":
                    self.overhead += TOKENS_PER_NAME
            elif key == "content" and isinstance(value, list):
                for part in value:
                    self.part(part)


def prompt_shape(messages: Sequence[Message], tools: Sequence[Tool] | None = None) -> PromptShape:
    """Take ``messages`` and ``tools`` apart (see the module docstring). O(size), mostly C."""
    walk = _Walk()
    for message in messages:
        walk.message(message)
    if tools:
        walk.text(dumps_text(list(tools)))
    texts = tuple(walk.texts)
    return PromptShape(texts, walk.overhead, sum(map(len, texts)), walk.allowance)
