"""What a JSON body may be, checked once right after parsing: every inbound route uses this.

* **Nesting**: at most ``MAX_DEPTH`` (400) levels of arrays and objects, the body itself being
  level 1. Deeper bodies are a 400 (``code: nesting_too_deep``) before anything else looks at
  them, so nothing downstream (cache keys, provider encoding, token counting, the audit row,
  redaction) meets a value deeper than the encoders and the interpreter's recursion limit can
  take: orjson encodes 254 levels, and ``llmgw.jsontext.dumps`` falls back to the standard
  library for the 255 to 400 in between. The parser itself (orjson) stops at 1024 levels.
* **Integers**: a field that takes an integer takes a signed 64-bit one (``int64``); larger
  ones (2^63 and up, which orjson returns as exact ints up to 2^64 and as floats beyond) are a
  400 naming the field (``in_int64``); token counts are bounded by ``MAX_TOKENS``.

The check is an iterative walk (``llmgw.jsontext.deeper_than``), under 1 µs per array or
object and nothing per string or number. Bodies up to 64 KiB with no more than 400 brackets in
all (most requests) are not walked: counting them takes a few µs. Measured (best of 5, load
average 10 on 2 cores): a 1.4 KB request parses in 3.4 µs and ``parse_body`` adds 2.9 µs (the
walk alone would add 12 µs); a 1.2 MB body of 2,000 messages parses in 1.9 ms, plus 0.7 ms.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgw.errors import BadRequest
from llmgw.jsontext import deeper_than

MAX_DEPTH = 400
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# The most tokens a request may ask for (max_tokens and friends): far above any model's
# output limit, far below the point where tokens times a price leaves 64 bits.
MAX_TOKENS = 2**31 - 1
# Bodies up to this size are first counted for brackets (a few µs), which spares most of them
# the walk; in larger ones counting costs more than it saves.
_COUNT_BELOW = 64 * 1024


class TooDeep(BadRequest):
    code = "nesting_too_deep"


def parse_body(raw: bytes | str, what: str = "request body") -> Any:
    """The JSON value of ``raw``; ``BadRequest`` when it is not JSON (invalid UTF-8, lone
    surrogates, NaN literals...) or nests deeper than ``MAX_DEPTH``."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():  # past orjson's 1024
            raise too_deep(what) from None
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    if len(raw) > _COUNT_BELOW or _brackets(raw) > MAX_DEPTH:  # else it cannot be that deep
        check_depth(value, what)
    return value


def _brackets(raw: bytes | str) -> int:
    """How many arrays and objects ``raw`` can open at most (brackets inside strings count)."""
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{")
    return raw.count(b"[") + raw.count(b"{")


def check_depth(value: Any, what: str = "request body") -> None:
    """``TooDeep`` when ``value`` nests deeper than ``MAX_DEPTH``."""
    if deeper_than(value, MAX_DEPTH):
        raise too_deep(what)


def too_deep(what: str) -> TooDeep:
    return TooDeep(f"{what} is nested too deeply: at most {MAX_DEPTH} levels of arrays and objects")


def is_int64(value: Any) -> bool:
    """An integer (not a bool) that fits in a signed 64-bit integer."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
    )


def shown(value: Any, width: int = 40) -> str:
    """``value`` for an error message: a string or number as JSON-ish text cut to ``width``,
    anything else by its JSON type. Never the text of a caller's whole array or object."""
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, int) and value.bit_length() > 128:
        return "a huge integer"
    text = repr(value) if isinstance(value, str | int | float) else type(value).__name__
    return text if len(text) <= width else text[: width - 4] + "...'"


def one_of(value: Any, choices: frozenset[str]) -> bool:
    """``value in choices`` for a value of any JSON type (a list is unhashable: ``in`` on a set
    would raise ``TypeError``)."""
    return isinstance(value, str) and value in choices


def loads_bounded(text: str | bytes) -> Any:
    """JSON text carried inside a request or an answer (tool-call arguments, a tool result)
    decoded; ``ValueError`` when it is not JSON or nests deeper than ``MAX_DEPTH`` (such a
    value could not be encoded again)."""
    value = orjson.loads(text)  # orjson.JSONDecodeError is a ValueError
    if deeper_than(value, MAX_DEPTH):
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return value
