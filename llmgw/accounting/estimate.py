"""Token counts with bounded work, for code on the event loop that cannot wait for a thread.

A prompt (or completion) of at most :data:`INLINE_CHARS` characters is counted exactly, which
costs at most a few milliseconds whatever the text (BPE is at most ~0.5 µs per character
unloaded, ``llmgw.accounting.pieces``) and ~0.3 ms for ordinary text. A larger one is
*sampled*: :data:`SAMPLES` windows spread evenly over its texts (running on into the next
text where one ends), :data:`INLINE_CHARS` characters in all, are counted exactly and their
tokens per character scaled to the whole, capped at 4 bytes per character (a byte bound that
needs no encoding, ``llmgw.accounting.prompt``). The result is marked ``estimated``. On mixed
prose and code it lands within ~10% (6% on this repository's 600 KB of sources); a text built
to fool it can move it further, which is why nothing that guards money uses it: admission
reserves with an exact count or the byte bound (``llmgw.gateway.limiter``), and this serves
the rest (the ``message_start`` announcement, usage of a provider that reported none, TPM
demand that settlement corrects).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence

import tiktoken

from llmgw.accounting.prompt import PromptShape, prompt_shape, utf8_len
from llmgw.accounting.tokens import (
    TOKENS_PER_TOOL_CALL,
    TokenCount,
    counter,
    text_len,
)
from llmgw.types import Message, Tool, ToolCall, ToolCallDelta

INLINE_CHARS = 8192
SAMPLES = 32
_ALIGN = 32  # how far a window's edge moves to reach a space


def _window(
    enc: tiktoken.Encoding, texts: Sequence[str], i: int, start: int, size: int
) -> tuple[int, int]:
    """(characters, tokens) of about ``size`` characters from ``texts[i][start:]`` on, running
    into the following texts when one ends first. Edges inside a text move to a space when one
    is near, so a window does not count half a word as a whole token."""
    chars = tokens = 0
    text = texts[i]
    space = text.find(" ", start, start + _ALIGN)
    if space > start:
        start = space
    while size > 0:
        stop = min(len(text), start + size)
        if stop < len(text):
            space = text.rfind(" ", max(start + 1, stop - _ALIGN), stop)
            if space > start:
                stop = space
        piece = text[start:stop]
        chars += len(piece)
        tokens += text_len(enc, piece)
        size -= max(1, stop - start)
        i += 1
        if i >= len(texts):
            break
        text, start = texts[i], 0
    return chars, tokens


def sampled_tokens(enc: tiktoken.Encoding, texts: Sequence[str], chars: int) -> int:
    """Tokens of ``texts`` (``chars`` characters in all): exact up to :data:`INLINE_CHARS`,
    else scaled from :data:`SAMPLES` windows spread evenly over them."""
    if chars <= INLINE_CHARS:
        return sum(text_len(enc, t) for t in texts)
    ends = list(itertools.accumulate(map(len, texts)))
    size = INLINE_CHARS // SAMPLES
    seen_chars = seen_tokens = 0
    for j in range(SAMPLES):
        at = max(0, (2 * j + 1) * chars // (2 * SAMPLES) - size // 2)
        i = bisect.bisect_right(ends, at)
        if i >= len(texts):
            break
        c, t = _window(enc, texts, i, at - (ends[i] - len(texts[i])), size)
        seen_chars += c
        seen_tokens += t
    if seen_chars == 0:
        return 0
    return round(seen_tokens * chars / seen_chars)


def estimate_shape(model: str, shape: PromptShape) -> TokenCount:
    """Prompt tokens of ``shape`` for ``model``: exact when small, else sampled (see above)."""
    enc, estimated = counter(model)
    if shape.chars <= INLINE_CHARS:
        return TokenCount(shape.overhead + sum(text_len(enc, t) for t in shape.texts), estimated)
    tokens = shape.overhead + sampled_tokens(enc, shape.texts, shape.chars)
    return TokenCount(min(tokens, shape.cheap_bound), True)


def estimate_prompt(
    model: str, messages: Sequence[Message], tools: Sequence[Tool] | None = None
) -> TokenCount:
    """``count_prompt`` with bounded work: exact up to :data:`INLINE_CHARS`, else sampled."""
    return estimate_shape(model, prompt_shape(messages, tools))


def estimate_completion(
    model: str,
    text: str | None,
    tool_calls: Sequence[ToolCall | ToolCallDelta] | None = None,
) -> TokenCount:
    """``count_completion`` with bounded work: exact up to :data:`INLINE_CHARS`, else sampled."""
    enc, estimated = counter(model)
    texts: list[str] = [text] if text else []
    calls = 0
    for call in tool_calls or ():
        calls += 1
        if isinstance(call, ToolCallDelta):
            parts: tuple[object, ...] = (call.name, call.arguments)
        else:
            fn = call.get("function") if isinstance(call, dict) else None
            fn = fn if isinstance(fn, dict) else {}
            parts = (fn.get("name"), fn.get("arguments"))
        texts.extend(p for p in parts if isinstance(p, str) and p)
    chars = sum(map(len, texts))
    tokens = calls * TOKENS_PER_TOOL_CALL + sampled_tokens(enc, texts, chars)
    if chars <= INLINE_CHARS:
        return TokenCount(tokens, estimated)
    bound = calls * TOKENS_PER_TOOL_CALL + sum(map(utf8_len, texts))
    return TokenCount(min(tokens, bound), True)
