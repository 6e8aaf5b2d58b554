"""The in-process mock provider: the mock engine behind the Provider protocol.

``llmgw serve`` runs on it when no config is given, and tests use it to drive the pipeline
without a network. It answers exactly what ``llmgw mock serve`` would (same engine), paced by the
same knobs (``ProviderConfig.mock``: ``ttft_ms``, ``tokens_per_s``, ``output_tokens``), and turns
faults from an optional ``FaultTable`` into the ``UpstreamError`` an HTTP adapter would have
raised for them:

=============== ==============================================================
fault           what the caller gets
=============== ==============================================================
status N        ``UpstreamError(classify_status(N))``
rate_limit      ``rate_limited`` with ``retry_after``
reset           ``connection``
no_response     ``timeout`` after ``seconds``
stall           the stream pauses ``seconds`` after ``after_tokens`` tokens
cut, malformed  ``connection`` / ``server_error`` after ``after_tokens`` tokens
no_done         nothing (the answer is already complete without the end marker)
context_length  ``context_length_exceeded``
content_filter  an empty answer with finish ``content_filter``
=============== ==============================================================
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncGenerator

from llmgw.mock.faults import STREAM_KINDS, Fault, FaultTable
from llmgw.providers.faults import request_fault, strike
from llmgw.providers.mock_engine import MockAnswer, MockEngine, answer_chunks, is_token
from llmgw.settings.schema import ProviderConfig
from llmgw.types import ChatRequest, ChatResponse, Chunk, Usage

__all__ = ["MockEngine", "MockProvider", "content_filter_answer"]

_ids = itertools.count(1)
_ID_PREFIX = os.urandom(4).hex()


def new_id(prefix: str = "chatcmpl-mock") -> str:
    """A unique response id (process prefix + counter: cheap on the hot path)."""
    return f"{prefix}{_ID_PREFIX}{next(_ids):08x}"


def content_filter_answer(answer: MockAnswer) -> MockAnswer:
    """The filtered version of ``answer``: no content, finish ``content_filter``."""
    return MockAnswer((), (), "content_filter", Usage(answer.usage.input_tokens, 0))


class MockProvider:
    """A Provider answering from ``MockEngine``, with injectable faults."""

    kind = "mock"

    def __init__(self, config: ProviderConfig, faults: FaultTable | None = None) -> None:
        self.name = config.name
        self.engine = MockEngine.from_knobs(dict(config.mock))
        self.faults = faults

    async def _before_answer(self, req: ChatRequest) -> Fault | None:
        """Raise the error a request-level fault produces; return stream-level faults."""
        fault = self.faults.pick(req.model) if self.faults is not None else None
        return None if fault is None else await request_fault(fault, self.name)

    async def complete(self, req: ChatRequest) -> ChatResponse:
        fault = await self._before_answer(req)
        answer = self.engine.answer(req)
        if fault is not None and fault.kind == "content_filter":
            answer = content_filter_answer(answer)
        delay = self.engine.delay_s(answer)
        if fault is not None and fault.kind == "stall":
            delay += fault.wait_s
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None and fault.kind in ("cut", "malformed"):
            await strike(fault, self.name)
        return self.engine.to_response(answer, req.model, new_id(), int(time.time()))

    async def stream(self, req: ChatRequest) -> AsyncGenerator[list[Chunk], None]:
        fault = await self._before_answer(req)
        answer = self.engine.answer(req)
        if fault is not None and fault.kind == "content_filter":
            answer = content_filter_answer(answer)
        if self.engine.ttft_s > 0:
            await asyncio.sleep(self.engine.ttft_s)
        interval = self.engine.token_interval_s
        pending = fault if fault is not None and fault.kind in STREAM_KINDS else None
        tokens = 0
        batch: list[Chunk] = []  # chunks produced without a pause go out together
        for chunk in answer_chunks(answer):
            token = is_token(chunk)
            if pending is not None and pending.strikes_now(token, tokens):
                if batch:
                    yield batch
                    batch = []
                await strike(pending, self.name)
                pending = None
            if token:
                if tokens and interval > 0:
                    if batch:
                        yield batch
                        batch = []
                    await asyncio.sleep(interval)
                tokens += 1
            batch.append(chunk)
        if batch:
            yield batch

    async def aclose(self) -> None:
        """Nothing to release."""
