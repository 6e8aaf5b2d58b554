"""Bodies are not kept past their call: the live views hold call summaries only, the audit
writer lets a body go once its row is committed, and a ``redacted`` tenant's secrets never
appear in anything the admin API answers (JSON views, metrics, the SSE call stream)."""

from __future__ import annotations

import asyncio
import gc
import threading
import types
from pathlib import Path
from typing import Any

import orjson

from llmgw.audit.record import AuditRecord
from llmgw.providers.mock_transport import MockRequest, MockResponse, MockTransport
from tests.pipeline.harness import Harness, Reply, completion, config, error, sync, words_stream

ADMIN_KEY = "admin-test-key"
# what the tenant sends and what its upstream answers: every one of these is redacted
CARD = "4111 1111 1111 1111"
EMAIL = "jane.doe@example.com"
API_KEY = "sk-live-abcdefghijklmnopqrstuvwx"
ANSWER_EMAIL = "answer.only@example.org"
SECRETS = (CARD, EMAIL, API_KEY, ANSWER_EMAIL)
MARKER = "bulky-body-marker"  # in the one large body

ADMIN_VIEWS = (
    "/admin/tenants",
    "/admin/tenants/acme",
    "/admin/calls?limit=1000",
    "/admin/calls?limit=1000&tenant=acme&status=error",
    "/admin/deployments",
    "/admin/cache",
    "/admin/metrics",
    "/metrics",
    "/admin/breakers",
    "/admin/faults",
    "/admin/usage",
    "/admin/budgets",
)


def upstream(request: MockRequest) -> MockResponse:
    body = request.json()
    prompt = body["messages"][-1]["content"]
    if "please fail" in prompt:
        return error(500, "upstream trouble")
    if body.get("stream"):
        return words_stream(["Mail ", ANSWER_EMAIL, " now."])
    return MockResponse.json(completion(f"Noted, I will write to {ANSWER_EMAIL}."))


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": text}], **extra}


def redacted_config() -> dict[str, Any]:
    raw = config()
    raw["tenants"]["acme"]["retention"] = "redacted"
    return raw


async def admin_get(h: Harness, target: str) -> Reply:
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": [(b"authorization", f"Bearer {ADMIN_KEY}".encode())],
        "query_string": query.encode(),
    }
    reply = Reply(0, {})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
        elif message.get("body"):
            reply.chunks.append(message["body"])

    await h.app(scope, receive, send)
    return reply


async def call_stream(h: Harness, gone: asyncio.Event, started: asyncio.Event) -> bytes:
    """``GET /admin/calls/stream`` until ``gone`` is set; everything it sent."""
    chunks: list[bytes] = []
    first = True

    async def receive() -> dict[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message.get("body"):
            chunks.append(message["body"])
            started.set()

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/admin/calls/stream",
        "headers": [(b"authorization", f"Bearer {ADMIN_KEY}".encode())],
        "query_string": b"",
    }
    await h.app(scope, receive, send)
    return b"".join(chunks)


def held_text(root: object, needles: tuple[str, ...]) -> list[str]:
    """Strings reachable from ``root`` that contain a needle, and any ``AuditRecord``.

    Follows the objects ``root`` holds, not code: modules, classes, functions, frames and
    coroutines are not entered (they reach the test's own locals and every module), nor the
    test's scripted upstream, which records every request it is sent."""
    opaque = (
        type,
        types.ModuleType,
        types.FunctionType,
        types.BuiltinFunctionType,
        types.MethodType,
        types.CodeType,
        types.FrameType,
        types.CoroutineType,
        types.GeneratorType,
        types.AsyncGeneratorType,
        asyncio.AbstractEventLoop,
        asyncio.Future,
        MockTransport,
    )
    found: list[str] = []
    seen: set[int] = set()
    todo: list[object] = [root]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str):
            found += [f"{n!r} in a string" for n in needles if n in obj]
            continue
        if isinstance(obj, bytes | bytearray):
            found += [f"{n!r} in bytes" for n in needles if n.encode() in obj]
            continue
        if isinstance(obj, AuditRecord):
            found.append(f"an AuditRecord ({obj.id})")
        if isinstance(obj, opaque):
            continue
        todo.extend(gc.get_referents(obj))
    return found


