"""``llmgw mock serve``: a standalone upstream speaking OpenAI, Anthropic and Gemini, with faults.

Routes (the providers' real paths, so real SDKs and the gateway's adapters point at it as is)::

    POST /v1/chat/completions                        OpenAI chat completions (SSE when stream)
    POST /v1/messages                                Anthropic Messages (SSE when stream)
    POST /v1beta/models/{model}:generateContent      Gemini (also under /v1/)
    POST /v1beta/models/{model}:streamGenerateContent  Gemini stream: SSE with alt=sse, else a
                                                     JSON array
    GET  /v1/models, /v1beta/models                  model list (Anthropic shape when the
                                                     request has an anthropic-version header)
    GET  /healthz

Control API (JSON)::

    GET    /_mock/faults          active faults
    POST   /_mock/faults          add: Fault fields, a list of them, or {"spec": "m=cut"}
    DELETE /_mock/faults[?model=] clear all faults, or one model's
    GET    /_mock/stats           requests per model and per path, faults fired
    POST   /_mock/reset           clear faults and stats

No auth is checked: any key in any header is accepted. The engine's timing knobs apply to
streams (ttft, then one token every 1/tokens_per_s) and to plain answers (the whole delay before
answering). aiohttp rather than an ASGI server because faults need the transport (resets).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time

import orjson
from aiohttp import web

from llmgw.errors import BadRequest, GatewayError, InternalError
from llmgw.jsontext import dumps
from llmgw.mock.control import ControlRoutes, MockStats
from llmgw.mock.faults import STREAM_KINDS, Fault, FaultTable
from llmgw.mock.wire_faults import (
    drop_terminal,
    fault_error,
    malformed_event,
    retry_after_header,
)
from llmgw.providers.mock import content_filter_answer, new_id
from llmgw.providers.mock_engine import MockAnswer, MockEngine, answer_chunks, is_token
from llmgw.types import ChatRequest, StreamMeta, WireFormat
from llmgw.wire import gemini as gemini_wire
from llmgw.wire.registry import FORMATS

MAX_BODY_BYTES = 64 * 1024 * 1024
SHUTDOWN_TIMEOUT_S = 1.0
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_ID_PREFIX = {"openai": "chatcmpl-mock", "anthropic": "msg_mock", "gemini": "mock-"}
_GEMINI_PATH = "/v1beta/models/{model}:"
ENGINE_KEY = web.AppKey("engine", MockEngine)
FAULTS_KEY = web.AppKey("faults", FaultTable)
STATS_KEY = web.AppKey("stats", MockStats)


class _Handlers:
    """The route handlers, bound to one engine, fault table and stats."""

    def __init__(self, engine: MockEngine, faults: FaultTable, stats: MockStats) -> None:
        self.engine = engine
        self.faults = faults
        self.stats = stats
        self.codecs = FORMATS

    # ------------------------------------------------------------------------- chat routes

    async def openai(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, "openai", "/v1/chat/completions")

    async def anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, "anthropic", "/v1/messages")

    async def gemini(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        if method not in ("generateContent", "streamGenerateContent") or not model:
            return self._error("gemini", BadRequest(f"unknown method {method!r}"), 404)
        path = _GEMINI_PATH + method
        return await self._chat(request, "gemini", path, model, method != "generateContent")

    async def _chat(
        self,
        request: web.Request,
        fmt: WireFormat,
        path: str,
        gemini_model: str | None = None,
        gemini_stream: bool = False,
    ) -> web.StreamResponse:
        codec = self.codecs[fmt]
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return self._error(fmt, BadRequest("the request body is not valid JSON"))
        try:
            if gemini_model is not None:
                req = gemini_wire.CODEC.decode_request(body, gemini_model)
                req.stream = gemini_stream
            else:
                req = codec.decode_request(body)
        except GatewayError as err:
            return self._error(fmt, err)
        except Exception as exc:  # a codec bug must still be an answer in the format
            return self._error(fmt, InternalError(f"mock could not read the request: {exc}"))
        self.stats.count(req.model, path)
        fault = self.faults.pick(req.model)
        answer = self.engine.answer(req)
        if fault is not None:
            early = await self._request_fault(request, fmt, fault, answer)
            if early is not None:
                return early
            if fault.kind == "content_filter":
                answer = content_filter_answer(answer)
        if req.stream:
            sse = fmt != "gemini" or request.query.get("alt") == "sse"
            return await self._stream(request, fmt, req, answer, fault, sse)
        return await self._plain(request, fmt, req, answer, fault)

    async def _request_fault(
        self, request: web.Request, fmt: WireFormat, fault: Fault, answer: MockAnswer
    ) -> web.StreamResponse | None:
        """Answer a request-level fault; None for faults that shape the answer instead."""
        err = fault_error(fault, fmt, answer.usage.input_tokens, request.headers)
        if err is not None:
            resp = self._error(fmt, err)
            if fault.kind == "rate_limit":
                resp.headers["Retry-After"] = retry_after_header(fault.retry_after_s)
            return resp
        if fault.kind == "reset":
            return _reset(request)
        if fault.kind == "no_response":
            await asyncio.sleep(fault.wait_s)
            return _reset(request)
        return None

    async def _plain(
        self,
        request: web.Request,
        fmt: WireFormat,
        req: ChatRequest,
        answer: MockAnswer,
        fault: Fault | None,
    ) -> web.StreamResponse:
        delay = self.engine.delay_s(answer)
        if fault is not None and fault.kind == "stall":
            delay += fault.wait_s
        if delay > 0:
            await asyncio.sleep(delay)
        codec = self.codecs[fmt]
        resp_obj = self.engine.to_response(
            answer, req.model, new_id(_ID_PREFIX[fmt]), int(time.time())
        )
        data = dumps(codec.encode_response(resp_obj))
        if fault is not None and fault.kind == "malformed":
            data = data[: max(1, len(data) // 2)]
        elif fault is not None and fault.kind == "cut":
            return await _cut_body(request, data)
        return web.Response(body=data, content_type="application/json")

    async def _stream(
        self,
        request: web.Request,
        fmt: WireFormat,
        req: ChatRequest,
        answer: MockAnswer,
        fault: Fault | None,
        sse: bool,
    ) -> web.StreamResponse:
        codec = self.codecs[fmt]
        meta = StreamMeta(
            new_id(_ID_PREFIX[fmt]), req.model, int(time.time()), answer.usage.input_tokens
        )
        encoder = codec.StreamEncoder(meta, req.include_usage)
        headers = _SSE_HEADERS if sse else {"Content-Type": "application/json"}
        resp = web.StreamResponse(headers=headers)
        if fault is not None and fault.kind == "cut":
            resp.force_close()
        await resp.prepare(request)
        writer = _Writer(resp, sse)
        loop = asyncio.get_running_loop()
        if self.engine.ttft_s > 0:
            await asyncio.sleep(self.engine.ttft_s)
        interval = self.engine.token_interval_s
        start = loop.time()
        writer.add(encoder.start())
        pending = fault if fault is not None and fault.kind in STREAM_KINDS else None
        tokens = 0
        for chunk in answer_chunks(answer):
            token = is_token(chunk)
            if (
                pending is not None
                and pending.kind != "no_done"
                and pending.strikes_now(token, tokens)
            ):
                if pending.kind == "cut":
                    await writer.flush()
                    await resp.write_eof()
                    return resp
                if pending.kind == "malformed":
                    writer.add(malformed_event(fmt))
                else:  # stall
                    await writer.flush()
                    await asyncio.sleep(pending.wait_s)
                    start += pending.wait_s
                pending = None
            if token and interval > 0 and tokens:
                await writer.flush()
                wait = start + tokens * interval - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
            writer.add(encoder.feed(chunk))
            tokens += token
        tail = encoder.finish()
        if fault is not None and fault.kind == "no_done":
            tail = drop_terminal(fmt, tail)
        writer.add(tail)
        writer.close_array()
        await writer.flush()
        await resp.write_eof()
        return resp

    def _error(self, fmt: WireFormat, err: GatewayError, status: int | None = None) -> web.Response:
        code, body = self.codecs[fmt].encode_error(err)
        return web.Response(
            status=status or code, body=orjson.dumps(body), content_type="application/json"
        )


class _Writer:
    """Gathers encoded events and writes them in one go (SSE, or a JSON array for Gemini)."""

    __slots__ = ("_buf", "_first", "_resp", "_sse")

    def __init__(self, resp: web.StreamResponse, sse: bool) -> None:
        self._resp = resp
        self._sse = sse
        self._buf: list[bytes] = []
        self._first = True

    def add(self, data: bytes) -> None:
        if not data:
            return
        if self._sse:
            self._buf.append(data)
            return
        for event in data.split(b"\n\n"):  # Gemini without alt=sse: a streamed JSON array
            if event.startswith(b"data: "):
                self._buf.append((b"[" if self._first else b",\r\n") + event[6:])
                self._first = False

    async def flush(self) -> None:
        if self._buf:
            data = b"".join(self._buf)
            self._buf.clear()
            await self._resp.write(data)

    def close_array(self) -> None:
        """End the JSON array (no-op for SSE)."""
        if not self._sse:
            self._buf.append(b"[]" if self._first else b"]")


def _reset(request: web.Request) -> web.Response:
    """Reset the TCP connection (RST, not FIN): SO_LINGER 0, then abort."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=502)  # never reaches the client


