"""Gemini ``GenerateContentResponse`` objects: decoded into ``ChatResponse`` and encoded from it.

Only the first candidate is read; thought parts are skipped.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from llmgw.errors import UpstreamError
from llmgw.types import ChatResponse, FinishReason
from llmgw.wire.gemini.candidate import (
    FINISH_TO_GEMINI,
    candidate_parts,
    decode_usage,
    encode_usage,
    finish_reason,
    function_call_part,
    is_blocked,
    tool_call_from_part,
)
from llmgw.wire.gemini.errors import PROVIDER, error_from_json


def decode_response(body: Any) -> ChatResponse:
    """A ``GenerateContentResponse`` in canonical form (first candidate only)."""
    if not isinstance(body, dict):
        raise UpstreamError("server_error", "gemini: malformed response", provider=PROVIDER)
    if isinstance(body.get("error"), dict):
        raise error_from_json(body, int(body["error"].get("code") or 500), {})
    parts, reason = candidate_parts(body)
    texts = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    calls = [tool_call_from_part(p["functionCall"]) for p in parts if _is_call(p)]
    if is_blocked(body):
        finish: FinishReason = "content_filter"
    else:
        finish = finish_reason(reason, bool(calls))
    response_id = body.get("responseId")
    return ChatResponse(
        id=response_id if isinstance(response_id, str) else "gemini-" + uuid.uuid4().hex,
        model=str(body.get("modelVersion") or ""),
        content="".join(texts) if texts or not calls else None,
        finish_reason=finish,
        tool_calls=calls or None,
        usage=decode_usage(body.get("usageMetadata")),
        created=int(time.time()),
    )


def _is_call(part: dict[str, Any]) -> bool:
    return isinstance(part.get("functionCall"), dict)


def encode_response(resp: ChatResponse) -> dict[str, Any]:
    """A ``GenerateContentResponse`` with one candidate."""
    parts: list[dict[str, Any]] = []
    if resp.content:
        parts.append({"text": resp.content})
    parts.extend(function_call_part(call) for call in resp.tool_calls or [])
    candidate = {
        "content": {"role": "model", "parts": parts or [{"text": ""}]},
        "finishReason": FINISH_TO_GEMINI.get(resp.finish_reason, "STOP"),
        "index": 0,
    }
    return {
        "candidates": [candidate],
        "usageMetadata": encode_usage(resp.usage),
        "modelVersion": resp.model,
        "responseId": resp.id,
    }
