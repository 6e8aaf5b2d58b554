"""Tenant-facing cache endpoint: flag a bad cached answer so it is never served again.

    POST /v1/cache/flag   {"request_id": "req_..."}   with the tenant's own API key

The request id is the ``x-request-id`` of the call that got the bad answer. Only a hit served
to the key's tenant (or a tenant below it) can be flagged; anything else is a 404, the same as
an unknown id, so a tenant cannot learn about another's calls. The entry is deleted, and the
flag is counted in ``llmgw cache stats``.
"""

from __future__ import annotations

import orjson

from llmgw.errors import BadRequest, GatewayError, NotFound
from llmgw.gateway.asgi import JSON_HEADERS, Receive, Scope, Send, read_body, send_bytes
from llmgw.gateway.respond import inbound_api, send_error
from llmgw.gateway.runtime import Gateway
from llmgw.wire.limits import parse_body

FLAG_PATH = "/v1/cache/flag"
MAX_FLAG_BODY = 4096


async def handle_flag(gw: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve ``POST /v1/cache/flag``; errors in the caller's format."""
    try:
        body = await read_body(scope, receive, MAX_FLAG_BODY)
        key = await gw.keys.authenticate(scope)
        request_id = flagged_id(body)
        if gw.cache is None:
            raise NotFound("the response cache is off on this gateway", code="cache_disabled")
        result = await gw.cache.flag(key.tenant, request_id)
        if result is None:
            raise NotFound(
                f"no cached answer was served to this tenant as {request_id!r}",
                param="request_id",
                code="hit_not_found",
            )
        payload = {"request_id": request_id, "flagged": True, "entry_removed": result.removed}
        await send_bytes(send, 200, orjson.dumps(payload), JSON_HEADERS)
    except GatewayError as err:
        await send_error(send, inbound_api(scope), err)


def flagged_id(body: bytes) -> str:
    data = parse_body(body, "body")
    value = data.get("request_id") if isinstance(data, dict) else None
    if not isinstance(value, str) or not value.startswith("req_") or len(value) > 64:
        raise BadRequest(
            'body must be {"request_id": "req_..."}: the x-request-id of the call',
            param="request_id",
        )
    return value
