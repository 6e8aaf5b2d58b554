"""``AnthropicCodec``: the Anthropic Messages format (``POST /v1/messages``), both directions.

The work is done by the modules next to this one — ``request_decode``, ``request_encode``,
``response``, ``stream``, ``errors`` and ``usage`` — and this class puts them behind the
contract of ``llmgw.wire.codec``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from llmgw.errors import GatewayError, UpstreamError
from llmgw.types import ChatRequest, ChatResponse
from llmgw.wire.anthropic.errors import decode_error, encode_error
from llmgw.wire.anthropic.request_decode import decode_request
from llmgw.wire.anthropic.request_encode import encode_request
from llmgw.wire.anthropic.response import decode_response, encode_response
from llmgw.wire.anthropic.stream import AnthropicStreamDecoder, AnthropicStreamEncoder


class AnthropicCodec:
    """The Anthropic Messages codec (a ``WireCodec``); stateless, one instance serves all.

    ``StreamEncoder(meta, include_usage)`` streams ``message_start`` ... ``message_stop``
    events (usage is always reported); ``StreamDecoder()`` reads them back.
    """

    __slots__ = ()

    name: ClassVar[str] = "anthropic"
    StreamEncoder: ClassVar[type[AnthropicStreamEncoder]] = AnthropicStreamEncoder
    StreamDecoder: ClassVar[type[AnthropicStreamDecoder]] = AnthropicStreamDecoder

    def __repr__(self) -> str:
        return "AnthropicCodec()"

    def decode_request(self, body: Any) -> ChatRequest:
        """Validate a Messages body; ``system`` becomes a leading system message, tool results
        become tool messages. Raises ``BadRequest`` naming the field (``messages.1.content``)."""
        return decode_request(body)

    def encode_request(self, req: ChatRequest) -> dict[str, Any]:
        """The Messages body for a provider (``max_tokens`` defaults to ``DEFAULT_MAX_TOKENS``;
        what the API has no place for is dropped)."""
        return encode_request(req)

    def decode_response(self, body: Any) -> ChatResponse:
        """A Message object: text blocks joined, ``tool_use`` blocks as tool calls."""
        return decode_response(body)

    def encode_response(self, resp: ChatResponse) -> dict[str, Any]:
        """A full Message object (a refusal with no content becomes text)."""
        return encode_response(resp)

    def encode_error(self, err: GatewayError) -> tuple[int, dict[str, Any]]:
        """``err.status`` and ``{"type": "error", "error": {"type", "message"}}``."""
        return encode_error(err)

    def decode_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """Classify an Anthropic error response; non-JSON bodies are tolerated."""
        return decode_error(status, body, headers)
