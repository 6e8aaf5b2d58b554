"""Cache policy, keys and per-request control: pure logic."""

from __future__ import annotations

from typing import Any

import pytest

from llmgw.cache.control import decide, parse_directives
from llmgw.cache.keys import context_key, deterministic, exact_key, question_of
from llmgw.cache.policy import resolve_policy, scope_id
from llmgw.errors import BadRequest
from llmgw.settings import ConfigError, parse_settings
from llmgw.types import ChatRequest

BASE: dict[str, Any] = {
    "providers": {"m": {"kind": "mock"}},
    "models": {
        "small": {"deployments": [{"provider": "m", "model": "s"}], "aliases": ["tiny"]},
        "large": {"deployments": [{"provider": "m", "model": "l"}]},
    },
}


def settings(cache: dict[str, Any] | None = None, **tenants: dict[str, Any]) -> Any:
    doc = {**BASE, "tenants": tenants}
    if cache is not None:
        doc["cache"] = cache
    return parse_settings(doc)


def req(content: str = "What is 2+2?", **kw: Any) -> ChatRequest:
    return ChatRequest(model="small", messages=[{"role": "user", "content": content}], **kw)


# -- policy --------------------------------------------------------------------------------


def test_defaults_cache_deterministic_calls_for_an_hour_per_tenant() -> None:
    p = resolve_policy(settings(acme={}), "acme", "small")
    assert (p.mode, p.scope, p.ttl_s, p.semantic) == ("deterministic", "tenant", 3600, False)


def test_nearest_setting_wins_and_model_rules_override_the_node() -> None:
    s = settings(
        {"ttl_s": 60},
        acme={"cache": {"semantic": True, "scope": "org", "models": {"tiny": {"ttl_s": 5}}}},
        **{"acme/search": {"cache": {"mode": "always"}}},
    )
    p = resolve_policy(s, "acme/search/ci", "small")
    assert (p.mode, p.scope, p.ttl_s, p.semantic) == ("always", "org", 5, True)
    assert resolve_policy(s, "acme/search", "large").ttl_s == 60  # the model rule is per model
    assert resolve_policy(s, "globex", "small").semantic is False