async def _cut_body(request: web.Request, data: bytes) -> web.StreamResponse:
    """Announce the whole body, send half of it, then drop the connection."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    resp.content_length = len(data)
    await resp.prepare(request)
    await resp.write(data[: len(data) // 2])
    if request.transport is not None:
        request.transport.abort()
    return resp


def create_app(engine: MockEngine, faults: FaultTable) -> web.Application:
    """The mock upstream as an aiohttp application."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    stats = MockStats()
    app[ENGINE_KEY] = engine
    app[FAULTS_KEY] = faults
    app[STATS_KEY] = stats
    h = _Handlers(engine, faults, stats)
    app.router.add_post("/v1/chat/completions", h.openai)
    app.router.add_post("/v1/messages", h.anthropic)
    app.router.add_post("/v1beta/models/{target}", h.gemini)
    app.router.add_post("/v1/models/{target}", h.gemini)
    ControlRoutes(faults, stats).add_to(app)
    return app


async def start_mock(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    faults: FaultTable | list[Fault] | None = None,
    **knobs: float,
) -> tuple[web.AppRunner, int]:
    """Start the mock on ``host:port`` (0 = a free port); returns the runner and the port.

    ``knobs`` are ``MockEngine`` arguments (``ttft_ms``, ``tokens_per_s``, ``output_tokens``).
    Stop it with ``await runner.cleanup()``.
    """
    table = faults if isinstance(faults, FaultTable) else FaultTable(faults)
    app = create_app(MockEngine(**knobs), table)  # type: ignore[arg-type]
    runner = web.AppRunner(
        app, handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    for address in runner.addresses:  # which port 0 became
        if isinstance(address, tuple) and len(address) >= 2:
            bound = int(address[1])
            break
    return runner, bound
