"""The Provider protocol: how the gateway calls one upstream account.

A provider receives a canonical ``ChatRequest`` whose ``model`` is already the provider's own
model name, and answers with a canonical ``ChatResponse`` or a stream of ``Chunk`` batches.
Every failure is raised as ``errors.UpstreamError`` with its canonical class; nothing else
escapes.

A stream yields non-empty lists of chunks that became available together (one network read,
or a burst the mock produced without pause), so the gateway can relay each batch with one
socket write instead of one per token.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from typing import Protocol

from llmgw.types import ChatRequest, ChatResponse, Chunk


class Provider(Protocol):
    @property
    def name(self) -> str:
        """The provider's name in the settings (``[providers.<name>]``)."""
        ...

    @property
    def kind(self) -> str:
        """Which API it speaks: ``openai``, ``anthropic``, ``gemini`` or ``mock``."""
        ...

    def complete(self, req: ChatRequest) -> Awaitable[ChatResponse]:
        """One whole answer (an ``async def`` in most providers). Raises ``UpstreamError``."""
        ...

    def stream(self, req: ChatRequest) -> AsyncGenerator[list[Chunk], None]:
        """Batches of canonical chunks as they arrive. Raises ``UpstreamError`` (before or
        mid-stream). The caller ``aclose()``s a stream it stops reading."""
        ...

    async def aclose(self) -> None: ...
