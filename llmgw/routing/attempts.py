"""The one attempt loop: plain calls, streams, resumes, replays and shadow calls all use it.

``attempt(route, work, ...)`` walks the route: for each hop it takes the deployment's capacity
slot, runs ``work(hop)`` (the caller's part: send the request, or open a stream and wait for
its first content) and judges the outcome:

- ``work`` returns: the attempt succeeded so far; the loop hands back a ``Lease`` that the
  caller *must* end (``succeeded``/``failed``/``abandoned``, then ``close``) — a stream keeps
  its lease while it relays, a plain call ends it at once;
- ``UpstreamError``: the deployment failed (breaker and health are told), the loop moves on;
- ``AtCapacity`` (our own gate said no) or ``SkipDeployment`` (this deployment cannot take this
  kind of attempt): nothing is held against the upstream, the loop moves on;
- anything else, cancellation included: the hop is abandoned, its slot given back, and the
  exception propagates.

Every breaker admission (half-open probe), health in-flight count and capacity slot taken for
an attempt is returned on every one of those paths; ``Lease.close`` is idempotent, so callers
can put it in a ``finally`` without bookkeeping.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from llmgw.errors import UpstreamError
from llmgw.limits.model import Rejected
from llmgw.routing.route import AtCapacity, Hop, Route

T = TypeVar("T")
Note = Callable[[Hop, float, UpstreamError | None], None]  # (hop, started, error or None)
Judge = Callable[[UpstreamError], UpstreamError | None]  # what the route's next step sees


class SkipDeployment(Exception):
    """Raised by ``work``: this deployment cannot serve this attempt (no judgement on it)."""


class Lease:
    """One attempt's hold on a deployment: breaker admission, health count, capacity slot."""

    __slots__ = ("_ended", "_slot", "hop", "started")

    def __init__(self, hop: Hop) -> None:
        self.hop = hop
        self.started = time.perf_counter()
        self._slot: contextlib.AsyncExitStack | None = None
        self._ended = False

    @property
    def open(self) -> bool:
        return not self._ended

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    async def take_slot(self, route: Route, tenant: str, weight: int, tokens: int) -> None:
        """The deployment's capacity for this attempt (nothing where none is declared)."""
        capacity = route.deps.capacity
        dep = self.hop.deployment
        if not capacity.limits(dep.id):
            return
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(capacity.slot(dep, tenant, weight, tokens))
        except Rejected as rej:
            raise AtCapacity(rej.node, rej.message, rej.retry_after_s) from None
        self._slot = stack

    def succeeded(self, ttft_s: float | None = None) -> None:
        if not self._ended:
            self._ended = True
            self.hop.succeeded(self.elapsed(), ttft_s)

    def failed(self, err: UpstreamError) -> None:
        if not self._ended:
            self._ended = True
            self.hop.failed(err, self.elapsed())

    def abandoned(self) -> None:
        if not self._ended:
            self._ended = True
            self.hop.abandoned()

    async def close(self) -> None:
        """End the attempt (abandoned, unless already judged) and give its slot back."""
        self.abandoned()
        slot, self._slot = self._slot, None
        if slot is not None:
            await slot.aclose()


def _same(err: UpstreamError) -> UpstreamError | None:
    return err


async def attempt(
    route: Route,
    work: Callable[[Hop], Awaitable[T]],
    *,
    tenant: str,
    weight: int = 1,
    tokens: int = 0,
    note: Note | None = None,
    judge: Judge = _same,
    after: UpstreamError | None = None,
) -> tuple[Lease, T]:
    """The first hop on ``route`` whose ``work`` succeeds, with its open lease and result.

    Raises the route's final error when no hop succeeds. ``judge`` maps a failure to what the
    route sees next (``None``: carry on as if the hop had been skipped); ``after`` is a failure
    the route should take into account before its first hop (a stream that broke mid-answer).
    """
    seen = after  # what route.next() should know about the last hop
    last: UpstreamError | None = None  # the last real failure, for the final error
    while (hop := await route.next(seen)) is not None:
        lease = Lease(hop)
        try:
            await lease.take_slot(route, tenant, weight, tokens)
            result = await work(hop)
        except SkipDeployment:
            await lease.close()
            seen = None
            continue
        except AtCapacity as exc:  # our own gate: says nothing about the upstream's health
            await lease.close()
            if note is not None:
                note(hop, lease.started, exc)
            seen = last = exc
            continue
        except UpstreamError as exc:
            lease.failed(exc)
            await lease.close()
            if note is not None:
                note(hop, lease.started, exc)
            last = exc
            seen = judge(exc)
            continue
        except BaseException:  # cancelled, or a bug: the attempt proves nothing
            await lease.close()
            raise
        if note is not None:
            note(hop, lease.started, None)
        return lease, result
    raise route.exhausted_error(last)
