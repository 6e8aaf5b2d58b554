"""Commit waiters: how the event loop awaits a row's commit by the audit writer's thread.

Strict durability (``[audit] durability = "strict"``) holds an answer's last bytes until its
audit row is committed. The event loop hands the writer a row together with a ``Waiter`` (its
loop and a future); the writer thread commits whatever is queued in one transaction and then
wakes every waiter of that batch with one ``call_soon_threadsafe`` per event loop (one wakeup
of the loop's self-pipe, however many calls the batch holds): group commit.

A waiter is resolved exactly once: with ``None`` when its row is committed, or with
``NotCommitted`` when the row can never be stored or the writer stops without storing it. A
waiter whose future was cancelled meanwhile (its call ended) is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


class NotCommitted(RuntimeError):
    """The row was not committed: it cannot be stored, or the writer stopped first."""


@dataclass(slots=True, eq=False)
class Waiter:
    """One event-loop task waiting for one row's commit (hashable by identity)."""

    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None] = field(init=False)

    def __post_init__(self) -> None:
        self.future = self.loop.create_future()


def new_waiter() -> Waiter:
    """A waiter on the running event loop (call from the loop's thread)."""
    return Waiter(asyncio.get_running_loop())


Outcome = tuple[Waiter, BaseException | None]
"""A waiter and how it ends: None (committed) or the exception its future gets."""


def wake(outcomes: list[Outcome]) -> None:
    """Resolve ``outcomes`` from any thread: one thread-safe callback per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[Outcome]) -> None:
    """Runs on the waiters' loop."""
    for waiter, exc in items:
        future = waiter.future
        if future.done():  # cancelled: the call that waited has ended
            continue
        if exc is None:
            future.set_result(None)
        else:
            future.set_exception(exc)
