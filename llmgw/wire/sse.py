"""Server-sent events: an incremental parser and a formatter (pure, no I/O).

The parser follows the WHATWG event-stream rules that matter for LLM APIs: events end at a
blank line; ``event:`` and ``data:`` fields (several ``data:`` lines join with ``\\n``); lines
starting with ``:`` are comments (Anthropic and proxies send them as keep-alives); ``\\r\\n``,
``\\r`` and ``\\n`` all end a line; a chunk boundary can fall anywhere, even inside a UTF-8
character.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from llmgw.errors import UpstreamError


@dataclass(slots=True, frozen=True)
class SseEvent:
    event: str | None
    data: str


class SseParser:
    """Feed raw bytes as they arrive; get whole events back."""

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._buf += chunk
        if b"\r" not in self._buf:
            return self._feed_lf()
        out: list[SseEvent] = []
        buf = self._buf
        start = 0
        n = len(buf)
        while True:
            # find the next line end (\n, \r\n or a lone \r)
            nl = buf.find(b"\n", start)
            cr = buf.find(b"\r", start)
            if nl < 0 and cr < 0:
                break
            if cr >= 0 and (nl < 0 or cr < nl):
                if cr + 1 >= n:  # a \r at the very end: wait, a \n may follow
                    break
                end, nxt = cr, cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                end, nxt = nl, nl + 1
            line = buf[start:end].decode("utf-8", "replace")
            start = nxt
            event = self._line(line)
            if event is not None:
                out.append(event)
        self._buf = buf[start:]
        return out

    def _feed_lf(self) -> list[SseEvent]:
        """Fast path for the usual ``\n``-only streams: split whole events at blank lines."""
        buf = self._buf
        end = buf.rfind(b"\n\n")
        if end < 0:
            return []  # no complete event yet
        self._buf = buf[end + 2 :]
        out: list[SseEvent] = []
        for block in buf[:end].decode("utf-8", "replace").split("\n\n"):
            for line in block.split("\n"):
                event = self._line(line)
                if event is not None:
                    out.append(event)
            event = self._line("")
            if event is not None:
                out.append(event)
        return out

    def close(self) -> list[SseEvent]:
        """End of stream: a pending event without its blank line still counts."""
        out: list[SseEvent] = []
        if self._buf:
            rest = self._buf.decode("utf-8", "replace")
            self._buf = b""
            for line in rest.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
                event = self._line(line)
                if event is not None:
                    out.append(event)
        if self._data:
            out.append(SseEvent(self._event, "\n".join(self._data)))
            self._data = []
            self._event = None
        return out

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            if not self._data:
                self._event = None
                return None
            event = SseEvent(self._event, "\n".join(self._data))
            self._data = []
            self._event = None
            return event
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None


def format_event(data: bytes | str, event: str | None = None) -> bytes:
    """One SSE event as bytes. ``data`` must not contain newlines (JSON from orjson never does)."""
    if isinstance(data, str):
        data = data.encode()
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


MAX_SNIPPET = 200  # characters of a bad event quoted in the error


def event_object(data: str, provider: str, what: str = "event") -> dict[str, Any]:
    """The JSON object an SSE event's data holds; ``UpstreamError`` (``server_error``, quoting
    the start of the data) when it is not one."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        raise UpstreamError(
            "server_error",
            f"{provider}: malformed stream {what} {data[:MAX_SNIPPET]!r}",
            provider=provider,
        )
    return obj
