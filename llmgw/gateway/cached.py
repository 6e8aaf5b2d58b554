"""Sending a cached answer: plain JSON or a full SSE stream, in the caller's format.

A hit is replayed through the same codecs as a live answer, so an OpenAI streaming client gets
``chat.completion.chunk`` events ending in ``[DONE]`` and an Anthropic one the whole
``message_start`` … ``message_stop`` sequence, whatever format and mode stored the entry.
"""

from __future__ import annotations

import time

import orjson

from llmgw.cache.entry import CachedAnswer
from llmgw.gateway.asgi import JSON_HEADERS, SSE_HEADERS, Send, send_bytes
from llmgw.gateway.calls import Call
from llmgw.limits.ledger import CACHE_PROVIDER
from llmgw.types import StreamMeta


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
