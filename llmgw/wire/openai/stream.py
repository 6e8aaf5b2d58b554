"""OpenAI chat-completions streams: canonical chunks to SSE bytes and back.

The codec hands these out as ``CODEC.StreamEncoder`` / ``CODEC.StreamDecoder``.

An OpenAI stream is a sequence of ``data: {chat.completion.chunk}`` events: the first carries
``delta.role``; then text deltas (``delta.content``) and tool-call deltas
(``delta.tool_calls[{index, id?, type?, function{name?, arguments}}]``, the id, type and name
only on a call's first piece); then a chunk with an empty delta and ``finish_reason``; with
``stream_options.include_usage`` a last chunk with ``choices: []`` and ``usage`` (earlier chunks
then carry ``"usage": null``); and finally ``data: [DONE]``. A failure mid-stream is sent as
``data: {"error": {...}}``.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgw.errors import GatewayError, UpstreamError
from llmgw.types import Chunk, FinishReason, StreamMeta, ToolCallDelta, Usage
from llmgw.wire.openai.errors import PROVIDER, classify_error, encode_error, error_fields
from llmgw.wire.openai.usage import finish_reason_from_openai, usage_from_openai, usage_to_openai
from llmgw.wire.sse import SseEvent, event_object, format_event

_DONE = format_event(b"[DONE]")


class OpenAIStreamEncoder:
    """Canonical chunks in, OpenAI ``chat.completion.chunk`` SSE bytes out.

    ``finish()`` closes the stream: it sends a ``stop`` finish chunk if none was fed, the usage
    chunk when the caller asked for ``include_usage`` (falling back to ``meta.input_tokens``
    and no output when no usage was fed), then ``[DONE]``.
    """

    __slots__ = ("_base", "_finished", "_include_usage", "_meta", "_usage")

    def __init__(self, meta: StreamMeta, include_usage: bool) -> None:
        self._meta = meta
        self._include_usage = include_usage
        self._usage: Usage | None = None
        self._finished = False
        self._base: dict[str, Any] = {
            "id": meta.id,
            "object": "chat.completion.chunk",
            "created": meta.created,
            "model": meta.model,
        }

    def _event(self, delta: dict[str, Any], finish_reason: FinishReason | None = None) -> bytes:
        body = dict(self._base)
        body["choices"] = [
            {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        ]
        if self._include_usage:
            body["usage"] = None
        return format_event(orjson.dumps(body))

    def start(self) -> bytes:
        """The opening chunk, announcing the assistant role."""
        return self._event({"role": "assistant", "content": "", "refusal": None})

    def feed(self, chunk: Chunk) -> bytes:
        """The events for one canonical chunk (``b""`` when it only carries usage)."""
        out = b""
        delta: dict[str, Any] = {}
        if chunk.text:
            delta["content"] = chunk.text
        if chunk.tool_calls:
            delta["tool_calls"] = [_tool_call_delta(tc) for tc in chunk.tool_calls]
        if delta:
            out += self._event(delta)
        if chunk.finish_reason is not None and not self._finished:
            self._finished = True
            out += self._event({}, chunk.finish_reason)
        if chunk.usage is not None:
            self._usage = chunk.usage
        return out

    def finish(self) -> bytes:
        """Closing events: finish chunk if still missing, usage chunk if asked for, ``[DONE]``."""
        out = b""
        if not self._finished:
            self._finished = True
            out += self._event({}, "stop")
        if self._include_usage:
            usage = self._usage or Usage(input_tokens=self._meta.input_tokens)
            body = dict(self._base)
            body["choices"] = []
            body["usage"] = usage_to_openai(usage)
            out += format_event(orjson.dumps(body))
        return out + _DONE

    def error(self, err: GatewayError) -> bytes:
        """An in-band error event (the openai SDK raises ``APIError`` on it)."""
        return format_event(orjson.dumps(encode_error(err)[1]))


def _tool_call_delta(tc: ToolCallDelta) -> dict[str, Any]:
    fn: dict[str, Any] = {}
    out: dict[str, Any] = {"index": tc.index}
    if tc.id is not None:
        out["id"] = tc.id
        out["type"] = "function"
    if tc.name is not None:
        fn["name"] = tc.name
    fn["arguments"] = tc.arguments
    out["function"] = fn
    return out


class OpenAIStreamDecoder:
    """OpenAI SSE events in, canonical chunks out.

    Only the first choice (index 0) is read. A chunk that carries both deltas and usage (some
    compatible servers do that) yields the delta chunk first, then a usage-only chunk. Refusal
    deltas are passed on as text, since a canonical chunk has no refusal field.
    """

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def feed(self, event: SseEvent) -> list[Chunk]:
        """Canonical chunks for one SSE event; raises ``UpstreamError`` on an error event."""
        data = event.data
        if not data or data.isspace():
            return []
        if data.startswith("[DONE]"):
            self.done = True
            return []
        obj = event_object(data, PROVIDER, "chunk")
        if obj.get("error") or event.event == "error":
            raise _stream_error(obj)
        out: list[Chunk] = []
        choices = obj.get("choices")
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and choice.get("index", 0) == 0:
                    chunk = _choice_chunk(choice)
                    if chunk is not None:
                        out.append(chunk)
                    break
        usage = obj.get("usage")
        if isinstance(usage, dict):
            out.append(Chunk(usage=usage_from_openai(usage)))
        return out


def _choice_chunk(choice: dict[str, Any]) -> Chunk | None:
    delta = choice.get("delta")
    text: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    if isinstance(delta, dict):
        content = delta.get("content")
        if isinstance(content, str) and content:
            text = content
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            text = (text or "") + refusal
        raw_calls = delta.get("tool_calls")
        if isinstance(raw_calls, list) and raw_calls:
            tool_calls = [_tool_call_piece(tc, i) for i, tc in enumerate(raw_calls)]
    reason = choice.get("finish_reason")
    finish = finish_reason_from_openai(reason) if reason is not None else None
    if text is None and tool_calls is None and finish is None:
        return None
    return Chunk(text=text, tool_calls=tool_calls, finish_reason=finish)


def _tool_call_piece(raw: Any, position: int) -> ToolCallDelta:
    if not isinstance(raw, dict):
        raise UpstreamError(
            "server_error", f"{PROVIDER}: malformed tool call delta", provider=PROVIDER
        )
    index = raw.get("index")
    fn = raw.get("function")
    fn = fn if isinstance(fn, dict) else {}
    name = fn.get("name")
    arguments = fn.get("arguments")
    call_id = raw.get("id")
    return ToolCallDelta(
        index=index if isinstance(index, int) else position,
        id=call_id if isinstance(call_id, str) and call_id else None,
        name=name if isinstance(name, str) and name else None,
        arguments=arguments if isinstance(arguments, str) else "",
    )


def _stream_error(obj: dict[str, Any]) -> UpstreamError:
    message, code, kind = error_fields(obj)
    message = message or "error during streaming"
    return UpstreamError(
        classify_error(None, code, kind, message),
        f"{PROVIDER} stream error: {message}",
        provider=PROVIDER,
    )
