"""``GeminiCodec``: Google Gemini (Generative Language API ``v1beta``), both directions.

Gemini specifics the contract of ``llmgw.wire.codec`` leaves room for:

- the model is in the URL (``request_path``), so ``decode_request`` takes it as an extra
  argument and ``encode_request`` leaves it out of the body;
- a stream (``streamGenerateContent?alt=sse``) is a run of ``data:`` events, each a whole
  ``GenerateContentResponse``; there is no ``[DONE]``: the event with a ``finishReason`` ends
  it, and the stream decoder has a ``close()`` for a stream cut off before it;
- errors are ``{"error": {"code", "message", "status"}}`` with Google RPC status names.

The work is done by the modules next to this one — ``request_decode``, ``request_encode``
(with ``schema``), ``response`` (with ``candidate``), ``stream`` and ``errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from llmgw.errors import GatewayError, UpstreamError
from llmgw.types import ChatRequest, ChatResponse
from llmgw.wire.gemini.errors import decode_error, encode_error
from llmgw.wire.gemini.request_decode import decode_request, model_of
from llmgw.wire.gemini.request_encode import encode_request, request_path
from llmgw.wire.gemini.response import decode_response, encode_response
from llmgw.wire.gemini.stream import GeminiStreamDecoder, GeminiStreamEncoder


class GeminiCodec:
    """The Gemini codec (a ``WireCodec``); stateless, one instance serves all."""

    __slots__ = ()

    name: ClassVar[str] = "gemini"
    StreamEncoder: ClassVar[type[GeminiStreamEncoder]] = GeminiStreamEncoder
    StreamDecoder: ClassVar[type[GeminiStreamDecoder]] = GeminiStreamDecoder

    def __repr__(self) -> str:
        return "GeminiCodec()"

    def request_path(self, model: str, stream: bool) -> str:
        """The URL path of a (streamed) call to ``model``, relative to the API's base URL."""
        return request_path(model, stream)

    def decode_request(self, body: Any, model: str | None = None) -> ChatRequest:
        """Validate a ``GenerateContentRequest`` for ``model`` (the one named in the URL; when
        ``None``, the body's own ``model`` field). ``stream`` is left false: the caller knows
        it from the path. Raises ``BadRequest``."""
        return decode_request(body, model_of(body) if model is None else model)

    def encode_request(self, req: ChatRequest) -> dict[str, Any]:
        """The ``GenerateContentRequest`` body (the model goes in ``request_path``)."""
        return encode_request(req)

    def decode_response(self, body: Any) -> ChatResponse:
        """A ``GenerateContentResponse`` (first candidate); an error body raises it."""
        return decode_response(body)

    def encode_response(self, resp: ChatResponse) -> dict[str, Any]:
        """A ``GenerateContentResponse`` with one candidate."""
        return encode_response(resp)

    def encode_error(self, err: GatewayError) -> tuple[int, dict[str, Any]]:
        """``err.status`` and Gemini error JSON (a ``RetryInfo`` detail when it has a delay)."""
        return encode_error(err)

    def decode_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """Classify a Gemini error response (also a body wrapped in a JSON array)."""
        return decode_error(status, body, headers)
