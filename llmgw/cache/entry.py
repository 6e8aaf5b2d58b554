"""A cached answer: what was stored, and how it is replayed in any format. Pure.

An entry keeps the canonical answer (text, finish reason, usage, the model and provider that
produced it, what it cost) so that one entry serves an OpenAI or an Anthropic caller, plain or
streamed, whatever format and mode the original call used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

from llmgw.types import ChatResponse, Chunk, Outcome, Usage

# a replayed stream sends the text in word-sized pieces, as a model would
_PIECES = re.compile(r"\S+\s*|\s+")
PIECE_CHARS = 24  # pieces are joined up to about this many characters per event


@dataclass(slots=True, frozen=True)
class CachedAnswer:
    """The part of a finished call that is replayed on a hit."""

    content: str
    served_model: str  # the provider's model that produced it
    provider: str
    input_tokens: int
    output_tokens: int
    cost_nanos: int  # what the original call cost: what every hit saves
    source_request: str  # request id of the call that produced it
    finish_reason: str = "stop"

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "content": self.content,
                "served_model": self.served_model,
                "provider": self.provider,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cost_nanos": self.cost_nanos,
                "source_request": self.source_request,
                "finish_reason": self.finish_reason,
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> CachedAnswer:
        d = orjson.loads(data)
        return cls(
            content=str(d["content"]),
            served_model=str(d["served_model"]),
            provider=str(d["provider"]),
            input_tokens=int(d["input_tokens"]),
            output_tokens=int(d["output_tokens"]),
            cost_nanos=int(d["cost_nanos"]),
            source_request=str(d["source_request"]),
            finish_reason=str(d.get("finish_reason", "stop")),
        )

    @property
    def usage(self) -> Usage:
        return Usage(self.input_tokens, self.output_tokens)

    def response(self, request_id: str, created: int) -> ChatResponse:
        """The answer as a plain response to a new call."""
        return ChatResponse(
            id=request_id,
            model=self.served_model,
            content=self.content,
            finish_reason="stop",
            usage=self.usage,
            created=created,
        )

    def chunks(self) -> list[Chunk]:
        """The answer as a stream: text pieces, the finish reason, then usage."""
        out: list[Chunk] = []
        buf = ""
        for piece in _PIECES.findall(self.content):
            buf += piece
            if len(buf) >= PIECE_CHARS:
                out.append(Chunk(text=buf))
                buf = ""
        if buf:
            out.append(Chunk(text=buf))
        out.append(Chunk(finish_reason="stop"))
        out.append(Chunk(usage=self.usage))
        return out


def storable(
    outcome: Outcome,
    finish_reason: str | None,
    content: str | None,
    has_tool_calls: bool,
    fallback: bool,
    resumed: bool,
) -> bool:
    """Only complete, final, first-hand answers are stored.

    Never: errors, degraded answers, aborted or truncated (``length``) answers, content
    filtered ones, answers waiting on a tool call, answers of a fallback model (the caller
    asked for another), or streams stitched together after a mid-answer failover.
    """
    return (
        outcome == "ok"
        and finish_reason == "stop"
        and bool(content)
        and not has_tool_calls
        and not fallback
        and not resumed
    )
