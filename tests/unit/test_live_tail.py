"""The live tail keeps call lines: the fields the admin views show, never a body."""

from __future__ import annotations

import tomllib
from typing import Any

from llmgw.audit.record import AuditRecord
from llmgw.ops.live import TAIL_RING, LiveState
from llmgw.ops.live_tail import MODEL_CHARS, CallLine
from llmgw.settings.parse import parse_settings

CONFIG = """
[providers.a]
kind = "mock"

[models.m1]
deployments = [{ provider = "a", model = "up-1" }]

[tenants.acme]
models = ["*"]
retention = "redacted"
"""
SECRET = "card 4111 1111 1111 1111"
SUMMARY_KEYS = {
    "id",
    "ts",
    "tenant",
    "api",
    "model",
    "provider",
    "served_model",
    "status",
    "outcome",
    "error_class",
    "latency_ms",
    "ttft_ms",
    "tokens",
    "cost_nanos",
    "stream",
    "attempts",
}


def record(**kw: Any) -> AuditRecord:
    base: dict[str, Any] = {
        "tenant": "acme",
        "api": "openai",
        "requested_model": "m1",
        "provider": "a",
        "served_model": "up-1",
        "attempts": 1,
        "attempt_log": ({"provider": "a", "model": "up-1", "error_class": None},),
        "input_tokens": 7,
        "output_tokens": 3,
        "cost_nanos": 120,
        "request_body": '{"messages":[{"role":"user","content":"' + SECRET + '"}]}',
        "response_body": '{"content":"' + SECRET + '"}',
        "error_message": f"upstream said: {SECRET}",
        "retention": "redacted",
    }
    return AuditRecord(**(base | kw))


def test_a_call_line_has_the_summary_fields_and_no_text_of_the_call() -> None:
    rec = record(status=502, outcome="error", error_class="server_error", ttft_ms=4.0)
    line = CallLine.of(rec)
    assert all(SECRET not in str(value) for value in line)
    summary = line.summary()
    assert set(summary) == SUMMARY_KEYS
    assert summary["tokens"] == {"input": 7, "output": 3, "cached": 0}
    assert (summary["id"], summary["model"], summary["status"]) == (rec.id, "m1", 502)
    assert (summary["outcome"], summary["error_class"]) == ("error", "server_error")


def test_a_huge_requested_model_is_cut() -> None:
    line = CallLine.of(record(requested_model="m" * 1_000_000))
    assert line.model is not None and len(line.model) == MODEL_CHARS + 1


def test_the_tail_and_the_error_rings_hold_call_lines_only() -> None:
    live = LiveState(parse_settings(tomllib.loads(CONFIG), "cfg.toml"))
    for i in range(TAIL_RING + 10):
        live.observe(record(id=f"req_{i}", outcome="error" if i % 3 else "ok", status=500))
    assert len(live.tail) == TAIL_RING
    assert all(type(line) is CallLine for line in live.tail)
    assert all(type(line) is CallLine for t in live.tenants.values() for line in t.errors)
    shown = [*live.recent_calls(TAIL_RING), *live.tenant_errors("acme")]
    assert len(shown) == TAIL_RING + 20
    assert all(set(c) == SUMMARY_KEYS and SECRET not in repr(c) for c in shown)
