"""The response cache through a real gateway, with the real ``openai`` and ``anthropic`` SDKs.

Each test asks a question no other test asks, so tests do not depend on each other's entries.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import Proc, llmgw_cmd, start_gateway
from tests.integration.audit_rows import audit_row
from tests.integration.conftest import UPSTREAM_KEY, GatewayEnv, create_key

CONFIG = """
[audit]
flush_interval_s = 0.01

[providers.up]
kind = "openai"
base_url = "http://127.0.0.1:{mock}/v1"
api_key_env = "LLMGW_TEST_UPSTREAM_KEY"

[providers.slow]
kind = "mock"
[providers.slow.mock]
tokens_per_s = 20
output_tokens = 60

[models.cached]
deployments = [{{ provider = "up", model = "cache-model" }}]

[models.isolated]
deployments = [{{ provider = "up", model = "cache-isolated" }}]

[models.hard-fail]
deployments = [{{ provider = "up", model = "broken-400" }}]

[models.cut]
deployments = [{{ provider = "up", model = "cut-model" }}]

[models.slow]
deployments = [{{ provider = "slow", model = "slow-model" }}]

[[pricing]]
model = "cache-model"
input_per_mtok = "2.50"
output_per_mtok = "10.00"

[tenants.acme]
models = ["*"]

[tenants.globex]
models = ["*"]

[tenants.org-shared]
models = ["*"]
cache = {{ scope = "org" }}

[tenants.per-key]
models = ["*"]
cache = {{ scope = "key" }}

[tenants.always]
models = ["*"]
cache = {{ mode = "always" }}

[tenants.nocache]
models = ["*"]
cache = {{ mode = "off" }}

[tenants.sem]
models = ["*"]
cache = {{ semantic = true }}

