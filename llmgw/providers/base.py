"""The Provider protocol: how the gateway calls one upstream account.

A provider receives a canonical ``ChatRequest`` whose ``model`` is already the provider's own
model name, and answers with a canonical ``ChatResponse`` or a stream of ``Chunk``. Every
failure is raised as ``errors.UpstreamError`` with its canonical class; nothing else escapes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from llmgw.types import ChatRequest, ChatResponse, Chunk


class Provider(Protocol):
    name: str
    kind: str

    async def complete(self, req: ChatRequest) -> ChatResponse:
        """One whole answer. Raises ``UpstreamError``."""
        ...

    def stream(self, req: ChatRequest) -> AsyncIterator[Chunk]:
        """Canonical chunks as they arrive. Raises ``UpstreamError`` (before or mid-stream)."""
        ...

    async def aclose(self) -> None: ...
