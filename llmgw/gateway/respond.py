"""Answers outside a chat call: which API's error format a request speaks, and error bodies."""

from __future__ import annotations

import orjson

from llmgw.errors import GatewayError
from llmgw.gateway.asgi import JSON_HEADERS, Scope, Send, header, send_bytes
from llmgw.wire.registry import codec_for


def inbound_api(scope: Scope) -> str:
    """Which error format to answer in when the path does not say: Anthropic clients send
    ``anthropic-version``."""
    return "anthropic" if header(scope, b"anthropic-version") is not None else "openai"


async def send_error(send: Send, api: str, err: GatewayError) -> None:
    """``err`` as the ``api``'s error JSON, with its status."""
    status, payload = codec_for(api).encode_error(err)
    await send_bytes(send, status, orjson.dumps(payload), JSON_HEADERS)


def method_not_allowed(method: str, path: str) -> GatewayError:
    err = GatewayError(
        f"method {method} is not allowed on {path}; use POST", code="method_not_allowed"
    )
    err.status = 405
    err.kind = "invalid_request_error"
    return err
