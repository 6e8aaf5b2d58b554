"""The pipeline in one process: plain, stream, failover, resume, cache hit, limit rejection and
client abort, each through the real adapters and codecs against a scripted upstream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from llmgw.providers.mock_transport import MockRequest, MockResponse
from tests.pipeline.harness import (
    ZERO,
    Harness,
    completion,
    config,
    error,
    sync,
    words_stream,
)

HELLO = {"model": "chat", "messages": [{"role": "user", "content": "Say hello."}]}


def stream_body(**extra: Any) -> dict[str, Any]:
    return {**HELLO, "stream": True, "stream_options": {"include_usage": True}, **extra}


def answers(request: MockRequest) -> MockResponse:
    if request.json().get("stream"):
        return words_stream(["Hello", " there", "."])
    return MockResponse.json(completion())


@sync
async def test_plain_call_is_answered_and_recorded(tmp_path: Path) -> None:
    async with Harness(tmp_path, config(), answers) as h:
        reply = await h.chat(HELLO)
        assert reply.status == 200, reply.body
        assert reply.json()["choices"][0]["message"]["content"] == "Hello there."
        assert reply.headers["x-llmgw-provider"] == "a"
        rows = await h.rows()
        assert h.counters() == ZERO
    assert len(h.transport.requests) == 1
    assert h.transport.requests[0].url == "http://upstream.invalid/v1/a/chat/completions"
    sent = h.transport.requests[0].json()
    assert sent["model"] == "up-a" and sent["messages"] == HELLO["messages"]
    (row,) = rows
    assert (row["outcome"], row["status"], row["provider"]) == ("ok", 200, "a")
    assert (row["input_tokens"], row["output_tokens"]) == (5, 3)


@sync
async def test_stream_is_relayed_in_the_callers_format(tmp_path: Path) -> None:
    async with Harness(tmp_path, config(), answers) as h:
        reply = await h.chat(stream_body())
        rows = await h.rows()
        assert h.counters() == ZERO
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = reply.events()
    text = "".join(
        e["choices"][0]["delta"].get("content") or ""
        for e in events
        if isinstance(e, dict) and e["choices"]
    )
    assert text == "Hello there."
    assert events[-1] == "[DONE]"
    assert events[-2]["usage"]["completion_tokens"] == 3
    (row,) = rows
    assert (row["outcome"], row["stream"], row["output_tokens"]) == ("ok", 1, 3)


@sync
async def test_anthropic_caller_gets_the_anthropic_event_stream(tmp_path: Path) -> None:
    async with Harness(tmp_path, config(), answers) as h:
        body = {"model": "chat", "max_tokens": 50, "stream": True, "messages": HELLO["messages"]}
        reply = await h.chat(body, path="/v1/messages")
    types = [e["type"] for e in reply.events()]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert "content_block_delta" in types


@sync
async def test_failover_to_the_next_deployment_before_any_byte(tmp_path: Path) -> None:
    def handler(request: MockRequest) -> MockResponse:
        if "/a/" in request.url:
            return error(503)
        return answers(request)

    async with Harness(tmp_path, config(), handler) as h:
        plain = await h.chat(HELLO)
        streamed = await h.chat(stream_body())
        rows = await h.rows()
        assert h.counters() == ZERO
        assert h.gw.health.get("a/up-a").failures == 2
    assert plain.status == 200 and plain.headers["x-llmgw-provider"] == "b"
    assert plain.headers["x-llmgw-attempts"] == "2"
    assert streamed.status == 200 and streamed.headers["x-llmgw-provider"] == "b"
    attempts = orjson.loads(rows[0]["attempt_log"])
    assert [(a["provider"], a["status"]) for a in attempts] == [("a", 503), ("b", 200)]


@sync
async def test_every_deployment_failing_is_an_error_in_the_callers_format(tmp_path: Path) -> None:
    async with Harness(tmp_path, config(), lambda _r: error(400, "bad thing")) as h:
        reply = await h.chat(HELLO)
        anthropic = await h.chat(
            {"model": "chat", "max_tokens": 5, "messages": HELLO["messages"]},
            path="/v1/messages",
        )
        rows = await h.rows()
        assert h.counters() == ZERO
    assert reply.status == 400 and "bad thing" in reply.json()["error"]["message"]
    assert anthropic.status == 400 and anthropic.json()["type"] == "error"
    assert [r["outcome"] for r in rows] == ["error", "error"]
    assert len(h.transport.requests) == 2  # a 400 is not retried anywhere


async def broken_after(words: list[str]) -> Any:
    from tests.pipeline.harness import chunk

    for w in words:
        yield chunk(w)
    raise RuntimeError("connection reset")  # the transport turns this into a broken stream


@sync
async def test_a_stream_broken_mid_answer_resumes_where_a_prefill_is_accepted(
    tmp_path: Path,
) -> None:
    from llmgw.errors import UpstreamError

    async def cut(request: MockRequest) -> MockResponse:
        async def pieces() -> Any:
            from llmgw.providers.mock_transport import sse_event
            from tests.pipeline.harness import chunk

            yield sse_event(chunk("Hello"))
            yield sse_event(chunk(" wor"))
            raise UpstreamError("connection", "a: connection closed mid-answer", provider="a")

        return MockResponse(200, {"content-type": "text/event-stream"}, pieces())

    deployments = [{"provider": "a", "model": "up-a"}, {"provider": "m", "model": "mock-small"}]
    async with Harness(tmp_path, config(deployments), cut) as h:
        reply = await h.chat(stream_body(temperature=0))
        rows = await h.rows()
        assert h.counters() == ZERO
    events = [e for e in reply.events() if isinstance(e, dict)]
    assert not any("error" in e for e in events), events
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text.startswith("Hello wor") and len(text) > len("Hello wor")
    (row,) = rows
    attempts = orjson.loads(row["attempt_log"])
    assert [(a["provider"], a["error_class"]) for a in attempts] == [
        ("a", "connection"),
        ("m", None),
    ]
    assert row["outcome"] == "ok" and row["cost_nanos"] >= 0


@sync
async def test_a_stream_that_cannot_resume_ends_with_an_in_band_error(tmp_path: Path) -> None:
    from llmgw.errors import UpstreamError
    from llmgw.providers.mock_transport import sse_event
    from tests.pipeline.harness import chunk

    def handler(request: MockRequest) -> MockResponse:
        async def pieces() -> Any:
            yield sse_event(chunk("Hel"))
            raise UpstreamError("connection", "closed mid-answer", provider="a")

        return MockResponse(200, {"content-type": "text/event-stream"}, pieces())

    async with Harness(tmp_path, config(), handler) as h:  # b is OpenAI-format: no prefill
        reply = await h.chat(stream_body())
        rows = await h.rows()
        assert h.counters() == ZERO
    events = reply.events()
    assert "error" in events[-1] and events[-1] != "[DONE]"
    (row,) = rows
    assert (row["outcome"], row["error_class"]) == ("error", "connection")


@sync
async def test_an_exact_cache_hit_answers_without_the_upstream(tmp_path: Path) -> None:
    async with Harness(tmp_path, config(), answers) as h:
        first = await h.chat({**HELLO, "temperature": 0})
        await h.rows()  # the entry is written by the cache writer after the answer
        for _ in range(100):
            second = await h.chat({**HELLO, "temperature": 0})
            if second.headers.get("x-llmgw-cache") == "hit-exact":
                break
            import asyncio

            await asyncio.sleep(0.02)
        other = await h.chat({**HELLO, "temperature": 0}, key=h.other_key)
        assert h.counters() == ZERO
    assert first.headers["x-llmgw-cache"] == "miss"
    assert second.headers["x-llmgw-cache"] == "hit-exact"
    assert second.json()["choices"][0]["message"]["content"] == "Hello there."
    assert other.headers["x-llmgw-cache"] == "miss"  # never across tenants
    assert len(h.transport.requests) == 2  # the first call and the other tenant's


@sync
async def test_a_tenant_over_its_rate_limit_is_rejected_before_the_upstream(
    tmp_path: Path,
) -> None:
    async with Harness(tmp_path, config(limits={"rpm": 1}), answers) as h:
        ok = await h.chat(HELLO)
        limited = await h.chat(HELLO)
        other = await h.chat(HELLO, key=h.other_key)
        rows = await h.rows()
        assert h.counters() == ZERO
    assert ok.status == 200 and other.status == 200
    assert limited.status == 429
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert "retry-after" in limited.headers
    assert len(h.transport.requests) == 2
    assert [r["outcome"] for r in rows] == ["ok", "rejected", "ok"]


@sync
async def test_a_client_that_leaves_mid_stream_stops_the_upstream(tmp_path: Path) -> None:
    import asyncio

    from llmgw.providers.mock_transport import sse_event
    from tests.pipeline.harness import chunk

    stopped = asyncio.Event()

    def handler(request: MockRequest) -> MockResponse:
        async def pieces() -> Any:
            try:
                for i in range(1000):
                    yield sse_event(chunk(f"w{i} "))
                    await asyncio.sleep(0.01)
            finally:
                stopped.set()

        return MockResponse(200, {"content-type": "text/event-stream"}, pieces())

    async with Harness(tmp_path, config(), handler) as h:
        reply = await h.chat(stream_body(), disconnect_after=3)
        await asyncio.wait_for(stopped.wait(), 5)
        rows = await h.rows()
        assert h.counters() == ZERO
    assert reply.status == 200
    (row,) = rows
    assert row["outcome"] == "aborted"
    assert 0 < row["output_tokens"] < 1000
