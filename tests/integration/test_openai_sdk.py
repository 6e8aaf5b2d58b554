"""The real ``openai`` SDK against a real gateway in front of a real mock upstream."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import openai
import pytest

from tests.conftest import llmgw_cmd
from tests.integration.audit_rows import audit_row
from tests.integration.conftest import UPSTREAM_KEY, GatewayEnv, create_key, list_keys

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def client(gw: GatewayEnv, tenant: str = "acme") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.keys[tenant], max_retries=0)


def test_plain_call_and_its_audit_row(gateway: GatewayEnv) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}], max_tokens=50
    )
    resp = raw.parse()
    assert resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens > 0
    request_id = raw.headers["x-request-id"]
    assert raw.headers["x-llmgw-provider"] == "up-openai"
    assert raw.headers["x-llmgw-model"] == "gpt-4o-mini"

    row = audit_row(gateway.state, request_id)
    assert row["tenant"] == "acme"
    assert row["key_id"].startswith("key_")
    assert row["api"] == "openai"
    assert row["requested_model"] == "gpt-4o-mini"
    assert row["provider"] == "up-openai"
    assert row["served_model"] == "gpt-4o-mini"
    assert row["attempts"] == 1
    assert row["status"] == 200
    assert row["outcome"] == "ok"
    assert row["error_class"] is None
    assert row["input_tokens"] == resp.usage.prompt_tokens
    assert row["output_tokens"] == resp.usage.completion_tokens
    assert row["cost_nanos"] > 0  # gpt-4o-mini has a built-in price
    assert not row["stream"]
    assert row["latency_ms"] > 0 and row["ttft_ms"] is not None
    assert json.loads(row["request_body"])["messages"][0]["content"] == "Say hello"
    assert json.loads(row["response_body"])["choices"][0]["message"]["content"] == (
        resp.choices[0].message.content
    )


def test_stream_with_usage_matches_plain_answer(gateway: GatewayEnv) -> None:
    c = client(gateway)
    messages = [{"role": "user", "content": "Tell me a short story"}]
    plain = c.chat.completions.create(model="gpt-4o-mini", messages=messages)
    stream = c.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    request_id = stream.headers["x-request-id"]
    text, usage, finish = [], None, None
    for chunk in stream.parse():
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert "".join(text) == plain.choices[0].message.content
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens == plain.usage.completion_tokens
    row = audit_row(gateway.state, request_id)
    assert row["stream"] == 1 and row["outcome"] == "ok"
    assert row["output_tokens"] == usage.completion_tokens
    assert row["ttft_ms"] is not None and row["ttft_ms"] <= row["latency_ms"]


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash"])
def test_tool_call_plain_and_streamed_across_providers(gateway: GatewayEnv, model: str) -> None:
    c = client(gateway)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    resp = c.chat.completions.create(model=model, messages=messages, tools=[WEATHER_TOOL])
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)

    args, name = "", None
    for chunk in c.chat.completions.create(
        model=model, messages=messages, tools=[WEATHER_TOOL], stream=True
    ):
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                name = tc.function.name or name
                args += tc.function.arguments or ""
    assert name == "get_weather"
    assert json.loads(args) == json.loads(call.function.arguments)

    followup = [
        *messages,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    final = c.chat.completions.create(model=model, messages=followup, tools=[WEATHER_TOOL])
    assert final.choices[0].message.content
    assert final.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "haiku", "gemini-2.5-flash", "local-small"])
def test_openai_client_reaches_other_providers(gateway: GatewayEnv, model: str) -> None:
    c = client(gateway)
    resp = c.chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    )
    assert resp.choices[0].message.content
    streamed = "".join(
        ch.choices[0].delta.content or ""
        for ch in c.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            stream=True,
        )
        if ch.choices
    )
    assert streamed == resp.choices[0].message.content


def test_models_lists_only_what_the_tenant_may_use(gateway: GatewayEnv) -> None:
    narrow = {m.id for m in client(gateway, "acme/search").models.list()}
    assert narrow == {"gpt-4o-mini", "claude-haiku-4-5"}
    wide = {m.id for m in client(gateway, "acme").models.list()}
    assert {"gpt-4o-mini", "gemini-2.5-flash", "failover"} <= wide


def test_metadata_retention_keeps_no_bodies(gateway: GatewayEnv) -> None:
    raw = client(gateway, "acme/search").chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "secret plans"}]
    )
    row = audit_row(gateway.state, raw.headers["x-request-id"])
    assert row["tenant"] == "acme/search"
    assert row["request_body"] is None and row["response_body"] is None
    assert row["retention"] == "metadata"
    assert row["input_tokens"] > 0


def test_failover_to_second_deployment(gateway: GatewayEnv) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="failover", messages=[{"role": "user", "content": "hello"}]
    )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-llmgw-provider"] == "up-anthropic"
    assert raw.headers["x-llmgw-attempts"] == "2"
    row = audit_row(gateway.state, raw.headers["x-request-id"])
    assert row["attempts"] == 2
    log = json.loads(row["attempt_log"])
    assert [a["error_class"] for a in log] == ["overloaded", None]
    assert row["served_model"] == "claude-haiku-4-5"


def test_streamed_failover_before_first_token(gateway: GatewayEnv) -> None:
    chunks = list(
        client(gateway).chat.completions.create(
            model="failover", messages=[{"role": "user", "content": "hello"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


class TestErrors:
    def test_bad_key(self, gateway: GatewayEnv) -> None:
        c = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="sk-wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
            )
        assert info.value.status_code == 401
        assert info.value.response.headers["x-request-id"].startswith("req_")
        row = audit_row(gateway.state, info.value.response.headers["x-request-id"])
        assert row["outcome"] == "rejected" and row["status"] == 401

    def test_model_not_allowed(self, gateway: GatewayEnv) -> None:
        with pytest.raises(openai.PermissionDeniedError) as info:
            client(gateway, "acme/search").chat.completions.create(
                model="gemini-2.5-flash", messages=[{"role": "user", "content": "x"}]
            )
        assert info.value.status_code == 403
        assert "not allowed" in info.value.message

    def test_unknown_model(self, gateway: GatewayEnv) -> None:
        with pytest.raises(openai.NotFoundError) as info:
            client(gateway).chat.completions.create(
                model="no-such-model", messages=[{"role": "user", "content": "x"}]
            )
        assert info.value.code == "model_not_found"

    def test_missing_messages(self, gateway: GatewayEnv) -> None:
        with pytest.raises(openai.BadRequestError) as info:
            client(gateway).chat.completions.create(model="gpt-4o-mini", messages=[])
        assert info.value.status_code == 400

    def test_malformed_json_and_non_object(self, gateway: GatewayEnv) -> None:
        headers = {"authorization": f"Bearer {gateway.keys['acme']}"}
        for body in (b"{not json", b"[1, 2]"):
            r = httpx.post(f"{gateway.url}/v1/chat/completions", content=body, headers=headers)
            assert r.status_code == 400
            assert r.json()["error"]["type"] == "invalid_request_error"
            assert "x-request-id" in r.headers

    def test_body_too_large(self, gateway: GatewayEnv) -> None:
        headers = {"authorization": f"Bearer {gateway.keys['acme']}"}
        big = (
            b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
            + (b"x" * (5 * 1024 * 1024))
            + b'"}]}'
        )
        r = httpx.post(f"{gateway.url}/v1/chat/completions", content=big, headers=headers)
        assert r.status_code == 413
        assert r.json()["error"]["code"] == "request_too_large"

    def test_unknown_route_and_wrong_method(self, gateway: GatewayEnv) -> None:
        r = httpx.get(f"{gateway.url}/v1/nothing-here")
        assert r.status_code == 404 and "error" in r.json()
        r = httpx.get(f"{gateway.url}/v1/chat/completions")
        assert r.status_code == 405 and "error" in r.json()

    def test_upstream_rejection_is_returned_not_retried(self, gateway: GatewayEnv) -> None:
        with pytest.raises(openai.BadRequestError) as info:
            client(gateway).chat.completions.create(
                model="hard-fail", messages=[{"role": "user", "content": "x"}]
            )
        row = audit_row(gateway.state, info.value.response.headers["x-request-id"])
        assert row["attempts"] == 1 and row["outcome"] == "error"

    def test_all_deployments_down(self, gateway: GatewayEnv) -> None:
        with pytest.raises(openai.InternalServerError) as info:
            client(gateway).chat.completions.create(
                model="all-down", messages=[{"role": "user", "content": "x"}]
            )
        assert info.value.status_code == 503
        row = audit_row(gateway.state, info.value.response.headers["x-request-id"])
        assert row["error_class"] == "overloaded"

    def test_silent_upstream_times_out_with_504(self, gateway: GatewayEnv) -> None:
        with pytest.raises(openai.APIStatusError) as info:
            client(gateway).chat.completions.create(
                model="silent", messages=[{"role": "user", "content": "x"}]
            )
        assert info.value.status_code == 504
        row = audit_row(gateway.state, info.value.response.headers["x-request-id"])
        assert row["error_class"] == "timeout" and row["outcome"] == "error"

    def test_key_of_an_unconfigured_tenant_is_refused(self, gateway: GatewayEnv) -> None:
        secret = create_key(gateway.state, "initech", "stray")
        c = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=secret, max_retries=0)
        for _ in range(60):  # the gateway picks up new keys within a second
            try:
                c.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
                )
            except openai.AuthenticationError:
                time.sleep(0.05)
                continue
            except openai.PermissionDeniedError as err:
                assert err.code == "tenant_not_configured"
                assert c.models.list().data == []
                return
            raise AssertionError("a key of an unconfigured tenant was served")
        raise AssertionError("the new key never became active")

    def test_revoked_key_stops_working(self, gateway: GatewayEnv) -> None:
        secret = create_key(gateway.state, "globex", "short-lived")
        c = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=secret, max_retries=0)
        msg = [{"role": "user", "content": "x"}]
        deadline = time.monotonic() + 5
        while True:
            try:
                c.chat.completions.create(model="gpt-4o-mini", messages=msg)
                break
            except openai.AuthenticationError:
                assert time.monotonic() < deadline, "new key never became active"
                time.sleep(0.05)
        key_id = next(
            k["id"] for k in list_keys(gateway.state, "globex") if k["name"] == "short-lived"
        )
        subprocess.run(
            llmgw_cmd("keys", "revoke", key_id, "--state", str(gateway.state)),
            check=True,
            capture_output=True,
            timeout=30,
        )
        deadline = time.monotonic() + 5
        while True:
            try:
                c.chat.completions.create(model="gpt-4o-mini", messages=msg)
            except openai.AuthenticationError:
                break
            assert time.monotonic() < deadline, "revoked key still served after 5 s"
            time.sleep(0.05)

    def test_context_length_exceeded(self, gateway: GatewayEnv) -> None:
        with pytest.raises(openai.BadRequestError) as info:
            client(gateway).chat.completions.create(
                model="too-long", messages=[{"role": "user", "content": "x"}]
            )
        assert info.value.code == "context_length_exceeded"

    def test_stream_cut_mid_answer_is_an_error_not_a_short_answer(
        self, gateway: GatewayEnv
    ) -> None:
        stream = client(gateway).chat.completions.with_raw_response.create(
            model="cut",
            messages=[{"role": "user", "content": "a long answer please"}],
            stream=True,
        )
        request_id = stream.headers["x-request-id"]
        with pytest.raises(openai.APIError):
            for _ in stream.parse():
                pass
        row = audit_row(gateway.state, request_id)
        assert row["outcome"] == "error" and row["error_class"] == "connection"
        assert row["output_tokens"] > 0  # what was produced is still counted


def test_a_key_made_with_the_cli_works_on_its_very_first_call(gateway: GatewayEnv) -> None:
    secret = create_key(gateway.state, "globex", "brand-new")  # the real `llmgw keys create`
    c = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=secret, max_retries=0)
    resp = c.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}]
    )
    assert resp.choices[0].message.content


ECHO_PROVIDERS = {
    "echo-auth": "up-openai",
    "echo-auth-anthropic": "up-anthropic",
    "echo-auth-gemini": "up-gemini",
}


@pytest.fixture(scope="module")
def vault_keys(gateway: GatewayEnv) -> dict[str, str]:
    """Keys of the redacted and metadata tenants, made while the gateway runs."""
    return {t: create_key(gateway.state, t, "echo") for t in ("vault-redacted", "vault-metadata")}


@pytest.mark.parametrize("tenant", ["acme", "vault-redacted", "vault-metadata"])
@pytest.mark.parametrize("model", list(ECHO_PROVIDERS))
def test_an_upstream_quoting_its_key_leaks_it_to_neither_tenant_nor_audit(
    gateway: GatewayEnv, vault_keys: dict[str, str], tenant: str, model: str
) -> None:
    key = gateway.keys.get(tenant) or vault_keys[tenant]
    c = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        c.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    body = info.value.response.text
    assert "Incorrect API key provided" in body and "[REDACTED:key]" in body
    assert UPSTREAM_KEY not in body and UPSTREAM_KEY[:16] not in body
    row = audit_row(gateway.state, info.value.response.headers["x-request-id"])
    assert (row["tenant"], row["error_class"]) == (tenant, "auth")
    assert all(UPSTREAM_KEY[:16] not in str(value) for value in row.values())
    if tenant == "vault-metadata":
        assert row["error_message"] == f"{ECHO_PROVIDERS[model]} 401: auth"
    else:
        assert "Incorrect API key provided" in row["error_message"]
        assert "[REDACTED:key]" in row["error_message"]
