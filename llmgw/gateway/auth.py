"""Virtual-key authentication: one sha256 and one dict lookup per request.

Active keys live in memory, reloaded from SQLite by a background thread every ``refresh_s``
seconds, so ``llmgw keys revoke`` on a running gateway takes effect within that time without
any I/O on the request path.

A key the table does not know yet (made with ``llmgw keys create`` since the last reload) is
looked up in the state file before the answer is 401, so a new key works on its very first
call: one indexed query by hash, in a lookup thread (``llmgw.gateway.key_lookup``), never on
the event loop. What keeps a flood of bad keys cheap:

- concurrent requests with the same unknown key share one lookup;
- a hash found to be no key is remembered for ``miss_ttl_s`` in an LRU of ``miss_size``
  hashes, and refused from memory meanwhile;
- at most ``max_lookups`` lookups are queued; beyond that an unknown key is refused at once
  (a brand-new key then works from the next reload, as before lookups existed).

Revocation stays within ``refresh_s``: a lookup only finds active keys, and a key it found is
added to the table only if no reload was installed since the lookup read the database, so a
result read before a revocation never outlives the first reload that saw the revocation.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
import time
from pathlib import Path

from llmgw.errors import AuthenticationFailed
from llmgw.gateway.asgi import Scope
from llmgw.gateway.key_lookup import MissCache, StoreLookup
from llmgw.store.db import open_db
from llmgw.store.keys import KeyRecord, KeyStore, hash_key

log = logging.getLogger("llmgw.auth")

DEFAULT_REFRESH_S = 1.0
LOOKUP_THREADS = 2
MAX_LOOKUPS = 256
MISS_TTL_S = 5.0
MISS_SIZE = 10_000
_WARN_EVERY_S = 10.0


def presented_key(scope: Scope) -> str | None:
    """The key from ``Authorization: Bearer …`` or ``x-api-key`` (Anthropic style)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
            return None
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
    return None


def _invalid() -> AuthenticationFailed:
    return AuthenticationFailed("invalid API key")


class KeyTable:
    """The in-memory table of active keys, kept fresh from the state database.

    ``authenticate`` is used from one event loop; the reload thread and the lookup threads
    change the table under ``_lock`` (readers need none: a dict lookup is atomic).
    """

    def __init__(
        self,
        state: Path,
        refresh_s: float = DEFAULT_REFRESH_S,
        *,
        lookup_threads: int = LOOKUP_THREADS,
        max_lookups: int = MAX_LOOKUPS,
        miss_ttl_s: float = MISS_TTL_S,
        miss_size: int = MISS_SIZE,
    ) -> None:
        self._state = state
        self._refresh_s = refresh_s
        self._by_hash: dict[str, KeyRecord] = {}
        self._lock = threading.Lock()
        self._generation = 0  # reloads installed so far
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lookup = StoreLookup(state, self._find, lookup_threads, "llmgw-key-lookup")
        self._max_lookups = max_lookups
        self._inflight: dict[str, asyncio.Future[KeyRecord | None]] = {}
        self.misses = MissCache(miss_size, miss_ttl_s)
        self.lookups = 0  # store lookups made (for tests and metrics)
        self._warned_at = float("-inf")
        self.reload()

    def reload(self) -> None:
        conn = open_db(self._state)
        try:
            table = KeyStore(conn).active_by_hash()
        finally:
            conn.close()
        with self._lock:
            self._by_hash = table
            self._generation += 1

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="llmgw-keys", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._lookup.stop()

    def _run(self) -> None:
        while not self._stop.wait(self._refresh_s):
            try:
                self.reload()
            except Exception:  # keep serving with the last good table
                log.exception("reloading keys failed")

    @property
    def pending_lookups(self) -> int:
        return len(self._inflight)

    async def authenticate(self, scope: Scope) -> KeyRecord:
        secret = presented_key(scope)
        if not secret:
            raise AuthenticationFailed(
                "missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
            )
        digest = hash_key(secret)
        record = self._by_hash.get(digest)
        if record is None:
            record = await self._look_up(digest)
        return record

    async def _look_up(self, digest: str) -> KeyRecord:
        """The active key under ``digest`` from the store, or 401."""
        if digest in self.misses:
            raise _invalid()
        future = self._inflight.get(digest)
        if future is None:
            if len(self._inflight) >= self._max_lookups:
                raise _invalid()
            future = self._lookup.submit(digest)
            self.lookups += 1
            self._inflight[digest] = future
            future.add_done_callback(functools.partial(self._looked_up, digest))
        try:
            # shielded: a caller that goes away does not cancel a lookup others wait for
            record = await asyncio.shield(future)
        except Exception as exc:
            self._warn(exc)
            raise _invalid() from None
        if record is None:
            raise _invalid()
        return record

    def _looked_up(self, digest: str, future: asyncio.Future[KeyRecord | None]) -> None:
        self._inflight.pop(digest, None)
        if not future.cancelled() and future.exception() is None and future.result() is None:
            self.misses.add(digest)

    def _find(self, conn: sqlite3.Connection, digest: str) -> KeyRecord | None:
        """In a lookup thread: the active key under ``digest``, added to the table unless a
        reload was installed meanwhile (that reload may already have seen it revoked)."""
        generation = self._generation
        record = KeyStore(conn).find_active(digest)
        if record is not None:
            with self._lock:
                if self._generation == generation:
                    self._by_hash[digest] = record
        return record

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:  # at most one line per interval in a flood
            self._warned_at = now
            log.warning("looking up a key failed (%s: %s); answering 401", type(exc).__name__, exc)
