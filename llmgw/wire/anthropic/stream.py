"""Anthropic Messages streams: canonical chunks to SSE events and back.

The codec hands these out as ``CODEC.StreamEncoder`` / ``CODEC.StreamDecoder``.

Every event is ``event: <type>`` plus ``data: {"type": <type>, ...}``, in this order:
``message_start`` (a Message with empty content and the prompt's usage); for each content
block a ``content_block_start`` (index i), ``content_block_delta`` events (``text_delta`` for
text, ``input_json_delta`` with ``partial_json`` fragments for a ``tool_use`` block) and a
``content_block_stop``; ``message_delta`` with ``stop_reason`` and the output ``usage``; and
``message_stop``. ``ping`` events may come anywhere; a failure mid-stream is an ``error``
event with the same JSON as an HTTP error body.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgw.errors import GatewayError, UpstreamError
from llmgw.types import Chunk, FinishReason, StreamMeta, ToolCallDelta, Usage
from llmgw.wire.anthropic.errors import PROVIDER, classify_error, encode_error, error_fields
from llmgw.wire.anthropic.usage import (
    finish_reason_from_anthropic,
    message_id,
    stop_reason_to_anthropic,
    usage_from_anthropic,
    usage_to_anthropic,
)
from llmgw.wire.sse import SseEvent, event_object, format_event


def _event(body: dict[str, Any]) -> bytes:
    return format_event(orjson.dumps(body), body["type"])


class AnthropicStreamEncoder:
    """Canonical chunks in, Anthropic SSE events out.

    Text opens a text block; each new tool call closes the open block and opens a ``tool_use``
    block, whose argument fragments become ``input_json_delta`` events. The finish reason and
    usage fed are sent by ``finish()`` in ``message_delta``. This format always reports usage,
    so ``include_usage`` changes nothing; without fed usage the output count is 0.
    """

    __slots__ = (
        "_blocks",
        "_finish",
        "_meta",
        "_next_index",
        "_open",
        "_open_text",
        "_stopped",
        "_usage",
    )

    def __init__(self, meta: StreamMeta, include_usage: bool) -> None:
        self._meta = meta
        self._next_index = 0  # index of the next content block
        self._open: int | None = None  # index of the open block
        self._open_text = False
        self._blocks: dict[int, int] = {}  # canonical tool-call index -> block index
        self._finish: FinishReason | None = None
        self._usage: Usage | None = None
        self._stopped = False

    def start(self) -> bytes:
        """``message_start`` (empty content, the prompt's token count) and a ``ping``."""
        message: dict[str, Any] = {
            "id": message_id(self._meta.id),
            "type": "message",
            "role": "assistant",
            "model": self._meta.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._meta.input_tokens, "output_tokens": 1},
        }
        return _event({"type": "message_start", "message": message}) + _event({"type": "ping"})

    def _close(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open = self._open, None
        return _event({"type": "content_block_stop", "index": index})

    def _open_block(self, block: dict[str, Any], is_text: bool) -> tuple[int, bytes]:
        out = self._close()
        index = self._next_index
        self._next_index += 1
        self._open, self._open_text = index, is_text
        out += _event({"type": "content_block_start", "index": index, "content_block": block})
        return index, out

    def _text(self, text: str) -> bytes:
        out = b""
        if self._open is None or not self._open_text:
            index, out = self._open_block({"type": "text", "text": ""}, True)
        else:
            index = self._open
        delta = {"type": "text_delta", "text": text}
        return out + _event({"type": "content_block_delta", "index": index, "delta": delta})

    def _tool_call(self, tc: ToolCallDelta) -> bytes:
        out = b""
        index = self._blocks.get(tc.index)
        if index is None:
            block = {
                "type": "tool_use",
                "id": tc.id or f"toolu_{self._meta.id}_{tc.index}",
                "name": tc.name or "",
                "input": {},
            }
            index, out = self._open_block(block, False)
            self._blocks[tc.index] = index
        if tc.arguments:
            delta = {"type": "input_json_delta", "partial_json": tc.arguments}
            out += _event({"type": "content_block_delta", "index": index, "delta": delta})
        return out

    def feed(self, chunk: Chunk) -> bytes:
        """The events for one canonical chunk (finish reason and usage are kept for later)."""
        out = b""
        if chunk.text:
            out += self._text(chunk.text)
        for tc in chunk.tool_calls or ():
            out += self._tool_call(tc)
        if chunk.finish_reason is not None:
            self._finish = chunk.finish_reason
        if chunk.usage is not None:
            self._usage = chunk.usage
        return out

    def finish(self) -> bytes:
        """``content_block_stop`` for the open block, ``message_delta``, ``message_stop``."""
        if self._stopped:
            return b""
        self._stopped = True
        reason = self._finish or ("tool_calls" if self._blocks else "stop")
        usage: dict[str, int] = {"output_tokens": 0}
        if self._usage is not None:
            usage = usage_to_anthropic(self._usage)
            del usage["cache_creation_input_tokens"]
        delta = {"stop_reason": stop_reason_to_anthropic(reason), "stop_sequence": None}
        return (
            self._close()
            + _event({"type": "message_delta", "delta": delta, "usage": usage})
            + _event({"type": "message_stop"})
        )

    def error(self, err: GatewayError) -> bytes:
        """An in-band ``error`` event (the anthropic SDK raises ``APIStatusError`` on it)."""
        return _event(encode_error(err)[1])


class AnthropicStreamDecoder:
    """Anthropic SSE events in, canonical chunks out; ``done`` turns true at ``message_stop``.

    ``message_delta`` yields a finish chunk and then a usage chunk (input tokens from
    ``message_start`` unless the delta reports them again). Thinking deltas and unknown events
    are skipped; an ``error`` event raises ``UpstreamError``.
    """

    __slots__ = ("_input", "_tools", "done")

    def __init__(self) -> None:
        self.done = False
        self._input = Usage()
        self._tools: dict[int, int] = {}  # block index -> canonical tool-call index

    def feed(self, event: SseEvent) -> list[Chunk]:
        """Canonical chunks for one SSE event."""
        data = event.data
        if not data or data.isspace():
            return []
        obj = event_object(data, PROVIDER)
        kind = obj.get("type") or event.event
        if kind == "error" or event.event == "error":
            message, err_type = error_fields(obj)
            message = message or "error during streaming"
            raise UpstreamError(
                classify_error(None, err_type, message),
                f"{PROVIDER} stream error: {message}",
                provider=PROVIDER,
            )
        if kind == "message_start":
            started = obj.get("message")
            if isinstance(started, dict):
                self._input = usage_from_anthropic(started.get("usage"))
        elif kind == "content_block_start":
            return self._block_start(obj)
        elif kind == "content_block_delta":
            return self._block_delta(obj)
        elif kind == "message_delta":
            return self._message_delta(obj)
        elif kind == "message_stop":
            self.done = True
        return []

    def _block_start(self, obj: dict[str, Any]) -> list[Chunk]:
        block = obj.get("content_block")
        if not isinstance(block, dict):
            return []
        if block.get("type") == "tool_use":
            position = len(self._tools)
            self._tools[_index(obj)] = position
            call_id, name = block.get("id"), block.get("name")
            delta = ToolCallDelta(
                index=position,
                id=call_id if isinstance(call_id, str) else None,
                name=name if isinstance(name, str) else None,
            )
            return [Chunk(tool_calls=[delta])]
        text = block.get("text")
        if block.get("type") == "text" and isinstance(text, str) and text:
            return [Chunk(text=text)]
        return []

    def _block_delta(self, obj: dict[str, Any]) -> list[Chunk]:
        delta = obj.get("delta")
        if not isinstance(delta, dict):
            return []
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text")
            return [Chunk(text=text)] if isinstance(text, str) and text else []
        if kind == "input_json_delta":
            fragment = delta.get("partial_json")
            position = self._tools.get(_index(obj))
            if position is None or not isinstance(fragment, str) or not fragment:
                return []
            return [Chunk(tool_calls=[ToolCallDelta(index=position, arguments=fragment)])]
        return []

    def _message_delta(self, obj: dict[str, Any]) -> list[Chunk]:
        out: list[Chunk] = []
        delta = obj.get("delta")
        reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if reason is not None:
            out.append(Chunk(finish_reason=finish_reason_from_anthropic(reason)))
        raw = obj.get("usage")
        if isinstance(raw, dict):
            usage = Usage(
                input_tokens=self._input.input_tokens,
                output_tokens=_count(raw.get("output_tokens")),
                cached_input_tokens=self._input.cached_input_tokens,
            )
            if any(raw.get(k) is not None for k in ("input_tokens", "cache_read_input_tokens")):
                reported = usage_from_anthropic(raw)
                usage.input_tokens = reported.input_tokens
                usage.cached_input_tokens = reported.cached_input_tokens
            out.append(Chunk(usage=usage))
        return out


def _index(obj: dict[str, Any]) -> int:
    index = obj.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else -1


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
