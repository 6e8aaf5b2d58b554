"""The codec contract: what the rest of ``llmgw`` may ask of a wire format.

A codec translates one API's JSON (and SSE) to and from the canonical records in
``llmgw.types``. It is pure — no I/O, no state beyond a stream's own encoder or decoder — and
one shared instance per format serves every call (``llmgw.wire.openai.CODEC`` and so on; look
them up by name through ``llmgw.wire.registry``).

Two sides, two Protocols:

``Codec`` (inbound)
    What the gateway uses to talk to its own clients: ``decode_request`` a client's body,
    ``encode_response`` / ``encode_error`` the answer, ``StreamEncoder`` for a streamed answer;
    ``decode_response`` reads an answer it encoded back (replay diffs the recorded bodies).
``ProviderCodec`` (outbound)
    What a provider adapter uses to talk upstream: ``encode_request`` the body to send,
    ``decode_response`` / ``decode_error`` what came back, ``StreamDecoder`` for an SSE answer.

Every format package implements both (``WireCodec``), so the gateway can take any inbound
format to any provider and the mock provider speaks every format with the same code.

``StreamEncoder`` and ``StreamDecoder`` are attributes holding a factory (in practice the
format's encoder or decoder class): ``codec.StreamEncoder(meta, include_usage)`` makes a fresh
encoder for one stream, ``codec.StreamDecoder()`` a fresh decoder. The Protocols below of the
same names describe the objects those factories make.

Errors: ``decode_request`` raises ``errors.BadRequest`` naming the offending field;
``decode_response`` and a stream decoder's ``feed`` raise ``errors.UpstreamError`` for a body
that is not an answer in the format (or an in-band error event).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from llmgw.errors import GatewayError, UpstreamError
from llmgw.types import ChatRequest, ChatResponse, Chunk, StreamMeta
from llmgw.wire.sse import SseEvent

__all__ = [
    "Codec",
    "DecoderFactory",
    "EncoderFactory",
    "ProviderCodec",
    "StreamDecoder",
    "StreamEncoder",
    "WireCodec",
]


@runtime_checkable
class StreamEncoder(Protocol):
    """Canonical chunks in, one format's SSE bytes out, for one stream.

    Call ``start()`` once, ``feed()`` for each chunk in stream order (see ``types.Chunk``),
    then ``finish()`` for the closing events — or ``error()`` instead when the stream fails
    after it started (an in-band error event the format's SDK raises on).
    """

    def start(self) -> bytes:
        """The opening events (may be empty)."""
        ...

    def feed(self, chunk: Chunk) -> bytes:
        """The events for one canonical chunk (may be empty)."""
        ...

    def finish(self) -> bytes:
        """The closing events: finish reason, usage and the format's end marker."""
        ...

    def error(self, err: GatewayError) -> bytes:
        """An in-band error event for a failure mid-stream."""
        ...


@runtime_checkable
class StreamDecoder(Protocol):
    """One format's SSE events in, canonical chunks out, for one upstream stream.

    ``done`` turns true once the format's end marker arrived. A decoder may also offer
    ``close() -> list[Chunk]`` to flush what a stream cut off before its end marker still owes
    (Gemini's does); callers look for it with ``getattr``.
    """

    done: bool

    def feed(self, event: SseEvent) -> list[Chunk]:
        """Canonical chunks for one event; raises ``UpstreamError`` on an error event."""
        ...


class EncoderFactory(Protocol):
    """Makes the ``StreamEncoder`` for one stream (a format's encoder class is one)."""

    def __call__(self, meta: StreamMeta, include_usage: bool) -> StreamEncoder: ...


class DecoderFactory(Protocol):
    """Makes the ``StreamDecoder`` for one upstream stream (a format's decoder class is one)."""

    def __call__(self) -> StreamDecoder: ...


@runtime_checkable
class Codec(Protocol):
    """The inbound side: what the gateway uses of the format its client speaks."""

    @property
    def StreamEncoder(self) -> EncoderFactory:
        """``StreamEncoder(meta, include_usage)``: a fresh encoder for one streamed answer."""
        ...

    def decode_request(self, body: dict[str, Any]) -> ChatRequest:
        """A client's parsed JSON body as a ``ChatRequest``; raises ``BadRequest``."""
        ...

    def encode_response(self, resp: ChatResponse) -> dict[str, Any]:
        """A complete answer as this format's JSON."""
        ...

    def decode_response(self, body: Any) -> ChatResponse:
        """This format's answer JSON back to a ``ChatResponse``; raises ``UpstreamError``."""
        ...

    def encode_error(self, err: GatewayError) -> tuple[int, dict[str, Any]]:
        """The HTTP status and this format's error JSON for ``err``."""
        ...


@runtime_checkable
class ProviderCodec(Protocol):
    """The outbound side: what a provider adapter uses of the format its provider speaks."""

    @property
    def StreamDecoder(self) -> DecoderFactory:
        """``StreamDecoder()``: a fresh decoder for one upstream stream."""
        ...

    def encode_request(self, req: ChatRequest) -> dict[str, Any]:
        """The body to send (``req.model`` is already the provider's model name)."""
        ...

    def decode_response(self, body: Any) -> ChatResponse:
        """A provider's answer JSON as a ``ChatResponse``; raises ``UpstreamError``."""
        ...

    def decode_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """Classify a provider's error response (honours ``retry-after``)."""
        ...


@runtime_checkable
class WireCodec(Codec, ProviderCodec, Protocol):
    """Both sides: what every format package's ``CODEC`` offers."""
