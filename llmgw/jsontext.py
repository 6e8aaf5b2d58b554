"""JSON text that every value decoded from a request can be turned back into (pure).

orjson is the gateway's encoder, but it refuses two things a caller can send: values nested
deeper than 254 levels and integers beyond 64 bits. ``dumps`` tries orjson and falls back to
the standard library's encoder for exactly those, so hashing a request for the cache, encoding
it for a provider, counting its tools' tokens or echoing a tool call back never fails on them.

The fallback is the C encoder of ``json``: it takes one interpreter recursion level per
container, so it handles the 400 levels a request may have (``llmgw.wire.limits.MAX_DEPTH``)
with the default recursion limit of 1000 and several hundred frames of call stack to spare
(measured: 500 levels of objects or arrays under 200 frames of callers still encode). Its
output has the same shape as orjson's (compact separators, UTF-8, sorted keys on request), so a
value that only the fallback can encode still gets one stable encoding.

``deeper_than`` measures nesting without recursion, for checks on values of any depth.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_SORTED = orjson.OPT_SORT_KEYS


def dumps(value: Any, *, sort_keys: bool = False) -> bytes:
    """``value`` as compact UTF-8 JSON; deep nesting and big integers included."""
    try:
        return orjson.dumps(value, option=_SORTED if sort_keys else None)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
        return text.encode("utf-8", "replace")  # a lone surrogate (never from orjson.loads)


def dumps_text(value: Any, *, sort_keys: bool = False) -> str:
    """``dumps`` as a ``str``."""
    try:
        return orjson.dumps(value, option=_SORTED if sort_keys else None).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)


def deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (as a JSON parser returns it: plain dicts and lists) has more than
    ``limit`` levels of arrays and objects, the outermost being level 1. Iterative: it visits
    each container once and never recurses (about 1 µs per container)."""
    kind = type(value)
    if kind is not dict and kind is not list:
        return False
    if limit < 1:
        return True
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        container, depth = pop()
        for child in container.values() if type(container) is dict else container:
            kind = type(child)
            if kind is dict or kind is list:
                if depth >= limit:
                    return True
                push((child, depth + 1))
    return False
