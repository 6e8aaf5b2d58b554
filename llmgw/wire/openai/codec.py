"""``OpenAICodec``: the OpenAI chat-completions format as one codec object, both directions.

Also the format of vLLM, Ollama and other OpenAI-compatible servers. The work is done by the
modules next to this one — ``request_decode`` (with ``messages``), ``request_encode``,
``response``, ``stream`` and ``errors`` — and this class puts them behind the contract of
``llmgw.wire.codec``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from llmgw.errors import GatewayError, UpstreamError
from llmgw.types import ChatRequest, ChatResponse
from llmgw.wire.openai.errors import decode_error, encode_error
from llmgw.wire.openai.request_decode import decode_request
from llmgw.wire.openai.request_encode import encode_request
from llmgw.wire.openai.response import decode_response, encode_response
from llmgw.wire.openai.stream import OpenAIStreamDecoder, OpenAIStreamEncoder


class OpenAICodec:
    """The OpenAI chat-completions codec (a ``WireCodec``); stateless, one instance serves all.

    ``StreamEncoder(meta, include_usage)`` streams ``chat.completion.chunk`` events ending in
    ``[DONE]``; ``StreamDecoder()`` reads them back (first choice only).
    """

    __slots__ = ()

    name: ClassVar[str] = "openai"
    StreamEncoder: ClassVar[type[OpenAIStreamEncoder]] = OpenAIStreamEncoder
    StreamDecoder: ClassVar[type[OpenAIStreamDecoder]] = OpenAIStreamDecoder

    def __repr__(self) -> str:
        return "OpenAICodec()"

    def decode_request(self, body: Any) -> ChatRequest:
        """Validate a chat-completions body; ``developer`` messages become ``system``, keys the
        record does not name go to ``extra``. Raises ``BadRequest`` naming the field."""
        return decode_request(body)

    def encode_request(self, req: ChatRequest) -> dict[str, Any]:
        """The body for an OpenAI-compatible provider (``max_completion_tokens`` for o-series
        and gpt-5 names; a stream always asks for usage)."""
        return encode_request(req)

    def decode_response(self, body: Any) -> ChatResponse:
        """A ``chat.completion`` object's first choice; raises ``UpstreamError`` when malformed."""
        return decode_response(body)

    def encode_response(self, resp: ChatResponse) -> dict[str, Any]:
        """A full ``chat.completion`` object."""
        return encode_response(resp)

    def encode_error(self, err: GatewayError) -> tuple[int, dict[str, Any]]:
        """``err.status`` and ``{"error": {"message", "type", "param", "code"}}``."""
        return encode_error(err)

    def decode_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """Classify an OpenAI(-compatible) error response; non-JSON bodies are tolerated."""
        return decode_error(status, body, headers)
