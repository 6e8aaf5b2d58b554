"""Property-based fuzzing of every body a client or an operator can send, in process.

Thousands of generated bodies (``fuzz_bodies``: valid-ish requests with mutated fields, deep
nesting up to 1,100 levels, huge integers, NaN / Infinity literals, lone surrogates, long
strings, duplicate keys, invalid UTF-8, non-object bodies; with and without ``stream``, with
tools and images) go to ``/v1/chat/completions``, ``/v1/messages``, ``/v1/cache/flag`` and
every POST route of the admin API of one real gateway (``Harness``): the cache on for tenant
``acme`` (every call hashed), bodies redacted for ``globex``, HTTP providers in all three
formats (a fake upstream that answers with the mock engine through the real codecs) and the
built-in mock provider. For every body:

* the status is below 500 and the body is JSON (or an event stream of JSON events) in the
  caller's error shape when it is an error;
* nothing is logged at ERROR by any ``llmgw`` logger (a traceback would be);
* every count the attempt loop takes is back to zero (``Harness.counters``);

and at the end every chat call left exactly one audit row.

In CI the runs are derandomized (a fixed seed, no example database) with ``max_examples``
sized to stay near 60 s on two cores. For a longer local run with fresh random inputs, set
``LLMGW_FUZZ`` to the number of examples per test::

    LLMGW_FUZZ=20000 PYTHONPATH=$PWD python3 -m pytest -q -p no:cacheprovider \\
        tests/pipeline/test_fuzz.py
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmgw.errors import GatewayError
from llmgw.jsontext import dumps
from llmgw.providers.mock_engine import MockEngine, answer_chunks
from llmgw.providers.mock_transport import MockRequest, MockResponse
from llmgw.types import StreamMeta
from llmgw.wire.gemini import CODEC as GEMINI
from llmgw.wire.registry import FORMATS
from tests.pipeline import fuzz_bodies as fb
from tests.pipeline.harness import ZERO, Harness, Reply

ADMIN_KEY = "fuzz-admin-key"
LOCAL = int(os.environ.get("LLMGW_FUZZ", "0"))


def runs(ci_examples: int) -> Any:
    """Hypothesis settings: ``ci_examples`` derandomized, or ``LLMGW_FUZZ`` random ones."""
    return settings(
        max_examples=LOCAL or ci_examples,
        derandomize=not LOCAL,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


ENGINE = MockEngine()


def upstream(request: MockRequest) -> MockResponse:
    """A provider in the request's format: the mock engine's answer through the real codec."""
    path = request.url.split("?")[0]
    gemini = ":generateContent" in path or ":streamGenerateContent" in path
    fmt = "gemini" if gemini else "anthropic" if path.endswith("/messages") else "openai"
    codec = FORMATS[fmt]
    try:
        body = orjson.loads(request.body)
        if gemini:
            req = GEMINI.decode_request(body, path.split("/models/")[1].split(":")[0])
            req.stream = request.streamed
        else:
            req = codec.decode_request(body)
    except GatewayError as err:  # a real provider rejects what it cannot read
        status, payload = codec.encode_error(err)
        return MockResponse.json(payload, status)
    answer = ENGINE.answer(req)
    if not request.streamed:
        resp = ENGINE.to_response(answer, req.model, "up-1", 1)
        return MockResponse(
            200, {"content-type": "application/json"}, dumps(codec.encode_response(resp))
        )
    encoder = codec.StreamEncoder(StreamMeta("up-1", req.model, 1, answer.usage.input_tokens), True)
    pieces = [encoder.start(), *(encoder.feed(c) for c in answer_chunks(answer)), encoder.finish()]
    return MockResponse(200, {"content-type": "text/event-stream"}, [p for p in pieces if p])


CONFIG: dict[str, Any] = {
    "providers": {
        "a": {"kind": "openai", "base_url": "http://upstream.invalid/v1"},
        "c": {"kind": "anthropic", "base_url": "http://upstream.invalid"},
        "g": {"kind": "gemini", "base_url": "http://upstream.invalid"},
        "m": {"kind": "mock"},
    },
    "models": {
        "chat": {"deployments": [{"provider": "a", "model": "up-a"}]},
        "claude": {"deployments": [{"provider": "c", "model": "claude-up"}]},
        "local": {"deployments": [{"provider": "m", "model": "mock-small"}]},
        "gem": {"deployments": [{"provider": "g", "model": "gemini-up"}]},
    },
    "tenants": {
        "acme": {
            "models": ["*"],
            "cache": {"mode": "always"},
            "limits": {"budgets": [{"period": "day", "limit_usd": "1000000"}]},
        },
        "globex": {"models": ["*"], "retention": "redacted", "cache": {"mode": "off"}},
    },
    "pricing": [
        {"model": m, "provider": p, "input_per_mtok": "1.00", "output_per_mtok": "4.00"}
        for m, p in (("up-a", "openai"), ("claude-up", "anthropic"), ("gemini-up", "gemini"))
    ],
}


class Errors(logging.Handler):
    """Every record at ERROR or above from the ``llmgw`` loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        out = [f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in self.records]
        self.records.clear()
        return out


