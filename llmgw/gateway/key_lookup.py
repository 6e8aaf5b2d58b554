"""Looking up what the in-memory key table does not know yet: off the loop, bounded, remembered.

``StoreLookup`` runs a few daemon threads, each with its own connection to the state file,
that run one function per request (for ``llmgw.gateway.auth.KeyTable``: "which active key has
this hash?") and hand the result back to the caller's event loop as a future. The caller bounds
how many are queued; the threads bound how many touch the database at once.

``MissCache`` remembers, for a few seconds, the hashes that turned out to be no key, in a
bounded LRU, so a flood of the same bad key costs one dict lookup per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from llmgw.store.db import open_db

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[T], str]


class MissCache:
    """Hashes recently found to be no key: at most ``size``, each forgotten after ``ttl_s``.

    Used from the event loop only. A hit refreshes an entry's place in the LRU (not its
    expiry), so a flood of one bad key keeps it while a flood of random ones pushes out the
    oldest.
    """

    def __init__(
        self, size: int = 10_000, ttl_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if size < 1 or ttl_s <= 0:
            raise ValueError("size must be >= 1 and ttl_s > 0")
        self.size = size
        self.ttl_s = ttl_s
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __contains__(self, digest: str) -> bool:
        expiry = self._expiry.get(digest)
        if expiry is None:
            return False
        if expiry <= self._clock():
            del self._expiry[digest]
            return False
        self._expiry.move_to_end(digest)
        return True

    def add(self, digest: str) -> None:
        self._expiry[digest] = self._clock() + self.ttl_s
        self._expiry.move_to_end(digest)
        while len(self._expiry) > self.size:
            self._expiry.popitem(last=False)

    def __len__(self) -> int:
        return len(self._expiry)


class StoreLookup(Generic[T]):
    """``threads`` daemon threads running ``work(connection, arg)`` against the state file.

    ``submit`` (on an event loop) queues one call and returns a future of its result on that
    loop; an exception in ``work`` becomes the future's exception. Each thread opens its own
    connection when it first needs one and opens a fresh one after a database error. Threads
    start with the first ``submit``; ``stop`` ends them (a later ``submit`` starts them again).
    """

    def __init__(
        self,
        state: Path,
        work: Callable[[sqlite3.Connection, str], T],
        threads: int = 2,
        name: str = "llmgw-lookup",
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self._state = state
        self._work = work
        self._size = threads
        self._name = name
        self._jobs: queue.SimpleQueue[_Job[T] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, arg: str) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._threads:
            self._start()
        self._jobs.put((loop, future, arg))
        return future

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._run, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """End the threads once the calls queued before this one are answered."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                loop, future, arg = job
                result: T | None = None
                error: BaseException | None = None
                try:
                    if conn is None:
                        conn = open_db(self._state)
                    result = self._work(conn, arg)
                except Exception as exc:
                    error = exc
                    if isinstance(exc, sqlite3.Error) and conn is not None:
                        with contextlib.suppress(Exception):
                            conn.close()
                        conn = None
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(_settle, future, result, error)
        finally:
            if conn is not None:
                conn.close()


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