@sync
async def test_redacted_secrets_never_reach_the_admin_api_and_no_body_is_kept(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, redacted_config(), upstream) as h:
        h.gw.admin_key = ADMIN_KEY
        gone, started = asyncio.Event(), asyncio.Event()
        sse = asyncio.create_task(call_stream(h, gone, started))
        await asyncio.wait_for(started.wait(), 10)  # subscribed before the calls
        prompt = f"My card is {CARD}, mail {EMAIL}, key {API_KEY}."
        assert (await h.chat(ask(prompt))).status == 200
        reply = await h.chat(ask(prompt, stream=True, stream_options={"include_usage": True}))
        assert reply.status == 200 and ANSWER_EMAIL.encode() in reply.body
        assert (await h.chat(ask(f"{prompt} please fail"))).status >= 500
        bulky = f"{prompt} {MARKER} " + "lorem ipsum " * 200_000  # 2.4 MB
        assert (await h.chat(ask(bulky))).status == 200
        rows = await h.rows()
        assert [r["outcome"] for r in rows] == ["ok", "ok", "error", "ok"]
        assert h.gw.audit.pending == 0 and h.gw.audit.held_bytes == 0
        for row in rows:  # the writer redacted what it stored
            stored = f"{row['request_body']} {row['response_body']}"
            assert "[REDACTED:" in stored and not any(s in stored for s in SECRETS)

        answers = {view: await admin_get(h, view) for view in ADMIN_VIEWS}
        gone.set()
        streamed = await asyncio.wait_for(sse, 10)

        live = h.gw.live
        assert live is not None and len(live.tail) == 4
        # the live views, the writer and everything else the gateway holds: no body text
        assert held_text(live, (*SECRETS, MARKER)) == []
        assert held_text(h.gw.audit, (*SECRETS, MARKER)) == []
        assert held_text(h.gw, (*SECRETS, MARKER)) == []

    for view, answer in answers.items():
        assert answer.status == 200, (view, answer.body[:200])
        for secret in (*SECRETS, MARKER):
            assert secret.encode() not in answer.body, (view, secret)
    calls = orjson.loads(answers["/admin/calls?limit=1000"].body)["calls"]
    assert [c["outcome"] for c in calls] == ["ok", "error", "ok", "ok"]
    assert all(set(c) >= {"id", "tenant", "model", "status", "tokens"} for c in calls)
    detail = orjson.loads(answers["/admin/tenants/acme"].body)
    assert len(detail["calls"]) == 4 and [e["outcome"] for e in detail["errors"]] == ["error"]
    assert streamed.count(b"event: call") == 4
    for secret in (*SECRETS, MARKER):
        assert secret.encode() not in streamed, secret


async def post_noting_read(h: Harness, body: dict[str, Any], read: asyncio.Event) -> Reply:
    """POST ``body`` as a client would; ``read`` is set when the gateway reads the body."""
    reply = Reply(0, {})

    async def receive() -> dict[str, Any]:
        read.set()
        return {"type": "http.request", "body": orjson.dumps(body), "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
        elif message.get("body"):
            reply.chunks.append(message["body"])

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"authorization", f"Bearer {h.key}".encode())],
        "query_string": b"",
    }
    await h.app(scope, receive, send)
    return reply


@sync
async def test_new_calls_wait_at_the_door_while_the_writer_is_behind(tmp_path: Path) -> None:
    """Rows past ``[audit] queue_max_bytes`` are never dropped; new calls wait, unread, until
    the writer has caught up (and every row goes in)."""
    raw = config()
    raw["audit"] = {"queue_max_bytes": 1024 * 1024}
    async with Harness(tmp_path, raw, upstream) as h:
        writer = h.gw.audit
        disk = threading.Event()  # the writer's disk is slow until this is set
        real = writer._write_batch

        def slow_write(batch: list[AuditRecord], size: int = 0) -> None:
            disk.wait(30)
            real(batch, size)

        writer._write_batch = slow_write  # type: ignore[method-assign]
        try:
            first = await h.chat(ask("many words " * 150_000))  # a 1.6 MB row: the bound
            assert first.status == 200
            assert writer.congested and writer.held_bytes > 1024 * 1024
            read = asyncio.Event()
            second = asyncio.create_task(post_noting_read(h, ask("Say hello."), read))
            await asyncio.sleep(0.2)
            assert not read.is_set() and not second.done()  # held before its body is read
        finally:
            disk.set()
        reply = await asyncio.wait_for(second, 10)
        assert reply.status == 200 and read.is_set()
        rows = await h.rows()
        assert [r["outcome"] for r in rows] == ["ok", "ok"]
        assert writer.held_bytes == 0 and not writer.congested
