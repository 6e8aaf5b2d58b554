"""Resuming a stream broken mid-answer on another deployment.

Once the first tokens reached the client, failing over means continuing the answer, not
restarting it. The continuation sends the conversation plus the text produced so far as an
assistant *prefill*; only providers that continue a prefill (Anthropic's Messages API, and the
mock) are asked. A deployment that cannot take a prefill is skipped (``SkipDeployment``), and
one that rejects it never makes that rejection the caller's error: if no deployment can
continue, the stream ends with the original failure as an in-band error event. Streams with
tool calls are never resumed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from llmgw.errors import UpstreamError
from llmgw.gateway.call import Call
from llmgw.gateway.stream_parts import Source, aclose, open_stream
from llmgw.routing.attempts import SkipDeployment, attempt
from llmgw.routing.route import Hop, Route
from llmgw.types import Chunk, Usage

PREFILL_KINDS = frozenset({"anthropic", "mock"})


def _retry_only(err: UpstreamError) -> UpstreamError | None:
    """A refused continuation says nothing about the route unless it may be retried."""
    return err if err.retryable else None


async def resume(
    call: Call, route: Route, broken: Source, err: UpstreamError, text: str, ttft_s: float
) -> tuple[Source, list[Chunk]] | None:
    """A new source continuing ``text``, with its first content batch; None if none can.

    The broken source's attempt is judged failed and closed here, whatever happens next."""
    req = call.request
    assert req is not None
    broken.lease.failed(err)
    await broken.lease.close()
    await aclose(broken.chunks)
    call.attempt_log[-1]["error_class"] = err.error_class

    async def work(hop: Hop) -> tuple[AsyncIterator[list[Chunk]], list[Chunk]]:
        if hop.provider.kind not in PREFILL_KINDS:
            raise SkipDeployment
        cont = req.with_model(hop.deployment.model)
        cont.messages = [*req.messages, {"role": "assistant", "content": text}]
        return await open_stream(hop, cont, route.remaining(ttft_s))

    try:
        lease, (chunks, first) = await attempt(
            route,
            work,
            tenant=call.tenant,
            weight=call.weight,
            tokens=call.admitted_tokens(),
            note=call.note_attempt,
            judge=_retry_only,
            after=err,
        )
    except UpstreamError:
        return None
    call.served_by(lease.hop)
    return Source(lease, chunks), first


def combined(carry: Usage, usage: Usage) -> Usage:
    """Usage of a resumed answer: the broken attempt's share plus the continuation's."""
    return Usage(
        carry.input_tokens + usage.input_tokens,
        carry.output_tokens + usage.output_tokens,
        carry.cached_input_tokens + usage.cached_input_tokens,
        estimated=carry.estimated or usage.estimated,
    )
