"""A transport that answers from a function, for tests of the whole pipeline in one process.

In the spirit of httpx's ``MockTransport``: ``MockTransport(handler)`` implements
``llmgw.providers.transport.Transport``; every request the HTTP provider adapters send is
handed to ``handler(request)``, which returns a ``MockResponse`` (or raises
``UpstreamError`` to act as a network failure). Nothing touches a socket, so a gateway built
with ``build_gateway(settings, state, transport=MockTransport(handler))`` runs its real
adapters, codecs, routing, limits, cache and audit writer against scripted upstreams.

    def handler(request: MockRequest) -> MockResponse:
        if request.json()["stream"]:
            return MockResponse.sse([{"choices": [...]}, "[DONE]"])
        return MockResponse.json({"choices": [...]})

A streamed body may be an async iterable of byte pieces, so a test can pause, break or stall a
stream at any point. ``requests`` keeps every request seen; ``open_streams`` counts streamed
answers not yet closed (a test of cleanup paths asserts it returns to zero).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmgw.providers.transport import StreamedResponse, Timeouts

Body = bytes | Iterable[bytes] | AsyncIterable[bytes]


@dataclass(slots=True, frozen=True)
class MockRequest:
    """One request as an adapter sent it."""

    url: str
    headers: Mapping[str, str]
    body: bytes
    streamed: bool
    provider: str

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class MockResponse:
    """What the scripted upstream answers: a status, headers and a body (bytes or pieces)."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = b""

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> MockResponse:
        return cls(
            status, {"content-type": "application/json", **(headers or {})}, orjson.dumps(data)
        )

    @classmethod
    def sse(cls, events: Iterable[Any] | AsyncIterable[Any], status: int = 200) -> MockResponse:
        """An event stream: each event a JSON-able object, or a ready string (``"[DONE]"``)."""
        return cls(status, {"content-type": "text/event-stream"}, _sse_pieces(events))


def sse_event(event: Any) -> bytes:
    """One ``data:`` event (objects as JSON, strings as they are)."""
    data = event.encode() if isinstance(event, str) else orjson.dumps(event)
    return b"data: " + data + b"\n\n"


async def _sse_pieces(events: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[bytes]:
    if isinstance(events, AsyncIterable):
        async for event in events:
            yield sse_event(event)
    else:
        for event in events:
            yield sse_event(event)


Handler = Callable[[MockRequest], MockResponse | Awaitable[MockResponse]]


class MockTransport:
    """A ``Transport`` whose upstream is ``handler`` (see the module docstring)."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[MockRequest] = []
        self.open_streams = 0
        self.closed = False

    async def _answer(self, request: MockRequest) -> MockResponse:
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        assert isinstance(answer, MockResponse)
        return answer

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts, provider: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        resp = await self._answer(MockRequest(url, dict(headers), body, False, provider))
        return resp.status, resp.headers, await _collect(resp.body)

    @asynccontextmanager
    async def stream(
        self, url: str, headers: Mapping[str, str], body: bytes, timeouts: Timeouts, provider: str
    ) -> AsyncIterator[StreamedResponse]:
        resp = await self._answer(MockRequest(url, dict(headers), body, True, provider))
        pieces = _pieces(resp.body)
        self.open_streams += 1
        try:
            yield StreamedResponse(resp.status, resp.headers, pieces)
        finally:
            self.open_streams -= 1
            close = getattr(pieces, "aclose", None)
            if close is not None:
                await close()

    async def aclose(self) -> None:
        self.closed = True


async def _pieces(body: Body) -> AsyncIterator[bytes]:
    if isinstance(body, bytes):
        if body:
            yield body
    elif isinstance(body, AsyncIterable):
        async for piece in body:
            yield piece
    else:
        for piece in body:
            yield piece


async def _collect(body: Body) -> bytes:
    return b"".join([piece async for piece in _pieces(body)])
