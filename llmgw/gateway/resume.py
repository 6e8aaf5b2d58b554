"""Resuming a stream broken mid-answer on another deployment.

Once the first tokens reached the client, failing over means continuing the answer, not
restarting it. The continuation sends the conversation plus the text produced so far as an
assistant *prefill*; only providers that continue a prefill (Anthropic's Messages API, and the
mock) are asked. A deployment that rejects the prefill is skipped without that rejection ever
becoming the caller's error: if no deployment can continue, the stream ends with the original
failure as an in-band error event. Streams with tool calls are never resumed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from llmgw.errors import UpstreamError
from llmgw.gateway.calls import Call, note_attempt
from llmgw.gateway.route import Hop, Route
from llmgw.types import Chunk, Usage

PREFILL_KINDS = frozenset({"anthropic", "mock"})


@dataclass(slots=True)
class Source:
    """Where the relayed chunks come from now."""

    hop: Hop | None  # None once its failure has been recorded
    chunks: AsyncIterator[list[Chunk]]
    started: float


async def resume(
    call: Call, route: Route, broken: Source, err: UpstreamError, text: str, ttft_s: float
) -> tuple[Source, list[Chunk]] | None:
    """A new source continuing ``text``, with its first content batch; None if none can."""
    from llmgw.gateway.streaming import first_content

    req = call.request
    assert req is not None
    assert broken.hop is not None
    broken.hop.failed(err, time.perf_counter() - broken.started)
    await broken.chunks.aclose()  # type: ignore[attr-defined]
    call.attempt_log[-1]["error_class"] = err.error_class
    last: UpstreamError | None = err
    while (hop := await route.next(last)) is not None:
        last = None  # a skipped or refused continuation says nothing about retrying
        if hop.provider.kind not in PREFILL_KINDS:
            hop.abandoned()
            continue
        cont = req.with_model(hop.deployment.model)
        cont.messages = [*req.messages, {"role": "assistant", "content": text}]
        started = time.perf_counter()
        chunks = hop.provider.stream(cont)
        try:
            first = await first_content(chunks, route.remaining(ttft_s), hop)
        except UpstreamError as exc:
            await chunks.aclose()  # type: ignore[attr-defined]
            hop.failed(exc, time.perf_counter() - started)
            note_attempt(call, hop.deployment, hop.provider, started, exc)
            if exc.retryable:
                last = exc
            continue
        note_attempt(call, hop.deployment, hop.provider, started, None)
        call.provider, call.deployment = hop.provider, hop.deployment
        return Source(hop, chunks, started), first
    return None


def combined(carry: Usage, usage: Usage) -> Usage:
    """Usage of a resumed answer: the broken attempt's share plus the continuation's."""
    return Usage(
        carry.input_tokens + usage.input_tokens,
        carry.output_tokens + usage.output_tokens,
        carry.cached_input_tokens + usage.cached_input_tokens,
        estimated=carry.estimated or usage.estimated,
    )
