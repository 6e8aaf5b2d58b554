"""Strict audit durability in process: at the moment an answer's last byte is sent, its row is
already committed (read back on another connection), for plain answers, streams in both
formats and cache hits; a row that cannot be committed turns the answer into an error.

The writer's interval is 30 s here, so a row can only be on disk that early if the durable
path put it there; the batched control shows the check sees the difference.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llmgw.audit.commits import NotCommitted
from llmgw.audit.record import AuditRecord
from llmgw.store.db import open_db
from tests.pipeline.harness import Harness, config, sync
from tests.pipeline.test_pipeline import HELLO, answers, stream_body

Message = dict[str, Any]


def durable_config(durability: str, **extra: Any) -> dict[str, Any]:
    cfg = config(**extra)
    cfg["audit"] = {"durability": durability, "flush_interval_s": 30}
    return cfg


class LastByteProbe:
    """Wraps the app's ``send``: when the response's last body message goes out, looks up the
    call's row (by ``x-request-id``) in the state file and notes whether it is there."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.app = h.app
        self.seen: list[tuple[str, bool]] = []
        h.app = self  # type: ignore[assignment]

    def stored(self, request_id: str) -> bool:
        conn = open_db(self.h.state, readonly=True)
        try:
            row = conn.execute("SELECT 1 FROM audit_log WHERE id = ?", (request_id,)).fetchone()
        finally:
            conn.close()
        return row is not None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request_id = ""

        async def probe(message: Message) -> None:
            nonlocal request_id
            if message["type"] == "http.response.start":
                request_id = dict(message["headers"]).get(b"x-request-id", b"").decode()
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                self.seen.append((request_id, self.stored(request_id)))
            await send(message)

        await self.app(scope, receive, probe)


async def cache_hit(h: Harness, body: dict[str, Any]) -> Any:
    """Ask until the answer comes from the cache (the entry is stored after the first call)."""
    for _ in range(100):
        reply = await h.chat(body)
        if reply.headers.get("x-llmgw-cache", "").startswith("hit"):
            return reply
        await asyncio.sleep(0.02)
    raise AssertionError("no cache hit")


@sync
async def test_strict_commits_every_answers_row_before_its_last_byte(tmp_path: Path) -> None:
    async with Harness(tmp_path, durable_config("strict"), answers) as h:
        probe = LastByteProbe(h)
        plain = await h.chat(HELLO)
        streamed = await h.chat(stream_body())
        anthropic = await h.chat(
            {"model": "chat", "max_tokens": 50, "stream": True, "messages": HELLO["messages"]},
            path="/v1/messages",
        )
        cached_plain = await cache_hit(h, {**HELLO, "temperature": 0})
        cached_stream = await cache_hit(h, stream_body(temperature=0))
    assert [r.status for r in (plain, streamed, anthropic, cached_plain, cached_stream)] == [
        200
    ] * 5
    assert streamed.events()[-1] == "[DONE]"
    assert b"message_stop" in anthropic.body
    assert cached_stream.events()[-1] == "[DONE]"
    assert probe.seen and all(stored for _, stored in probe.seen), probe.seen
    answered = {r.headers["x-request-id"] for r in (plain, streamed, anthropic)}
    assert answered <= {rid for rid, _ in probe.seen}


@sync
async def test_batched_sends_the_answer_before_the_row_is_committed(tmp_path: Path) -> None:
    async with Harness(tmp_path, durable_config("batched"), answers) as h:
        probe = LastByteProbe(h)
        await h.chat(HELLO)
        await h.chat(stream_body())
    rows = await h.rows()  # committed later: here, when the gateway stopped
    assert [stored for _, stored in probe.seen] == [False, False]
    assert len(rows) == 2


@sync
async def test_a_row_that_cannot_be_committed_is_never_a_complete_answer(tmp_path: Path) -> None:
    async with Harness(tmp_path, durable_config("strict"), answers) as h:

        def refuse(rec: AuditRecord) -> asyncio.Future[None]:
            future = asyncio.get_running_loop().create_future()
            future.set_exception(NotCommitted(f"audit row {rec.id} cannot be stored"))
            return future

        h.gw.audit.submit_durable = refuse  # type: ignore[method-assign]
        plain = await h.chat(HELLO)
        streamed = await h.chat(stream_body())
    assert plain.status == 500
    assert plain.json()["error"]["code"] == "internal_error"
    assert "audit record" in plain.json()["error"]["message"]
    events = streamed.events()  # the stream was under way: it ends with an in-band error
    assert "[DONE]" not in events
    assert "error" in events[-1] and "audit record" in events[-1]["error"]["message"]
