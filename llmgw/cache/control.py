"""Per-request cache control: the caller's headers against the tenant's policy. Pure.

Request headers:

- ``Cache-Control: no-cache`` — do not answer from the cache; the fresh answer is stored.
- ``Cache-Control: no-store`` — do not store this call's answer (a stored one may answer it).
- ``x-llmgw-cache-ttl: <seconds>`` — keep this call's answer that long (0: do not store),
  at most the policy's ``max_ttl_s``.
- ``x-llmgw-cache: no-semantic`` — exact matches only; ``bypass`` — neither read nor store.

These follow RFC 9111's request directives. A value the gateway does not understand is a 400,
never silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmgw.cache.keys import deterministic, question_of
from llmgw.cache.policy import CachePolicy
from llmgw.errors import BadRequest
from llmgw.types import ChatRequest

CACHE_TOKENS = ("no-semantic", "bypass")


@dataclass(slots=True, frozen=True)
class Directives:
    """What a request's headers ask of the cache."""

    no_cache: bool = False
    no_store: bool = False
    ttl_s: int | None = None
    no_semantic: bool = False
    bypass: bool = False


NO_DIRECTIVES = Directives()


def parse_directives(headers: list[tuple[bytes, bytes]]) -> Directives:
    """The cache directives among raw ASGI request headers (lower-case names)."""
    no_cache = no_store = no_semantic = bypass = False
    ttl: int | None = None
    seen = False
    for name, value in headers:
        if name == b"cache-control":
            seen = True
            for token in value.decode("latin-1").lower().split(","):
                token = token.strip()
                no_cache |= token == "no-cache"
                no_store |= token == "no-store"
        elif name == b"x-llmgw-cache-ttl":
            seen = True
            text = value.decode("latin-1").strip()
            if not text.isdigit():
                raise BadRequest(
                    f"x-llmgw-cache-ttl must be a whole number of seconds, got {text!r}",
                    param="x-llmgw-cache-ttl",
                )
            ttl = int(text)
        elif name == b"x-llmgw-cache":
            seen = True
            for token in value.decode("latin-1").lower().split(","):
                token = token.strip()
                if token not in CACHE_TOKENS:
                    raise BadRequest(
                        f"x-llmgw-cache: unknown directive {token!r} "
                        f"(expected {' or '.join(CACHE_TOKENS)})",
                        param="x-llmgw-cache",
                    )
                no_semantic |= token == "no-semantic"
                bypass |= token == "bypass"
    if not seen:
        return NO_DIRECTIVES
    return Directives(no_cache, no_store, ttl, no_semantic, bypass)


@dataclass(slots=True, frozen=True)
class Decision:
    """What the cache does for one call."""

    read: bool  # look for an exact match
    semantic: bool  # then look for a paraphrase
    store: bool  # keep the answer
    ttl_s: int
    question: str | None = None  # the text matched by meaning (semantic only)

    @property
    def bypass(self) -> bool:
        return not (self.read or self.store)


BYPASS = Decision(False, False, False, 0)


def decide(policy: CachePolicy, req: ChatRequest, directives: Directives) -> Decision:
    """Read, match by meaning, store, and for how long."""
    if policy.off or directives.bypass:
        return BYPASS
    repeatable = deterministic(req)
    if policy.mode == "deterministic" and not repeatable:
        return BYPASS
    ttl = policy.ttl_s if directives.ttl_s is None else min(directives.ttl_s, policy.max_ttl_s)
    read = not directives.no_cache
    store = not directives.no_store and ttl > 0
    semantic = (
        read
        and policy.semantic
        and not directives.no_semantic
        and (repeatable or policy.semantic_nondeterministic)
        and (not req.tools or policy.semantic_tools)
    )
    question = question_of(req) if semantic else None
    return Decision(read, question is not None, store, ttl, question)
