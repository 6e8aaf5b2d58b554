"""Fault specs for the mock provider: what goes wrong, for which model, how often (pure).

A ``Fault`` names one failure; a ``FaultTable`` holds the active ones and picks, per request, the
fault for a model. The CLI form (``llmgw mock serve --fault``) is ``MODEL=KIND[:ARG][,key=value]``::

    gpt-4o=status:503              every gpt-4o call answers 503
    *=rate_limit,retry_after=2     every call answers 429 with Retry-After: 2
    m1=cut,after_tokens=5          m1 streams are cut after 5 tokens
    m1=status:500,probability=0.3  30 % of m1 calls answer 500
    m1=reset,count=3               the next 3 m1 calls get a TCP reset

Kinds and what ``:ARG`` sets for each:

==============  ==============  ==========================================================
kind            ARG             effect
==============  ==============  ==========================================================
status          status          that HTTP status with the format's error body
rate_limit      retry_after     429 with a ``Retry-After`` header
reset           -               TCP connection reset before any response
no_response     seconds         accept the request, never answer (for ``seconds``, 300)
stall           seconds         stream pauses ``seconds`` after ``after_tokens`` tokens
cut             after_tokens    connection closed after ``after_tokens`` tokens
malformed       after_tokens    a chunk of invalid JSON after ``after_tokens`` tokens
no_done         -               stream without its terminal event
context_length  -               400 with the provider's context-length error body
content_filter  -               200 answer finished by the provider's content filter
echo_auth       status          that status (401) quoting the request's credential headers
==============  ==============  ==========================================================

``echo_auth`` acts like a provider that repeats the key it was sent in its error text
(``Incorrect API key provided: authorization: Bearer sk-…``): the gateway must not relay it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Any

FAULT_KINDS: tuple[str, ...] = (
    "status",
    "rate_limit",
    "reset",
    "no_response",
    "stall",
    "cut",
    "malformed",
    "no_done",
    "context_length",
    "content_filter",
    "echo_auth",
)
STREAM_KINDS: frozenset[str] = frozenset({"stall", "cut", "malformed", "no_done"})
DEFAULT_NO_RESPONSE_S = 300.0
DEFAULT_STALL_S = 5.0
DEFAULT_RETRY_AFTER_S = 1.0
# Upper bounds: a fault acts within a day and a billion tokens (and stays a 64-bit number).
MAX_FAULT_SECONDS = 24 * 3600.0
MAX_FAULT_COUNT = 10**9

# What ``KIND:ARG`` sets.
_ARG_FIELD: dict[str, str] = {
    "status": "status",
    "echo_auth": "status",
    "rate_limit": "retry_after",
    "no_response": "seconds",
    "stall": "seconds",
    "cut": "after_tokens",
    "malformed": "after_tokens",
}
_INT_FIELDS = frozenset({"status", "after_tokens", "count"})
_FLOAT_FIELDS = frozenset({"retry_after", "seconds", "probability"})


@dataclass(slots=True, frozen=True)
class Fault:
    """One failure to inject for ``model`` (``"*"`` = every model). Validated on creation."""

    kind: str
    model: str = "*"
    status: int | None = None
    retry_after: float | None = None
    after_tokens: int | None = None
    seconds: float | None = None
    probability: float = 1.0
    count: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {_short(self.kind)} (one of {', '.join(FAULT_KINDS)})"
            )
        if not self.model:
            raise ValueError("fault model must not be empty (use * for every model)")
        if self.kind == "status" and self.status is None:
            raise ValueError("a status fault needs a status, e.g. status:503")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"fault status must be 100..599, got {_short(self.status)}")
        for name in ("retry_after", "seconds"):
            value = getattr(self, name)
            if value is not None and not value >= 0:  # NaN too
                raise ValueError(f"fault {name} must not be negative, got {value}")
            if value is not None and value > MAX_FAULT_SECONDS:
                raise ValueError(
                    f"fault {name} must be at most {MAX_FAULT_SECONDS:g} seconds, got {value:g}"
                )
        if self.after_tokens is not None and self.after_tokens < 0:
            raise ValueError(f"fault after_tokens must not be negative, got {self.after_tokens}")
        if self.after_tokens is not None and self.after_tokens > MAX_FAULT_COUNT:
            raise ValueError(
                f"fault after_tokens must be at most {MAX_FAULT_COUNT}, "
                f"got {_short(self.after_tokens)}"
            )
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"fault probability must be 0..1, got {self.probability}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"fault count must be at least 1, got {self.count}")
        if self.count is not None and self.count > MAX_FAULT_COUNT:
            raise ValueError(
                f"fault count must be at most {MAX_FAULT_COUNT}, got {_short(self.count)}"
            )

    @property
    def http_status(self) -> int:
        """The status an error-answering fault sends."""
        if self.kind == "rate_limit":
            return 429
        if self.kind == "context_length":
            return 400
        if self.kind == "echo_auth":
            return self.status or 401
        return self.status or 500

    @property
    def retry_after_s(self) -> float:
        return DEFAULT_RETRY_AFTER_S if self.retry_after is None else self.retry_after

    @property
    def wait_s(self) -> float:
        """How long ``no_response`` holds a request, or ``stall`` pauses a stream."""
        if self.seconds is not None:
            return self.seconds
        return DEFAULT_NO_RESPONSE_S if self.kind == "no_response" else DEFAULT_STALL_S

    @property
    def tokens_before(self) -> int:
        """Tokens a stream fault lets through before it strikes."""
        return self.after_tokens or 0

    def strikes_now(self, token: bool, tokens_sent: int) -> bool:
        """Whether a stream fault strikes before the next chunk (``token``: it carries content).

        It strikes before token number ``after_tokens``; an answer with fewer tokens meets it at
        its finish chunk, so a cut still comes before the end.
        """
        if token:
            return tokens_sent == self.tokens_before
        return tokens_sent <= self.tokens_before

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Fault:
        """A fault from JSON fields (the control API); ValueError on anything wrong."""
        if not isinstance(data, dict):
            raise ValueError("a fault must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("kind", "model"):
                if not isinstance(value, str):
                    raise ValueError(f"fault {key} must be a string")
                values[key] = value
            elif value is not None:  # null = the default
                values[key] = _number(key, value)
        return cls(**values)


def _short(value: Any) -> str:
    """A value for a message: huge integers and long texts are not printed in full."""
    if isinstance(value, int) and value.bit_length() > 64:
        return "an integer beyond 64 bits"
    text = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return text if len(text) <= 40 else text[:36] + "..."


def _number(key: str, value: Any) -> int | float:
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text) if key in _INT_FIELDS else float(text)
        except ValueError:
            kind = "an integer" if key in _INT_FIELDS else "a number"
            raise ValueError(f"fault {key} must be {kind}, got {_short(value)}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"fault {key} must be a number, got {_short(value)}")
    if key in _INT_FIELDS:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"fault {key} must be an integer, got {_short(value)}")
        return int(value)
    if key in _FLOAT_FIELDS:
        return float(value)
    raise ValueError(f"fault field {key} is not numeric")


def parse_fault(spec: str) -> Fault:
    """``MODEL=KIND[:ARG][,key=value...]`` -> ``Fault``; ValueError with a clear message."""
    model, eq, rest = spec.strip().partition("=")
    model = model.strip()
    if not eq or not model or not rest.strip():
        raise ValueError(f"bad fault {spec!r}: expected MODEL=KIND[:ARG][,key=value...]")
    head, *options = rest.split(",")
    kind, colon, arg = head.strip().partition(":")
    kind = kind.strip()
    if kind not in FAULT_KINDS:
        raise ValueError(
            f"bad fault {spec!r}: unknown kind {kind!r} (one of {', '.join(FAULT_KINDS)})"
        )
    values: dict[str, Any] = {"kind": kind, "model": model}
    try:
        if colon:
            field_name = _ARG_FIELD.get(kind)
            if field_name is None:
                raise ValueError(f"{kind} takes no :ARG")
            values[field_name] = _number(field_name, arg)
        for option in options:
            key, eq2, value = option.partition("=")
            key = key.strip()
            if not eq2 or not key:
                raise ValueError(f"expected key=value, got {option.strip()!r}")
            if key in ("kind", "model") or key not in _INT_FIELDS | _FLOAT_FIELDS:
                raise ValueError(f"unknown option {key!r}")
            values[key] = _number(key, value)
        return Fault(**values)
    except ValueError as exc:
        raise ValueError(f"bad fault {spec!r}: {exc}") from None


class FaultTable:
    """The active faults; ``pick(model)`` chooses the one a request gets (or None).

    The first live fault for the exact model wins, else the first for ``"*"`` (so faults added
    for one model queue up: ``reset,count=3`` then ``status:500`` resets three calls, then fails
    the rest). ``probability`` is rolled with the injected ``random.Random``; a fault that fires
    uses up one of its ``count`` and leaves the table when none is left.
    """

    def __init__(self, faults: list[Fault] | None = None, rng: random.Random | None = None):
        self._rng = rng if rng is not None else random.Random()
        self._entries: list[list[Any]] = []  # [fault, remaining count or None]
        self.fired: Counter[str] = Counter()
        for fault in faults or ():
            self.add(fault)

    def add(self, fault: Fault) -> None:
        self._entries.append([fault, fault.count])

    def clear(self, model: str | None = None) -> int:
        """Drop every fault, or those of one model; returns how many were dropped."""
        before = len(self._entries)
        if model is None:
            self._entries.clear()
        else:
            self._entries = [e for e in self._entries if e[0].model != model]
        return before - len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def faults(self) -> list[dict[str, Any]]:
        """The active faults as dicts, with ``remaining`` (None = unlimited)."""
        return [{**fault.to_dict(), "remaining": left} for fault, left in self._entries]

    def pick(self, model: str) -> Fault | None:
        """The fault for this request to ``model``, or None for a normal answer."""
        if not self._entries:
            return None
        entry = self._find(model) or self._find("*")
        if entry is None:
            return None
        fault: Fault = entry[0]
        if fault.probability < 1.0 and self._rng.random() >= fault.probability:
            return None
        if entry[1] is not None:
            entry[1] -= 1
            if entry[1] <= 0:
                self._entries.remove(entry)
        self.fired[fault.kind] += 1
        return fault

    def _find(self, model: str) -> list[Any] | None:
        for entry in self._entries:
            if entry[0].model == model:
                return entry
        return None
