"""Fault specs: parsing, validation and selection (pure)."""

from __future__ import annotations

import random

import pytest

from llmgw.mock.faults import FAULT_KINDS, Fault, FaultTable, parse_fault
from llmgw.mock.wire_faults import context_length_error, drop_terminal, fault_error


def test_parse_examples() -> None:
    assert parse_fault("gpt-4o=status:503") == Fault("status", "gpt-4o", status=503)
    assert parse_fault("*=rate_limit,retry_after=2") == Fault("rate_limit", "*", retry_after=2.0)
    assert parse_fault("m1=cut,after_tokens=5") == Fault("cut", "m1", after_tokens=5)
    assert parse_fault("m1=status:500,probability=0.3") == Fault(
        "status", "m1", status=500, probability=0.3
    )
    assert parse_fault("m1=reset,count=3") == Fault("reset", "m1", count=3)
    assert parse_fault("m1=stall:2,after_tokens=1").seconds == 2.0
    assert parse_fault("m1=cut:4").after_tokens == 4
    # model names may carry colons (ollama style)
    assert parse_fault("llama3:8b=no_done").model == "llama3:8b"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("status:503", "MODEL=KIND"),
        ("m=", "MODEL=KIND"),
        ("m=explode", "unknown kind"),
        ("m=status", "needs a status"),
        ("m=status:abc", "integer"),
        ("m=status:700", "100..599"),
        ("m=reset:3", "takes no :ARG"),
        ("m=cut,after_tokens", "key=value"),
        ("m=cut,colour=red", "unknown option"),
        ("m=cut,probability=1.5", "0..1"),
        ("m=reset,count=0", "at least 1"),
        ("m=stall,seconds=-1", "negative"),
    ],
)
def test_bad_specs_raise_clear_value_errors(spec: str, needle: str) -> None:
    with pytest.raises(ValueError, match="bad fault") as info:
        parse_fault(spec)
    assert needle in str(info.value)


def test_from_dict_round_trip_and_errors() -> None:
    fault = Fault("rate_limit", "m", retry_after=1.5, count=2)
    assert Fault.from_dict(fault.to_dict()) == fault
    assert Fault.from_dict({"kind": "status", "status": "502"}).status == 502
    for bad in ({"model": "m"}, {"kind": "cut", "extra": 1}, {"kind": 3}, [1]):
        with pytest.raises(ValueError):
            Fault.from_dict(bad)
    with pytest.raises(ValueError):
        Fault.from_dict({"kind": "status", "status": 5.5})


def test_defaults() -> None:
    assert Fault("rate_limit").http_status == 429
    assert Fault("rate_limit").retry_after_s == 1.0
    assert Fault("context_length").http_status == 400
    assert Fault("no_response").wait_s == 300.0
    assert Fault("no_response", seconds=0.5).wait_s == 0.5
    assert set(FAULT_KINDS) >= {"status", "reset", "no_done", "content_filter"}


def test_exact_model_beats_star() -> None:
    table = FaultTable([Fault("reset", "*"), Fault("status", "m1", status=503)])
    picked = table.pick("m1")
    assert picked is not None and picked.kind == "status"
    other = table.pick("m2")
    assert other is not None and other.kind == "reset"
    assert table.fired == {"status": 1, "reset": 1}


def test_no_fault_when_nothing_matches() -> None:
    table = FaultTable([Fault("reset", "m1")])
    assert table.pick("m2") is None
    assert FaultTable().pick("m1") is None


def test_count_decrements_then_next_fault_for_the_model() -> None:
    table = FaultTable([parse_fault("m=reset,count=2"), parse_fault("m=status:500")])
    kinds = [getattr(table.pick("m"), "kind", None) for _ in range(4)]
    assert kinds == ["reset", "reset", "status", "status"]
    assert len(table) == 1
    assert table.faults()[0]["remaining"] is None


def test_probability_uses_injected_random() -> None:
    def fires(seed: int) -> list[bool]:
        table = FaultTable([parse_fault("m=status:500,probability=0.3")], random.Random(seed))
        return [table.pick("m") is not None for _ in range(1000)]

    first = fires(7)
    assert first == fires(7)  # reproducible
    assert 230 <= sum(first) <= 370  # about 30 %
    never = FaultTable([parse_fault("m=reset,probability=0")], random.Random(1))
    assert all(never.pick("m") is None for _ in range(50))


def test_probability_miss_does_not_use_up_count() -> None:
    table = FaultTable([parse_fault("m=reset,probability=0.5,count=1")], random.Random(3))
    hits = [table.pick("m") is not None for _ in range(50)]
    assert sum(hits) == 1


def test_clear_all_or_one_model() -> None:
    table = FaultTable([Fault("reset", "a"), Fault("reset", "b"), Fault("cut", "b")])
    assert table.clear("b") == 2
    assert [f["model"] for f in table.faults()] == ["a"]
    assert table.clear() == 1 and len(table) == 0


def test_context_length_bodies_per_provider() -> None:
    assert "prompt is too long: " in context_length_error("anthropic", 10).message
    assert "maximum 200000" not in context_length_error("anthropic", 10).message
    assert context_length_error("anthropic", 10).message.endswith("> 200000 maximum")
    gem = context_length_error("gemini", 10).message
    assert gem.startswith("The input token count (") and "allowed (1048575)." in gem
    oa = context_length_error("openai", 10)
    assert oa.code == "context_length_exceeded" and oa.status == 400
    err = fault_error(Fault("status", status=418), "openai", 1)
    assert err is not None and err.status == 418
    assert fault_error(Fault("cut"), "openai", 1) is None


def test_drop_terminal_per_format() -> None:
    assert drop_terminal("openai", b'data: {"u":1}\n\ndata: [DONE]\n\n') == b'data: {"u":1}\n\n'
    tail = (
        b'event: message_delta\ndata: {}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    assert drop_terminal("anthropic", tail) == b"event: message_delta\ndata: {}\n\n"
    gem = b'data: {"candidates":[{"finishReason":"STOP","index":0}],"usageMetadata":{}}\n\n'
    out = drop_terminal("gemini", gem)
    assert b"finishReason" not in out and b"usageMetadata" in out


def test_stream_faults_strike_before_token_n_or_at_the_finish() -> None:
    cut = Fault("cut", after_tokens=5)
    assert not cut.strikes_now(token=True, tokens_sent=3)
    assert cut.strikes_now(token=True, tokens_sent=5)
    assert cut.strikes_now(token=False, tokens_sent=3)  # a 3-token answer is cut at its end
    assert not cut.strikes_now(token=False, tokens_sent=6)
    assert Fault("malformed").strikes_now(token=True, tokens_sent=0)
