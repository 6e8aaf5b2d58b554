"""Adapters for HTTP providers: OpenAI (and every OpenAI-compatible server), Anthropic, Gemini.

The three differ only in the URL, the auth headers and the wire codec, so one class serves all
of them; ``PROVIDER_WIRES`` says what each kind needs. Each adapter registers its key (and
credential-like configured headers) with ``llmgw.scrub``, so a provider that quotes them back
in an error never gets them to a tenant or the audit log.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, replace

import orjson

from llmgw.errors import UpstreamError
from llmgw.jsontext import dumps
from llmgw.providers.transport import Timeouts, Transport
from llmgw.scrub import remember_secret
from llmgw.settings.schema import ProviderConfig
from llmgw.types import ChatRequest, ChatResponse, Chunk
from llmgw.wire import anthropic, gemini, openai
from llmgw.wire.codec import ProviderCodec, StreamDecoder
from llmgw.wire.sse import SseEvent, SseParser

ANTHROPIC_VERSION = "2023-06-01"
END_MARKER_GRACE_S = 0.25


@dataclass(slots=True, frozen=True)
class ProviderWire:
    codec: ProviderCodec
    url: Callable[[str, str, bool], str]  # (base_url, model, stream) -> url
    auth: Callable[[str], dict[str, str]]  # api key -> headers


def _openai_url(base: str, model: str, stream: bool) -> str:
    return f"{base.rstrip('/')}/chat/completions"


def _anthropic_url(base: str, model: str, stream: bool) -> str:
    base = base.rstrip("/")
    return f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"


def _gemini_url(base: str, model: str, stream: bool) -> str:
    return base.rstrip("/") + gemini.CODEC.request_path(model, stream)


PROVIDER_WIRES: dict[str, ProviderWire] = {
    "openai": ProviderWire(
        openai.CODEC, _openai_url, lambda key: {"authorization": f"Bearer {key}"} if key else {}
    ),
    "anthropic": ProviderWire(
        anthropic.CODEC,
        _anthropic_url,
        lambda key: (
            {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
            if key
            else {"anthropic-version": ANTHROPIC_VERSION}
        ),
    ),
    "gemini": ProviderWire(
        gemini.CODEC, _gemini_url, lambda key: {"x-goog-api-key": key} if key else {}
    ),
}


_CREDENTIAL_HEADER_HINTS = ("auth", "key", "token", "secret")


def remember_credentials(key: str, headers: Mapping[str, str]) -> None:
    """Have upstream error text redact ``key`` and the values of credential-like headers."""
    if key:
        remember_secret(key)
    for name, value in headers.items():
        if any(hint in name.lower() for hint in _CREDENTIAL_HEADER_HINTS):
            scheme, _, credential = value.strip().partition(" ")
            # "Bearer X", "Basic X": X is the secret (the scheme stays readable)
            remember_secret(credential if credential and scheme.isalpha() else value)


def decode_events(
    events: list[SseEvent], decoder: StreamDecoder
) -> tuple[list[Chunk], UpstreamError | None]:
    """Chunks from ``events`` up to the first undecodable one, and that one's error."""
    out: list[Chunk] = []
    for event in events:
        try:
            out.extend(decoder.feed(event))
        except UpstreamError as err:
            return out, err
    return out, None


class HttpProvider:
    """One provider account reached over HTTP. Implements ``providers.base.Provider``."""

    def __init__(self, cfg: ProviderConfig, transport: Transport) -> None:
        if cfg.base_url is None:
            raise ValueError(f"provider {cfg.name!r} has no base_url")
        self.name = cfg.name
        self.kind = cfg.kind
        self._wire = PROVIDER_WIRES[cfg.kind]
        self._codec = self._wire.codec
        self._base = cfg.base_url
        self._transport = transport
        self._timeouts = Timeouts(cfg.connect_timeout_s, cfg.read_timeout_s)
        # told the response headers of every answer (the gateway reads providers' own
        # rate-limit headers from them); (provider model, headers)
        self.on_headers: Callable[[str, Mapping[str, str]], None] | None = None
        key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        self._headers: dict[str, str] = {
            "content-type": "application/json",
            **self._wire.auth(key),
            **cfg.headers,
        }
        remember_credentials(key, self._headers)

    async def complete(self, req: ChatRequest) -> ChatResponse:
        if req.stream:
            req = replace(req, stream=False)
        url = self._wire.url(self._base, req.model, False)
        body = dumps(self._codec.encode_request(req))
        status, headers, data = await self._transport.post(
            url, self._headers, body, self._timeouts, self.name
        )
        if self.on_headers is not None:
            self.on_headers(req.model, headers)
        if status >= 400:
            raise self._error(status, data, headers)
        try:
            return self._codec.decode_response(orjson.loads(data))
        except UpstreamError:
            raise
        except Exception as exc:
            raise UpstreamError(
                "server_error",
                f"{self.name}: malformed response ({type(exc).__name__})",
                provider=self.name,
                upstream_status=status,
            ) from exc

    async def stream(self, req: ChatRequest) -> AsyncGenerator[list[Chunk], None]:
        if not req.stream:
            req = replace(req, stream=True)
        url = self._wire.url(self._base, req.model, True)
        body = dumps(self._codec.encode_request(req))
        async with self._transport.stream(
            url, self._headers, body, self._timeouts, self.name
        ) as resp:
            if self.on_headers is not None:
                self.on_headers(req.model, resp.headers)
            if resp.status >= 400:
                raise self._error(resp.status, await resp.read_all(), resp.headers)
            parser = SseParser()
            decoder = self._codec.StreamDecoder()
            finished = usage = False
            pieces = aiter(resp.body)
            while not decoder.done:
                try:
                    if finished and usage:
                        # finish and usage are all a stream owes: give the end marker
                        # ([DONE], message_stop) a moment, but never wait on an upstream that
                        # omits it (the connection is then closed instead of reused)
                        async with asyncio.timeout(END_MARKER_GRACE_S):
                            raw = await anext(pieces)
                    else:
                        raw = await anext(pieces)
                except (StopAsyncIteration, TimeoutError):
                    break
                batch, broken = decode_events(parser.feed(raw), decoder)
                if batch:
                    finished = finished or any(c.finish_reason is not None for c in batch)
                    usage = usage or any(c.usage is not None for c in batch)
                    yield batch
                if broken is not None:  # what decoded before a bad event still counts
                    raise broken
            if finished and usage:
                return
            if not decoder.done:
                batch = [chunk for event in parser.close() for chunk in decoder.feed(event)]
                finished = finished or any(c.finish_reason is not None for c in batch)
                closer = getattr(decoder, "close", None)
                if closer is not None and finished:  # flush usage held back; never invent a finish
                    batch += closer()
                if batch:
                    yield batch
            if not finished:
                raise UpstreamError(
                    "connection",
                    f"{self.name}: stream ended before the answer was complete",
                    provider=self.name,
                )

    def _error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        err = self._codec.decode_error(status, data, headers)
        err.provider = self.name
        err.upstream_status = status
        return err

    async def aclose(self) -> None:
        """The transport is shared and closed by its owner."""
