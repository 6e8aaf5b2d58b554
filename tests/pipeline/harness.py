"""In-process pipeline tests: a real gateway (adapters, codecs, routing, limits, cache, audit
writer) on a scripted upstream (``MockTransport``), driven through its ASGI interface.

``Harness`` starts the assembled app's lifespan, sends requests as ASGI messages, and can make
the client disconnect after a number of body chunks. ``counters`` reads every count the attempt
loop must return (health in-flight, half-open probes out, capacity slots held, open upstream
streams) so a test can assert they all come back to zero.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from llmgw.assembly import assemble
from llmgw.gateway.app import GatewayApp
from llmgw.gateway.runtime import Gateway, build_gateway
from llmgw.providers.mock_transport import Handler, MockResponse, MockTransport
from llmgw.settings.parse import parse_settings
from llmgw.store.db import open_db
from llmgw.store.keys import KeyStore

UPSTREAM = "http://upstream.invalid/v1"


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on a fresh event loop (fixtures still resolve by signature)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=60))

    return wrapper


def config(
    deployments: list[dict[str, Any]] | None = None,
    *,
    limits: dict[str, Any] | None = None,
    extra_providers: dict[str, Any] | None = None,
    routing: dict[str, Any] | None = None,
    **model: Any,
) -> dict[str, Any]:
    """A config with providers ``a`` and ``b`` (OpenAI format, scripted), ``m`` (the built-in
    mock) and one model ``chat`` over ``deployments`` (default: a then b)."""
    tenant: dict[str, Any] = {"models": ["*"]}
    if limits is not None:
        tenant["limits"] = limits
    cfg: dict[str, Any] = {
        "providers": {
            "a": {"kind": "openai", "base_url": UPSTREAM + "/a"},
            "b": {"kind": "openai", "base_url": UPSTREAM + "/b"},
            "m": {"kind": "mock"},
            **(extra_providers or {}),
        },
        "models": {
            "chat": {
                "deployments": deployments
                or [{"provider": "a", "model": "up-a"}, {"provider": "b", "model": "up-b"}],
                **model,
            }
        },
        "tenants": {"acme": tenant, "globex": {"models": ["*"]}},
    }
    if routing is not None:
        cfg["routing"] = routing
    cfg["pricing"] = [
        {"model": m, "provider": "openai", "input_per_mtok": "1.00", "output_per_mtok": "4.00"}
        for m in ("up-a", "up-b")
    ]
    return cfg


def completion(text: str = "Hello there.", model: str = "up", usage: bool = True) -> Any:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    return body


def chunk(text: str | None = None, finish: str | None = None, model: str = "up") -> Any:
    delta = {"content": text} if text is not None else {}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def usage_chunk(prompt: int = 5, completion: int = 3) -> Any:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "up",
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def words_stream(words: list[str]) -> MockResponse:
    events = [chunk(w) for w in words] + [chunk(finish="stop"), usage_chunk(), "[DONE]"]
    return MockResponse.sse(events)


def error(status: int, message: str = "upstream trouble") -> MockResponse:
    return MockResponse.json({"error": {"message": message, "type": "server_error"}}, status)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    chunks: list[bytes] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self) -> Any:
        return orjson.loads(self.body)

    def events(self) -> list[Any]:
        """The ``data:`` payloads of an SSE body (JSON decoded; ``[DONE]`` as a string)."""
        out: list[Any] = []
        for line in self.body.decode().splitlines():
            if line.startswith("data: "):
                data = line[6:]
                out.append(data if data == "[DONE]" else orjson.loads(data))
        return out


class Harness:
    """A started gateway on a scripted upstream; ``async with Harness(...) as h``.

    With ``admin_key``, the admin API is on and takes that key (``/admin/...`` through
    ``chat(..., path=..., key=admin_key)``)."""

    def __init__(
        self, tmp: Path, raw: dict[str, Any], handler: Handler, admin_key: str | None = None
    ) -> None:
        self.state = tmp / "state.db"
        self.transport = MockTransport(handler)
        conn = open_db(self.state)
        try:
            self.key = KeyStore(conn).create("acme", "test")[1]
            self.other_key = KeyStore(conn).create("globex", "test")[1]
        finally:
            conn.close()
        self.gw: Gateway = build_gateway(parse_settings(raw), self.state, transport=self.transport)
        self.gw.admin_key = admin_key
        self.app: GatewayApp = assemble(self.gw)

    async def __aenter__(self) -> Harness:
        await self.gw.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.gw.stop()

    async def chat(
        self,
        body: dict[str, Any] | bytes,
        *,
        method: str = "POST",
        path: str = "/v1/chat/completions",
        key: str | None = None,
        headers: dict[str, str] | None = None,
        disconnect_after: int | None = None,
        stall_after: int | None = None,
    ) -> Reply:
        """POST ``body`` (an object, or the exact bytes to send); with ``disconnect_after=n``
        the client leaves after n body chunks, with ``stall_after=n`` it stops reading (every
        later write blocks) but stays."""
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        hdrs = {"authorization": f"Bearer {key or self.key}", "content-type": "application/json"}
        if path == "/v1/messages":
            hdrs["anthropic-version"] = "2023-06-01"
        hdrs.update(headers or {})
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "headers": [(k.encode(), v.encode()) for k, v in hdrs.items()],
            "query_string": b"",
        }
        reply = Reply(0, {})
        gone = asyncio.Event()
        sent_request = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": raw, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if stall_after is not None and len(reply.chunks) >= stall_after:
                await asyncio.Event().wait()  # the socket's buffers are full: never drains
            if message["type"] == "http.response.start":
                reply.status = message["status"]
                reply.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    reply.chunks.append(message["body"])
                if disconnect_after is not None and len(reply.chunks) >= disconnect_after:
                    gone.set()

        await self.app(scope, receive, send)
        return reply

    async def rows(self) -> list[dict[str, Any]]:
        """Every audit row (waits for the batched writer to commit what is queued)."""
        for _ in range(200):
            if self.gw.audit.pending == 0:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        conn = open_db(self.state)
        try:
            return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY seq")]
        finally:
            conn.close()

    def counters(self) -> dict[str, int]:
        """Everything the attempt loop takes and must give back."""
        gw = self.gw
        probes = sum(b.stats()["half_open_probes_out"] for b in gw.breakers.all().values())
        slots = sum(g.stats().in_flight for g in gw.capacity.gates.values())
        queued = sum(sum(g.stats().queued.values()) for g in gw.capacity.gates.values())
        return {
            "in_flight": sum(h.in_flight for h in gw.health.all().values()),
            "probes_out": probes,
            "slots": slots + queued,
            "open_streams": self.transport.open_streams,
        }


ZERO = {"in_flight": 0, "probes_out": 0, "slots": 0, "open_streams": 0}
