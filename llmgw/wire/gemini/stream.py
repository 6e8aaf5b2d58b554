"""Gemini streams (``streamGenerateContent?alt=sse``) <-> canonical chunks, pure.

Every SSE event is a whole ``GenerateContentResponse`` carrying the next parts; the event with
a ``finishReason`` is the last one and usually also carries the final ``usageMetadata``.
A ``functionCall`` always arrives whole, never split over events.

The codec hands these out as ``CODEC.StreamEncoder`` / ``CODEC.StreamDecoder``.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgw.errors import GatewayError, UpstreamError
from llmgw.types import Chunk, FinishReason, StreamMeta, ToolCallDelta, Usage
from llmgw.wire.gemini.candidate import (
    FINISH_TO_GEMINI,
    candidate_parts,
    decode_usage,
    encode_usage,
    finish_reason,
    function_call_part,
    is_blocked,
    new_call_id,
    tool_call_from_part,
)
from llmgw.wire.gemini.errors import PROVIDER, encode_error, error_from_json
from llmgw.wire.sse import SseEvent, format_event


class GeminiStreamDecoder:
    """Gemini SSE events -> canonical chunks. ``done`` turns true at the ``finishReason``.

    Usage is the latest ``usageMetadata`` seen. Should it come only after the finish event, the
    next ``feed`` still emits it; ``close()`` emits what a cut-off stream never sent.
    """

    def __init__(self) -> None:
        self.done = False
        self._calls = 0
        self._usage: Usage | None = None
        self._finished = False
        self._usage_sent = False

    def feed(self, event: SseEvent) -> list[Chunk]:
        data = event.data.strip()
        if not data:
            return []
        if data == "[DONE]":  # not Gemini's, but some proxies add it
            return self.close()
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                "server_error", "gemini: malformed stream event", provider=PROVIDER
            ) from exc
        out: list[Chunk] = []
        for item in body if isinstance(body, list) else [body]:
            out.extend(self._response(item))
        return out

    def close(self) -> list[Chunk]:
        """End of stream: the finish and usage chunks not sent yet."""
        out: list[Chunk] = []
        if not self._finished:
            self._finished = True
            out.append(Chunk(finish_reason="tool_calls" if self._calls else "stop"))
        out.extend(self._pending_usage())
        self.done = True
        return out

    def _response(self, body: Any) -> list[Chunk]:
        if not isinstance(body, dict):
            raise UpstreamError("server_error", "gemini: malformed stream event", provider=PROVIDER)
        if isinstance(body.get("error"), dict):
            code = body["error"].get("code")
            raise error_from_json(body, code if isinstance(code, int) else 500, {})
        if "usageMetadata" in body:
            self._usage = decode_usage(body["usageMetadata"])
        if self._finished:
            return self._pending_usage()
        parts, reason = candidate_parts(body)
        out = self._parts(parts)
        if is_blocked(body):
            reason = "SAFETY"
        if reason is not None and reason != "FINISH_REASON_UNSPECIFIED":
            self._finished = self.done = True
            out.append(Chunk(finish_reason=finish_reason(reason, self._calls > 0)))
            out.extend(self._pending_usage())
        return out

    def _parts(self, parts: list[dict[str, Any]]) -> list[Chunk]:
        out: list[Chunk] = []
        for part in parts:
            text = part.get("text")
            if isinstance(text, str) and text and not part.get("thought"):
                if out and out[-1].text is not None:
                    out[-1].text += text
                else:
                    out.append(Chunk(text=text))
            elif isinstance(part.get("functionCall"), dict):
                call = tool_call_from_part(part["functionCall"])
                delta = ToolCallDelta(
                    index=self._calls,
                    id=call["id"],
                    name=call["function"]["name"],
                    arguments=call["function"]["arguments"],
                )
                self._calls += 1
                out.append(Chunk(tool_calls=[delta]))
        return out

    def _pending_usage(self) -> list[Chunk]:
        if self._usage is None or self._usage_sent or not self._finished:
            return []
        self._usage_sent = True
        return [Chunk(usage=self._usage)]


class GeminiStreamEncoder:
    """Canonical chunks -> Gemini SSE bytes.

    Text goes out as it comes, one event per chunk. Tool-call deltas are gathered until the call
    is complete (the next call, text, or the end) because a Gemini ``functionCall`` carries its
    arguments whole. ``finish()`` sends the last event with the ``finishReason`` and the
    ``usageMetadata``; Gemini always reports usage, so ``include_usage`` changes nothing.
    """

    def __init__(self, meta: StreamMeta, include_usage: bool = True) -> None:
        self._meta = meta
        self._include_usage = include_usage
        self._calls: dict[int, dict[str, str]] = {}  # index -> {"id", "name", "arguments"}
        self._reason: FinishReason | None = None
        self._usage: Usage | None = None
        self._closed = False

    def start(self) -> bytes:
        """Gemini has no opening event."""
        return b""

    def feed(self, chunk: Chunk) -> bytes:
        if self._closed:
            return b""
        out = b""
        if chunk.text:
            out += self._flush_calls()
            out += self._event([{"text": chunk.text}])
        for delta in chunk.tool_calls or []:
            if delta.index not in self._calls:
                out += self._flush_calls()
                self._calls[delta.index] = {"id": "", "name": "", "arguments": ""}
            call = self._calls[delta.index]
            call["id"] = delta.id or call["id"]
            call["name"] = delta.name or call["name"]
            call["arguments"] += delta.arguments
        if chunk.finish_reason is not None:
            self._reason = chunk.finish_reason
        if chunk.usage is not None:
            self._usage = chunk.usage
        return out

    def finish(self) -> bytes:
        """The last event: pending function calls, ``finishReason`` and ``usageMetadata``."""
        if self._closed:
            return b""
        self._closed = True
        parts = self._call_parts() or [{"text": ""}]
        reason = FINISH_TO_GEMINI.get(self._reason or "stop", "STOP")
        usage = self._usage or Usage(input_tokens=self._meta.input_tokens, estimated=True)
        return self._event(parts, finishReason=reason, usageMetadata=encode_usage(usage))

    def error(self, err: GatewayError) -> bytes:
        """An in-band error event; the stream ends with it."""
        self._closed = True
        _, body = encode_error(err)
        return format_event(orjson.dumps(body))

    def _flush_calls(self) -> bytes:
        parts = self._call_parts()
        return b"".join(self._event([part]) for part in parts)

    def _call_parts(self) -> list[dict[str, Any]]:
        parts = [
            function_call_part(
                {
                    "id": call["id"] or new_call_id(),
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["arguments"]},
                }
            )
            for _, call in sorted(self._calls.items())
        ]
        self._calls.clear()
        return parts

    def _event(self, parts: list[dict[str, Any]], **extra: Any) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        usage = extra.pop("usageMetadata", None)
        candidate.update(extra)
        body: dict[str, Any] = {"candidates": [candidate]}
        if usage is not None:
            body["usageMetadata"] = usage
        body["modelVersion"] = self._meta.model
        body["responseId"] = self._meta.id
        return format_event(orjson.dumps(body))
