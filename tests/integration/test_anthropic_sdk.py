"""The real ``anthropic`` SDK against a real gateway: Messages API in, any provider out."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest

from tests.integration.audit_rows import audit_row
from tests.integration.conftest import GatewayEnv

TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def client(gw: GatewayEnv, tenant: str = "acme") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=gw.keys[tenant], max_retries=0)


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gpt-4o-mini", "gemini-2.5-flash"])
def test_plain_message_any_provider(gateway: GatewayEnv, model: str) -> None:
    raw = client(gateway).messages.with_raw_response.create(
        model=model,
        max_tokens=64,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello there"}],
    )
    msg = raw.parse()
    assert msg.type == "message" and msg.role == "assistant"
    assert msg.content[0].type == "text" and msg.content[0].text
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    row = audit_row(gateway.state, raw.headers["x-request-id"])
    assert row["api"] == "anthropic"
    assert row["requested_model"] == model
    assert row["output_tokens"] == msg.usage.output_tokens
    assert json.loads(row["response_body"])["type"] == "message"


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gpt-4o-mini"])
def test_stream_event_sequence_and_final_message(gateway: GatewayEnv, model: str) -> None:
    c = client(gateway)
    kwargs = dict(model=model, max_tokens=64, messages=[{"role": "user", "content": "Story?"}])
    plain = c.messages.create(**kwargs)
    events = []
    with c.messages.stream(**kwargs) as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_message()
    assert events[0] == "message_start"
    assert "content_block_start" in events and "content_block_delta" in events
    assert events.index("content_block_stop") < events.index("message_delta")
    assert final.content[0].text == plain.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gpt-4o-mini"])
def test_tool_use_round_trip(gateway: GatewayEnv, model: str) -> None:
    c = client(gateway)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    msg = c.messages.create(model=model, max_tokens=128, tools=[TOOL], messages=messages)
    assert msg.stop_reason == "tool_use"
    use = next(b for b in msg.content if b.type == "tool_use")
    assert use.name == "get_weather" and "city" in use.input

    with c.messages.stream(model=model, max_tokens=128, tools=[TOOL], messages=messages) as s:
        streamed = s.get_final_message()
    streamed_use = next(b for b in streamed.content if b.type == "tool_use")
    assert streamed_use.input == use.input

    followup = [
        *messages,
        {"role": "assistant", "content": [b.model_dump() for b in msg.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": use.id, "content": "21 C and sunny"}
            ],
        },
    ]
    final = c.messages.create(model=model, max_tokens=128, tools=[TOOL], messages=followup)
    assert final.stop_reason == "end_turn" and final.content[0].text


def test_errors_come_in_anthropic_shape(gateway: GatewayEnv) -> None:
    bad = anthropic.Anthropic(base_url=gateway.url, api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        bad.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "authentication_error"

    with pytest.raises(anthropic.PermissionDeniedError):
        client(gateway, "acme/search").messages.create(
            model="gemini-2.5-flash", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )

    with pytest.raises(anthropic.NotFoundError):
        client(gateway).messages.create(
            model="nope", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )

    r = httpx.post(
        f"{gateway.url}/v1/messages",
        headers={"x-api-key": gateway.keys["acme"], "anthropic-version": "2023-06-01"},
        json={"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400  # max_tokens is required by the Messages API
    assert r.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in r.json()["error"]["message"]

    with pytest.raises(anthropic.InternalServerError) as down:
        client(gateway).messages.create(
            model="all-down", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert down.value.status_code == 503
    assert down.value.body["error"]["type"] == "overloaded_error"


def test_models_list_in_anthropic_shape(gateway: GatewayEnv) -> None:
    ids = {m.id for m in client(gateway, "acme/search").models.list()}
    assert ids == {"gpt-4o-mini", "claude-haiku-4-5"}


def test_stream_cut_ends_with_error_event(gateway: GatewayEnv) -> None:
    c = client(gateway)
    with (
        pytest.raises(anthropic.APIError),
        c.messages.stream(
            model="cut", max_tokens=64, messages=[{"role": "user", "content": "long please"}]
        ) as stream,
    ):
        for _ in stream:
            pass