[tenants.sem-other]
models = ["*"]
cache = {{ semantic = true }}
"""

TENANTS = (
    "acme",
    "globex",
    "org-shared/a",
    "org-shared/b",
    "per-key",
    "always",
    "nocache",
    "sem",
    "sem-other",
)


@pytest.fixture(scope="module")
def gw(mock_upstream: Proc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayEnv]:
    home = tmp_path_factory.mktemp("cache")
    config = home / "llmgw.toml"
    config.write_text(CONFIG.format(mock=mock_upstream.url.rsplit(":", 1)[1]))
    state = home / "state.db"
    keys = {t: create_key(state, t, "tests") for t in TENANTS}
    keys["per-key#2"] = create_key(state, "per-key", "second")
    proc = start_gateway(home, config, state, env={"LLMGW_TEST_UPSTREAM_KEY": UPSTREAM_KEY})
    yield GatewayEnv(proc, proc.url, state, config, keys)
    proc.stop()


def oai(gw: GatewayEnv, tenant: str = "acme") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.keys[tenant], max_retries=0)


def claude(gw: GatewayEnv, tenant: str = "acme") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=gw.keys[tenant], max_retries=0)


def question() -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question {uuid.uuid4().hex}?"}]


def ask(
    gw: GatewayEnv,
    messages: list[dict[str, Any]],
    tenant: str = "acme",
    model: str = "cached",
    headers: dict[str, str] | None = None,
    **params: Any,
) -> tuple[str, str, str]:
    """``(x-llmgw-cache, content, request id)`` of one plain call."""
    params.setdefault("temperature", 0)
    raw = oai(gw, tenant).chat.completions.with_raw_response.create(
        model=model, messages=messages, extra_headers=headers or {}, **params
    )
    resp = raw.parse()
    return (
        raw.headers["x-llmgw-cache"],
        resp.choices[0].message.content or "",
        raw.headers["x-request-id"],
    )


def upstream_count(mock: Proc, model: str) -> int:
    stats = httpx.get(f"{mock.url}/_mock/stats", timeout=5).json()
    return int(stats["by_model"].get(model, 0))


def entries(state: Path, where: str = "1", params: tuple[Any, ...] = ()) -> int:
    conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    try:
        return int(
            conn.execute(f"SELECT count(*) FROM cache_entries WHERE {where}", params).fetchone()[0]
        )
    finally:
        conn.close()


def settle() -> None:
    time.sleep(0.2)  # the cache writer commits every 50 ms


# -- exact hits ----------------------------------------------------------------------------


def test_repeat_is_an_exact_hit_that_costs_nothing_and_is_audited(gw: GatewayEnv) -> None:
    messages = question()
    status, first, first_id = ask(gw, messages)
    assert status == "miss"
    settle()
    status, again, hit_id = ask(gw, messages)
    assert status == "hit-exact"
    assert again == first
    original = audit_row(gw.state, first_id)
    hit = audit_row(gw.state, hit_id)
    assert original["provider"] == "up" and original["cost_nanos"] > 0
    assert hit["provider"] == "cache" and hit["outcome"] == "ok"
    assert hit["cost_nanos"] == original["cost_nanos"]  # by the ledger's convention: saved
    assert hit["input_tokens"] == hit["output_tokens"] == 0  # nothing was consumed
    attempt = json.loads(hit["attempt_log"])[0]
    assert attempt["kind"] == "exact" and attempt["source_request"] == first_id
    assert attempt["saved_output_tokens"] == original["output_tokens"]


def test_hit_spends_nothing_in_the_ledger(gw: GatewayEnv) -> None:
    messages = question()
    ask(gw, messages, tenant="always")
    settle()
    for _ in range(3):
        assert ask(gw, messages, tenant="always")[0] == "hit-exact"
    time.sleep(0.2)
    out = subprocess.run(
        llmgw_cmd("usage", "--tenant", "always", "--json", "--state", str(gw.state)),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    rows = json.loads(out.stdout)
    assert rows[0]["cache_hits"] >= 3
    per_call = rows[0]["cache_savings_nanos"] // rows[0]["cache_hits"]
    assert rows[0]["spend_nanos"] < rows[0]["cache_savings_nanos"]
    assert per_call > 0


def test_plain_entry_replays_as_a_stream_in_both_formats(gw: GatewayEnv) -> None:
    messages = question()
    status, text, _ = ask(gw, messages, max_tokens=64)
    assert status == "miss"
    settle()
    with oai(gw).chat.completions.with_streaming_response.create(
        model="cached",
        messages=messages,
        temperature=0,
        max_tokens=64,
        stream=True,
        stream_options={"include_usage": True},
    ) as raw:
        assert raw.headers["x-llmgw-cache"] == "hit-exact"
        assert raw.headers["content-type"].startswith("text/event-stream")
        chunks = list(raw.parse())
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) >= 2  # a real stream, not one blob
    assert "".join(pieces) == text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_anthropic_sdk_streams_an_entry_stored_by_an_openai_stream(gw: GatewayEnv) -> None:
    messages = question()
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in oai(gw).chat.completions.create(
            model="cached", messages=messages, temperature=0, max_tokens=80, stream=True
        )
        if c.choices
    )
    settle()
    events = list(
        claude(gw).messages.create(
            model="cached",
            max_tokens=80,
            messages=messages,
            stream=True,
            extra_body={"temperature": 0},
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == streamed
    (delta,) = [e for e in events if e.type == "message_delta"]
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens > 0
    raw = claude(gw).messages.with_raw_response.create(
        model="cached", max_tokens=80, messages=messages, extra_body={"temperature": 0}
    )
    assert raw.headers["x-llmgw-cache"] == "hit-exact"
    assert raw.parse().content[0].text == streamed


# -- scopes: never across tenants ----------------------------------------------------------


def test_no_hit_across_tenants_and_nothing_in_the_headers_tells(
    gw: GatewayEnv, mock_upstream: Proc
) -> None:
    messages = question()
    before = upstream_count(mock_upstream, "cache-isolated")
    assert ask(gw, messages, model="isolated")[0] == "miss"
    settle()
    assert ask(gw, messages, model="isolated")[0] == "hit-exact"
    raw = oai(gw, "globex").chat.completions.with_raw_response.create(
        model="isolated", messages=messages, temperature=0
    )
    assert raw.headers["x-llmgw-cache"] == "miss"
    assert upstream_count(mock_upstream, "cache-isolated") == before + 2
    fresh = oai(gw, "globex").chat.completions.with_raw_response.create(
        model="isolated", messages=question(), temperature=0
    )
    # a question another tenant cached answers exactly like a question nobody asked
    assert set(raw.headers) == set(fresh.headers)
    assert "age" not in raw.headers
    assert audit_row(gw.state, raw.headers["x-request-id"])["provider"] == "up"


def test_org_scope_shares_within_the_org_only(gw: GatewayEnv) -> None:
    messages = question()
    assert ask(gw, messages, tenant="org-shared/a")[0] == "miss"
    settle()
    assert ask(gw, messages, tenant="org-shared/b")[0] == "hit-exact"
    assert ask(gw, messages, tenant="acme")[0] == "miss"


def test_key_scope_does_not_share_between_keys(gw: GatewayEnv) -> None:
    messages = question()
    assert ask(gw, messages, tenant="per-key")[0] == "miss"
    settle()
    assert ask(gw, messages, tenant="per-key")[0] == "hit-exact"
    assert ask(gw, messages, tenant="per-key#2")[0] == "miss"


# -- what is never stored ------------------------------------------------------------------


def test_errors_are_never_stored(gw: GatewayEnv, mock_upstream: Proc) -> None:
    messages = question()
    before = upstream_count(mock_upstream, "broken-400")
    for _ in range(2):
        with pytest.raises(openai.BadRequestError):
            oai(gw).chat.completions.create(model="hard-fail", messages=messages, temperature=0)
    settle()
    assert upstream_count(mock_upstream, "broken-400") == before + 2
    assert entries(gw.state, "model = 'hard-fail'") == 0


def test_a_broken_stream_is_never_stored(gw: GatewayEnv) -> None:
    messages = question()
    for _ in range(2):
        with pytest.raises(openai.APIError):
            for _chunk in oai(gw).chat.completions.create(
                model="cut", messages=messages, temperature=0, stream=True
            ):
                pass
        settle()
    assert entries(gw.state, "model = 'cut'") == 0


def test_an_aborted_stream_is_never_stored(gw: GatewayEnv) -> None:
    messages = question()
    body = {"model": "slow", "messages": messages, "temperature": 0, "stream": True}
    headers = {"authorization": f"Bearer {gw.keys['acme']}"}
    with httpx.stream("POST", f"{gw.url}/v1/chat/completions", json=body, headers=headers) as r:
        assert r.headers["x-llmgw-cache"] == "miss"
        next(r.iter_lines())  # one event, then hang up
    time.sleep(0.5)
    assert entries(gw.state, "model = 'slow'") == 0


def test_tool_call_answers_are_never_stored(gw: GatewayEnv) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "required": ["q"],
            },
        },
    }
    messages = question()
    for _ in range(2):
        raw = oai(gw).chat.completions.with_raw_response.create(
            model="cached", messages=messages, temperature=0, tools=[tool]
        )
        assert raw.parse().choices[0].finish_reason == "tool_calls"
        assert raw.headers["x-llmgw-cache"] == "miss"
        settle()


# -- policy and per-request control --------------------------------------------------------


def test_nondeterministic_calls_bypass_by_default_and_policy_can_cache_them(gw: GatewayEnv) -> None:
    messages = question()
    assert ask(gw, messages, temperature=0.7)[0] == "bypass"
    assert ask(gw, messages, temperature=0.7)[0] == "bypass"
    assert ask(gw, messages, temperature=0.2, seed=7)[0] == "miss"  # a seed is deterministic
    assert ask(gw, messages, tenant="always", temperature=0.7)[0] == "miss"
    settle()
    assert ask(gw, messages, tenant="always", temperature=0.7)[0] == "hit-exact"
    assert ask(gw, messages, tenant="nocache")[0] == "bypass"


def test_every_output_parameter_is_part_of_the_key(gw: GatewayEnv) -> None:
    messages = question()
    assert ask(gw, messages, max_tokens=50)[0] == "miss"
    settle()
    assert ask(gw, messages, max_tokens=50)[0] == "hit-exact"
    assert ask(gw, messages, max_tokens=51)[0] == "miss"
    assert ask(gw, messages, max_tokens=50, stop=["x"])[0] == "miss"
    assert ask(gw, messages, max_tokens=50, top_p=0.5)[0] == "miss"
    system = [{"role": "system", "content": "Be brief."}, *messages]
    assert ask(gw, system, max_tokens=50)[0] == "miss"


def test_cache_control_headers(gw: GatewayEnv) -> None:
    messages = question()
    assert ask(gw, messages, headers={"cache-control": "no-store"})[0] == "miss"
    settle()
    assert ask(gw, messages, headers={"cache-control": "no-store"})[0] == "miss"  # not stored
    assert ask(gw, messages)[0] == "miss"
    settle()
    assert ask(gw, messages, headers={"cache-control": "no-cache"})[0] == "miss"  # not read
    assert ask(gw, messages, headers={"cache-control": "no-store"})[0] == "hit-exact"
    assert ask(gw, messages, headers={"x-llmgw-cache": "bypass"})[0] == "bypass"


def test_ttl_header_expires_the_entry(gw: GatewayEnv) -> None:
    messages = question()
    assert ask(gw, messages, headers={"x-llmgw-cache-ttl": "1"})[0] == "miss"
    settle()
    assert ask(gw, messages)[0] == "hit-exact"
    time.sleep(1.2)
    assert ask(gw, messages)[0] == "miss"


def test_bad_cache_headers_are_clear_errors_in_the_callers_format(gw: GatewayEnv) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        ask(gw, question(), headers={"x-llmgw-cache-ttl": "soon"})
    assert "x-llmgw-cache-ttl" in str(info.value)
    with pytest.raises(anthropic.BadRequestError) as ainfo:
        claude(gw).messages.create(
            model="cached",
            max_tokens=10,
            messages=question(),
            extra_headers={"x-llmgw-cache": "sometimes"},
        )
    assert ainfo.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "sometimes" in str(ainfo.value)


# -- flagging, purging, stats --------------------------------------------------------------


def test_tenant_flags_a_bad_hit_and_it_is_gone(gw: GatewayEnv) -> None:
    messages = question()
    ask(gw, messages)
    settle()
    status, _, hit_id = ask(gw, messages)
    assert status == "hit-exact"
    url = f"{gw.url}/v1/cache/flag"
    other = httpx.post(
        url, json={"request_id": hit_id}, headers={"authorization": f"Bearer {gw.keys['globex']}"}
    )
    assert other.status_code == 404  # another tenant cannot flag (or learn about) it
    assert other.json()["error"]["code"] == "hit_not_found"
    mine = httpx.post(
        url, json={"request_id": hit_id}, headers={"authorization": f"Bearer {gw.keys['acme']}"}
    )
    assert mine.status_code == 200, mine.text
    assert mine.json() == {"request_id": hit_id, "flagged": True, "entry_removed": True}
    assert ask(gw, messages)[0] == "miss"
    bad = httpx.post(url, json={"id": 1}, headers={"authorization": f"Bearer {gw.keys['acme']}"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "request_id"


def test_cli_stats_and_purge(gw: GatewayEnv) -> None:
    messages = question()
    ask(gw, messages, tenant="globex")
    settle()
    assert ask(gw, messages, tenant="globex")[0] == "hit-exact"
    settle()
    out = subprocess.run(
        llmgw_cmd("cache", "stats", "--tenant", "globex", "--json", "--state", str(gw.state)),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    (row,) = json.loads(out.stdout)
    assert row["tenant"] == "globex" and row["hit_exact"] >= 1 and row["miss"] >= 1
    assert row["saved_nanos"] > 0 and row["entries"] >= 1
    out = subprocess.run(
        llmgw_cmd("cache", "purge", "--tenant", "globex", "--state", str(gw.state)),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert "purged" in out.stdout
    assert entries(gw.state, "tenant = 'globex'") == 0
    assert ask(gw, messages, tenant="globex")[0] == "miss"
    assert entries(gw.state, "tenant = 'acme'") > 0  # other tenants keep theirs
    bad = subprocess.run(
        llmgw_cmd("cache", "purge", "--tenant", "Not A Tenant", "--state", str(gw.state)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


# -- semantic hits -------------------------------------------------------------------------


def conversation(question_text: str) -> list[dict[str, str]]:
    """A question under a system prompt no other test uses: its own semantic partition."""
    return [
        {"role": "system", "content": f"You are support agent {uuid.uuid4().hex}."},
        {"role": "user", "content": question_text},
    ]


def test_a_paraphrase_is_a_semantic_hit_plain_and_streamed(gw: GatewayEnv) -> None:
    asked = conversation("How do I reset my password?")
    status, text, first_id = ask(gw, asked, tenant="sem")
    assert status == "miss"
    settle()
    rephrased = [asked[0], {"role": "user", "content": "How can I reset my password?"}]
    status, again, hit_id = ask(gw, rephrased, tenant="sem")
    assert status == "hit-semantic"
    assert again == text
    attempt = json.loads(audit_row(gw.state, hit_id)["attempt_log"])[0]
    assert attempt["kind"] == "semantic" and attempt["source_request"] == first_id
    assert attempt["similarity"] > 0.9
    with oai(gw, "sem").chat.completions.with_streaming_response.create(
        model="cached", messages=rephrased, temperature=0, stream=True
    ) as raw:
        assert raw.headers["x-llmgw-cache"] in ("hit-semantic", "hit-exact")
        streamed = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert streamed == text


def test_negation_is_never_answered_by_the_positive_question(gw: GatewayEnv) -> None:
    asked = conversation("Can I take ibuprofen with alcohol?")
    assert ask(gw, asked, tenant="sem")[0] == "miss"
    settle()
    negated = [asked[0], {"role": "user", "content": "Can I not take ibuprofen with alcohol?"}]
    assert ask(gw, negated, tenant="sem")[0] == "miss"


def test_entities_must_agree(gw: GatewayEnv) -> None:
    asked = conversation("What is the weather forecast for Paris tomorrow?")
    assert ask(gw, asked, tenant="sem")[0] == "miss"
    settle()
    for other in (
        "What is the weather forecast for London tomorrow?",
        "What is the weather forecast for Paris on Friday?",
    ):
        assert ask(gw, [asked[0], {"role": "user", "content": other}], tenant="sem")[0] == "miss"


def test_semantic_needs_the_same_context_scope_and_opt_in(gw: GatewayEnv) -> None:
    asked = conversation("How do I change my email address?")
    assert ask(gw, asked, tenant="sem")[0] == "miss"
    settle()
    rephrased = "How can I change my email address?"
    other_system = [
        {"role": "system", "content": "Another prompt."},
        {"role": "user", "content": rephrased},
    ]
    assert ask(gw, other_system, tenant="sem")[0] == "miss"
    same = [asked[0], {"role": "user", "content": rephrased}]
    assert ask(gw, same, tenant="sem-other")[0] == "miss"  # another tenant: never
    opt_out = {"x-llmgw-cache": "no-semantic", "cache-control": "no-store"}
    assert ask(gw, same, tenant="sem", headers=opt_out)[0] == "miss"
    assert ask(gw, same, tenant="sem")[0] == "hit-semantic"


def test_a_flagged_semantic_hit_is_not_served_again(gw: GatewayEnv) -> None:
    asked = conversation("How do I delete my account?")
    ask(gw, asked, tenant="sem")
    settle()
    rephrased = [asked[0], {"role": "user", "content": "How can I delete my account?"}]
    status, _, hit_id = ask(gw, rephrased, tenant="sem")
    assert status == "hit-semantic"
    flagged = httpx.post(
        f"{gw.url}/v1/cache/flag",
        json={"request_id": hit_id},
        headers={"authorization": f"Bearer {gw.keys['sem']}"},
    )
    assert flagged.status_code == 200 and flagged.json()["entry_removed"] is True
    assert ask(gw, rephrased, tenant="sem")[0] == "miss"
