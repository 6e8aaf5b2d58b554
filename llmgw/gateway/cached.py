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
from llmgw.gateway.call import Call, record
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


async def send_cached(call: Call, answer: CachedAnswer, created_at: float, send: Send) -> str:
    """Send ``answer`` to the caller; returns the answer as plain JSON text (for the audit)."""
    req = call.request
    assert req is not None
    headers = hit_headers(call, answer, created_at)
    plain = orjson.dumps(call.codec.encode_response(answer.response(call.request_id, int(call.ts))))
    if not req.stream:
        await send_bytes(send, 200, plain, JSON_HEADERS, headers)
        return plain.decode()
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
    return plain.decode()


async def serve_hit(gw: Gateway, call: Call, cc: CacheCall, send: Send) -> None:
    """Answer from the cache, plain or streamed, in the caller's format: the call costs 0."""
    assert gw.cache is not None and cc.found is not None
    answer = cc.found.answer
    call.ttft_ms = call.elapsed_ms()
    body = await send_cached(call, answer, cc.found.created_at, send)
    if call.retention != "metadata":
        call.response_body = body
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
    record(gw, call, status=200, outcome="ok", error=None, saved_nanos=answer.cost_nanos)
