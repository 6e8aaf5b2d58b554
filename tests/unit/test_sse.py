"""The SSE parser: every way a byte stream can be split must give the same events."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmgw.wire.sse import SseEvent, SseParser, format_event

STREAM = (
    b": keep-alive comment\n\n"
    b'event: message_start\ndata: {"a": 1}\n\n'
    b"data: line one\ndata: line two\n\n"
    b"event: ping\r\ndata: {}\r\n\r\n"
    b"data: caf\xc3\xa9\n\n"
    b"data: [DONE]\n\n"
)
EXPECTED = [
    SseEvent("message_start", '{"a": 1}'),
    SseEvent(None, "line one\nline two"),
    SseEvent("ping", "{}"),
    SseEvent(None, "café"),
    SseEvent(None, "[DONE]"),
]


def parse_in_pieces(data: bytes, cuts: list[int]) -> list[SseEvent]:
    parser = SseParser()
    out: list[SseEvent] = []
    last = 0
    for cut in sorted(set(cuts)):
        out += parser.feed(data[last:cut])
        last = cut
    out += parser.feed(data[last:])
    return out + parser.close()


def test_whole_stream() -> None:
    assert parse_in_pieces(STREAM, []) == EXPECTED


def test_byte_by_byte() -> None:
    assert parse_in_pieces(STREAM, list(range(len(STREAM)))) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_any_split(cuts: list[int]) -> None:
    assert parse_in_pieces(STREAM, cuts) == EXPECTED


def test_lone_cr_line_endings_and_space_after_colon() -> None:
    assert parse_in_pieces(b"event:x\rdata:y\r\r", []) == [SseEvent("x", "y")]


def test_unterminated_final_event_is_delivered_on_close() -> None:
    parser = SseParser()
    assert parser.feed(b"data: tail") == []
    assert parser.close() == [SseEvent(None, "tail")]


def test_format_round_trip() -> None:
    data = format_event(b'{"k":1}', "content_block_delta") + format_event('{"k":2}')
    assert parse_in_pieces(data, []) == [
        SseEvent("content_block_delta", '{"k":1}'),
        SseEvent(None, '{"k":2}'),
    ]


def test_pending_lines_without_blank_line_on_close() -> None:
    parser = SseParser()
    assert parser.feed(b"event: e\ndata: a\ndata: b") == []
    assert parser.close() == [SseEvent("e", "a\nb")]