def test_cache_switched_off_store_wide() -> None:
    s = settings({"enabled": False}, acme={"cache": {"mode": "always"}})
    assert resolve_policy(s, "acme", "small").off


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"cache": {"mode": "sometimes"}}, "cache.mode"),
        ({"cache": {"ttl_s": -1}}, "cache.ttl_s"),
        ({"cache": {"semantic_threshold": 1.5}}, "cache.semantic_threshold"),
        ({"cache": {"scope": "world"}}, "cache.scope"),
        ({"cache": {"tll_s": 5}}, "cache.tll_s"),
        ({"tenants": {"acme": {"cache": {"models": {"nope": {"ttl_s": 1}}}}}}, "nope"),
        ({"tenants": {"acme": {"cache": {"semantic": "yes"}}}}, "semantic"),
    ],
)
def test_bad_cache_settings_name_the_key(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings({**BASE, **doc})
    assert where in str(info.value)


def test_scopes_are_never_wider_than_the_org() -> None:
    assert scope_id("key", "acme/search/ci", "key_1") == "key:key_1"
    assert scope_id("tenant", "acme/search/ci", "key_1") == "tenant:acme/search/ci"
    assert scope_id("team", "acme/search/ci", "key_1") == "team:acme/search"
    assert scope_id("org", "acme/search/ci", "key_1") == "org:acme"
    assert scope_id("org", "acme2", "k") != scope_id("org", "acme", "k")


# -- keys ----------------------------------------------------------------------------------


def test_exact_key_covers_scope_model_messages_and_output_parameters() -> None:
    base = exact_key("tenant:a", "small", req(temperature=0))
    assert base == exact_key("tenant:a", "small", req(temperature=0))
    assert base == exact_key("tenant:a", "small", req(temperature=0, stream=True, user="u"))
    variants = [
        exact_key("tenant:b", "small", req(temperature=0)),
        exact_key("tenant:a", "large", req(temperature=0)),
        exact_key("tenant:a", "small", req("What is 2+3?", temperature=0)),
        exact_key("tenant:a", "small", req(temperature=0, max_tokens=5)),
        exact_key("tenant:a", "small", req(temperature=0, top_p=0.9)),
        exact_key("tenant:a", "small", req(temperature=0, stop=["\n"])),
        exact_key("tenant:a", "small", req(temperature=0, seed=1)),
        exact_key("tenant:a", "small", req(temperature=0, response_format={"type": "json"})),
        exact_key("tenant:a", "small", req(temperature=0, tools=[{"type": "function"}])),
        exact_key("tenant:a", "small", req(temperature=0, tool_choice="none")),
        exact_key("tenant:a", "small", req(temperature=0, extra={"presence_penalty": 1})),
        exact_key("tenant:a", "small", req(temperature=0.5)),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_context_key_ignores_only_the_last_message() -> None:
    sys_a = [{"role": "system", "content": "A"}]
    sys_b = [{"role": "system", "content": "B"}]
    one = ChatRequest("small", [*sys_a, {"role": "user", "content": "q1"}], temperature=0)
    two = ChatRequest("small", [*sys_a, {"role": "user", "content": "q2"}], temperature=0)
    other = ChatRequest("small", [*sys_b, {"role": "user", "content": "q1"}], temperature=0)
    assert context_key("s", "small", one) == context_key("s", "small", two)
    assert context_key("s", "small", one) != context_key("s", "small", other)
    assert context_key("s", "small", one) != context_key("t", "small", one)


def test_question_is_the_last_user_text_only() -> None:
    assert question_of(req("  hi  ")) == "hi"
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert question_of(ChatRequest("m", [{"role": "user", "content": parts}])) == "a\nb"
    image = [{"type": "image_url", "image_url": {"url": "x"}}]
    assert question_of(ChatRequest("m", [{"role": "user", "content": image}])) is None
    assert question_of(ChatRequest("m", [{"role": "assistant", "content": "x"}])) is None
    assert question_of(ChatRequest("m", [])) is None


def test_deterministic_means_temperature_zero_or_a_seed() -> None:
    assert deterministic(req(temperature=0))
    assert deterministic(req(temperature=0.9, seed=3))
    assert not deterministic(req())
    assert not deterministic(req(temperature=0.1))


# -- directives and decisions --------------------------------------------------------------


def headers(**kw: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in kw.items()]


def test_directives_follow_the_request_headers() -> None:
    d = parse_directives(headers(cache_control="no-cache, no-store", x_llmgw_cache_ttl="30"))
    assert (d.no_cache, d.no_store, d.ttl_s) == (True, True, 30)
    assert parse_directives(headers(x_llmgw_cache="no-semantic")).no_semantic
    assert parse_directives(headers(x_llmgw_cache="bypass")).bypass
    assert parse_directives(headers(cache_control="max-age=0")).no_cache is False


@pytest.mark.parametrize(
    "bad", [{"x_llmgw_cache_ttl": "-1"}, {"x_llmgw_cache_ttl": "1h"}, {"x_llmgw_cache": "off"}]
)
def test_bad_directives_are_a_400(bad: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        parse_directives(headers(**bad))


def test_decisions() -> None:
    s = settings(acme={}, sem={"cache": {"semantic": True}}, always={"cache": {"mode": "always"}})
    plain = resolve_policy(s, "acme", "small")
    sem = resolve_policy(s, "sem", "small")
    none = parse_directives([])
    assert decide(plain, req(), none).bypass
    d = decide(plain, req(temperature=0), none)
    assert (d.read, d.semantic, d.store, d.ttl_s) == (True, False, True, 3600)
    d = decide(sem, req(temperature=0), none)
    assert d.semantic and d.question == "What is 2+2?"
    assert not decide(sem, req(temperature=0), headers_d("x_llmgw_cache", "no-semantic")).semantic
    assert not decide(sem, req(temperature=0, tools=[{"type": "function"}]), none).semantic
    assert not decide(resolve_policy(s, "always", "small"), req(), none).bypass
    assert (
        decide(plain, req(temperature=0), headers_d("x_llmgw_cache_ttl", "999999")).ttl_s == 86400
    )
    assert not decide(plain, req(temperature=0), headers_d("x_llmgw_cache_ttl", "0")).store
    nc = decide(plain, req(temperature=0), headers_d("cache_control", "no-cache"))
    assert (nc.read, nc.store) == (False, True)
    ns = decide(plain, req(temperature=0), headers_d("cache_control", "no-store"))
    assert (ns.read, ns.store) == (True, False)


def headers_d(name: str, value: str) -> Any:
    return parse_directives(headers(**{name: value}))
