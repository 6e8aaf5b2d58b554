"""Sending a cached answer: plain JSON or a full SSE stream, in the caller's format.

A hit is replayed through the same codecs as a live answer, so an OpenAI streaming client gets
``chat.completion.chunk`` events ending in ``[DONE]`` and an Anthropic one the whole
``message_start`` … ``message_stop`` sequence, whatever format and mode stored the entry.
"""

from __future__ import annotations

import time

import orjson

from llmgw.cache.entry import CachedAnswer
from llmgw.cache.service import CacheCall
from llmgw.gateway.asgi import JSON_HEADERS, SSE_HEADERS, Send, send_bytes
from llmgw.gateway.call import Call, record_durable
from llmgw.gateway.runtime import Gateway
from llmgw.limits.ledger import CACHE_PROVIDER
from llmgw.types import StreamMeta, Usage


def hit_headers(call: Call, answer: CachedAnswer, created_at: float) -> list[tuple[bytes, bytes]]:
    age = max(0, int(time.time() - created_at))
    return [
        *call.headers(),
        (b"x-llmgw-provider", CACHE_PROVIDER.encode()),
        (b"x-llmgw-model", answer.served_model.encode()),
        (b"age", str(age).encode()),
    ]


def plain_answer(call: Call, answer: CachedAnswer) -> bytes:
    """The cached answer as this call's plain JSON response (also what the audit keeps)."""
    return orjson.dumps(call.codec.encode_response(answer.response(call.request_id, int(call.ts))))


async def send_cached(
    call: Call, answer: CachedAnswer, created_at: float, plain: bytes, send: Send
) -> None:
    """Send ``answer`` to the caller: ``plain`` (from ``plain_answer``), or a whole stream."""
    req = call.request
    assert req is not None
    headers = hit_headers(call, answer, created_at)
    if not req.stream:
        await send_bytes(send, 200, plain, JSON_HEADERS, headers)
        return
    encoder = call.codec.StreamEncoder(
        StreamMeta(
            id=call.request_id,
            model=answer.served_model,
            created=int(call.ts),
            input_tokens=answer.input_tokens,
        ),
        req.include_usage,
    )
    body = [encoder.start(), *(encoder.feed(chunk) for chunk in answer.chunks()), encoder.finish()]
    await send({"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]})
    await send({"type": "http.response.body", "body": b"".join(body), "more_body": False})


async def serve_hit(gw: Gateway, call: Call, cc: CacheCall, send: Send) -> None:
    """Answer from the cache, plain or streamed, in the caller's format: the call costs 0.

    The row is recorded before the answer is sent (with ``[audit] durability = "strict"``,
    committed first), like a live answer's."""
    assert gw.cache is not None and cc.found is not None
    answer = cc.found.answer
    call.ttft_ms = call.elapsed_ms()
    plain = plain_answer(call, answer)
    if call.retention != "metadata":
        call.response_body = plain.decode()
    call.usage = Usage()
    call.cost_nanos = 0
    call.attempt_log.append(
        {
            "provider": CACHE_PROVIDER,
            "model": answer.served_model,
            "error_class": None,
            "status": 200,
            "latency_ms": round(call.elapsed_ms(), 3),
            "kind": cc.kind,
            "entry": cc.found.id,
            "source_request": answer.source_request,
            "similarity": None if cc.similarity is None else round(cc.similarity, 4),
            "saved_input_tokens": answer.input_tokens,
            "saved_output_tokens": answer.output_tokens,
        }
    )
    gw.cache.served(cc, call.request_id)
    if gw.live is not None:
        gw.live.cache_hit(call.tenant, cc.kind, answer.cost_nanos)
    await record_durable(
        gw, call, status=200, outcome="ok", error=None, saved_nanos=answer.cost_nanos
    )
    await send_cached(call, answer, cc.found.created_at, plain, send)