class Fuzz:
    """One started gateway on a private event loop, driven from synchronous Hypothesis tests."""

    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.errors = Errors()
        self.chat_calls = 0

        async def build() -> Harness:
            h = Harness(tmp, CONFIG, upstream, admin_key=ADMIN_KEY)
            return await h.__aenter__()

        self.h = self.loop.run_until_complete(build())
        self.logger = logging.getLogger("llmgw")
        self.logger.addHandler(self.errors)

    def send(self, path: str, body: bytes, key: str, method: str = "POST") -> Reply:
        coro = self.h.chat(body, path=path, key=key, method=method)
        return self.loop.run_until_complete(asyncio.wait_for(coro, 30))

    def close(self) -> None:
        self.logger.removeHandler(self.errors)
        self.loop.run_until_complete(self.h.__aexit__())
        self.loop.close()


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    f = Fuzz(tmp_path_factory.mktemp("fuzz"))
    yield f
    f.close()


def check(f: Fuzz, reply: Reply, api: str, what: bytes) -> None:
    """The invariants every answer keeps, whatever was sent."""
    shown = what[:200]
    assert reply.status < 500, (reply.status, reply.body[:500], shown)
    if reply.headers.get("content-type", "").startswith("text/event-stream"):
        assert reply.status == 200
        events = reply.events()  # each data payload is JSON (or [DONE])
        assert events, shown
    else:
        data = orjson.loads(reply.body)
        if reply.status >= 400:
            assert_error_shape(data, api)
    assert f.errors.take() == [], shown
    assert f.h.counters() == ZERO, shown


def assert_error_shape(data: Any, api: str) -> None:
    if api == "anthropic":
        assert data["type"] == "error", data
        assert isinstance(data["error"]["type"], str) and isinstance(data["error"]["message"], str)
    else:
        err = data["error"]
        assert isinstance(err["message"], str) and isinstance(err["type"], str), data
        assert "code" in err and "param" in err, data


KEYS = st.sampled_from(["acme", "globex"])


@runs(900)
@given(body=fb.bodies(fb.openai_body), tenant=KEYS)
def test_openai_bodies(fuzz: Fuzz, body: bytes, tenant: str) -> None:
    key = fuzz.h.key if tenant == "acme" else fuzz.h.other_key
    fuzz.chat_calls += 1
    check(fuzz, fuzz.send("/v1/chat/completions", body, key), "openai", body)


@runs(900)
@given(body=fb.bodies(fb.anthropic_body), tenant=KEYS)
def test_anthropic_bodies(fuzz: Fuzz, body: bytes, tenant: str) -> None:
    key = fuzz.h.key if tenant == "acme" else fuzz.h.other_key
    fuzz.chat_calls += 1
    check(fuzz, fuzz.send("/v1/messages", body, key), "anthropic", body)


@runs(150)
@given(body=fb.mutated(st.fixed_dictionaries({"request_id": st.just("req_0123")})))
def test_cache_flag_bodies(fuzz: Fuzz, body: bytes) -> None:
    check(fuzz, fuzz.send("/v1/cache/flag", body, fuzz.h.key), "openai", body)


ADMIN_ROUTES = {
    "/admin/faults": fb.admin_fault,
    "/admin/breakers/a/up-a": fb.admin_breaker,
    "/admin/budgets/acme": fb.admin_budget,
}


@runs(450)
@given(route=st.sampled_from(sorted(ADMIN_ROUTES)), data=st.data())
def test_admin_bodies(fuzz: Fuzz, route: str, data: st.DataObject) -> None:
    body = data.draw(fb.bodies(ADMIN_ROUTES[route]))
    try:
        reply = fuzz.send(route, body, ADMIN_KEY)
        check(fuzz, reply, "openai", body)
        if reply.status >= 400:  # refused: changed nothing
            assert faults(fuzz) == [], body[:200]
    finally:  # leave no fault, forced breaker or budget behind for the chat tests
        fuzz.send("/admin/faults", b"", ADMIN_KEY, method="DELETE")
        fuzz.send("/admin/breakers/a/up-a", b'{"force":null}', ADMIN_KEY)
        fuzz.send("/admin/budgets/acme", b"", ADMIN_KEY, method="DELETE")
    assert faults(fuzz) == []


def faults(fuzz: Fuzz) -> Any:
    return orjson.loads(fuzz.send("/admin/faults", b"", ADMIN_KEY, method="GET").body)["faults"]


def test_every_chat_call_left_one_audit_row(fuzz: Fuzz) -> None:
    """Runs after the fuzz tests above (file order): rejected or not, one row per call."""
    deadline = time.monotonic() + 30
    rows = fuzz.loop.run_until_complete(fuzz.h.rows())
    while len(rows) < fuzz.chat_calls and time.monotonic() < deadline:
        rows = fuzz.loop.run_until_complete(fuzz.h.rows())
    assert len(rows) == fuzz.chat_calls
    assert fuzz.errors.take() == []
