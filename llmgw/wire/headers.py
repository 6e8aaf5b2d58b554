"""HTTP response headers the codecs read: a case-insensitive lookup and ``Retry-After``.

Shared by the OpenAI and Anthropic codecs (both providers send ``retry-after``; OpenAI also
``retry-after-ms``). Pure: the current time is only read when no ``now`` is given.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header ``name`` (lower-case), whatever case the mapping's keys use."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, val in headers.items():
        if key.lower() == name:
            return val
    return None


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    ms = header(headers, "retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)
