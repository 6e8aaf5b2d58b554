"""The connection behind ``RedisStore``: a bounded pool, timeouts, one retry, a warm start.

``RedisLink`` runs named Lua scripts (``EVALSHA``, loading a script the server lost once) on a
pool of at most ``max_connections`` connections, one pool per event loop (connections cannot
cross loops).

Timeouts. Opening a connection gets ``connect_timeout_s``. A call gets ``timeout_s`` to find
a free connection when all are busy, and ``timeout_s`` again to be written and answered. All
are measured on the caller's event loop, so they cover not only Redis but the loop's own lag:
Redis answers a script in well under a millisecond, but during a burst of a few hundred calls
on a host whose cores are saturated, the gateway's loop reads that answer seconds later.
``benchmarks/redis_latency.py`` measures both; the defaults (``LimitsConfig``) come from it.

Retry. One retry, at once, and only where it cannot count anything twice:

- a *connection error* (refused, reset, closed by the server) is retried for every script.
  ``settle`` is idempotent by admission id (its lease is marked ``done``), ``spend`` only
  reads or sets a field that is unset (``HSETNX``), and ``admit`` is idempotent by admission
  id too: its script returns the recorded admission when the lease already exists, so a reply
  lost after the script ran does not reserve twice;
- a *timeout* is retried only for the scripts in ``RETRY_ON_TIMEOUT`` (``settle`` and
  ``spend``): an unsettled reservation would otherwise be held until its lease ends. An
  ``admit`` that timed out is not retried: the caller already waited ``timeout_s`` and a
  slow Redis needs less traffic, not more; the fail mode answers it.
- a full pool (every connection busy for ``timeout_s``) is not retried: the gateway is busy,
  not Redis broken.

Warm start. ``start`` opens the whole pool, ``PING``s every connection and loads every script
before the gateway reports ready, so the first burst pays no connection set-up and no
``NOSCRIPT`` round trip. It keeps trying for at most ``start_wait_s`` (Redis may be starting
alongside the gateway) and then gives up, returning False: the gateway starts anyway and the
fail mode answers calls until Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("llmgw.limits.redis")

START_RETRY_EVERY_S = 0.25  # pause between attempts to reach Redis at start
RETRY_ON_TIMEOUT = frozenset({"settle", "spend"})  # idempotent and worth a second try

_TIMEOUTS = (RedisTimeoutError, TimeoutError)  # asyncio.TimeoutError is TimeoutError
_CONNECTION = (RedisConnectionError, OSError)
UNREACHABLE = (*_CONNECTION, *_TIMEOUTS)


def _pool_exhausted(exc: BaseException) -> bool:
    """Whether ``exc`` is the pool's own "no connection available" after its wait."""
    return isinstance(exc, RedisConnectionError) and isinstance(exc.__cause__, TimeoutError)


def retryable(name: str, exc: BaseException) -> bool:
    """Whether a failed run of script ``name`` may be tried once more (module docstring)."""
    if isinstance(exc, _TIMEOUTS):
        return name in RETRY_ON_TIMEOUT
    return isinstance(exc, _CONNECTION) and not _pool_exhausted(exc)


class RedisLink:
    """Named scripts on a Redis server; see the module docstring."""

    def __init__(
        self,
        url: str,
        scripts: Mapping[str, str],
        *,
        connect_timeout_s: float,
        timeout_s: float,
        max_connections: int = 64,
        start_wait_s: float = 5.0,
    ) -> None:
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.start_wait_s = start_wait_s
        self.retries = 0  # scripts run a second time (for tests and diagnostics)
        self._bodies = dict(scripts)
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, AsyncScript] = {}

    def client(self) -> aioredis.Redis:
        """The client for the running event loop (connections cannot cross loops)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.max_connections,
                timeout=self.timeout_s,  # for a free connection
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.connect_timeout_s,
                retry=Retry(NoBackoff(), 0),  # retries are decided here, per script
            )
            self._client = aioredis.Redis(connection_pool=pool)
            self._loop = loop
            self._scripts = {
                name: self._client.register_script(body) for name, body in self._bodies.items()
            }
        return self._client

    async def run(self, name: str, args: Sequence[Any]) -> list[Any]:
        """Run script ``name``; raises one of ``UNREACHABLE`` when Redis cannot answer."""
        self.client()
        script = self._scripts[name]
        try:
            return list(await script(args=args))
        except UNREACHABLE as exc:
            if not retryable(name, exc):
                raise
        self.retries += 1
        return list(await script(args=args))

    # ------------------------------------------------------------------ start

    async def start(self) -> bool:
        """Warm the pool and load the scripts, trying for at most ``start_wait_s``; whether
        Redis answered (the failure is logged)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_wait_s
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time()) + self.timeout_s):
                    await self._warm()
                return True
            except UNREACHABLE as exc:
                left = deadline - loop.time()
                if left <= 0:
                    log.warning(
                        "limits backend %s unreachable at start after %.1fs (%s: %s); "
                        "starting anyway, the fail mode applies until it answers",
                        self.url,
                        self.start_wait_s,
                        type(exc).__name__,
                        exc,
                    )
                    return False
                await asyncio.sleep(min(START_RETRY_EVERY_S, left))

    async def _warm(self) -> None:
        """Open every connection of the pool at once, ``PING`` each, then load every script."""
        client = self.client()
        pool = client.connection_pool
        held: list[AbstractConnection] = []

        async def open_one() -> None:
            conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # a new one
            held.append(conn)
            await conn.send_command("PING")
            await conn.read_response()

        try:
            opened = await asyncio.gather(
                *(open_one() for _ in range(self.max_connections)), return_exceptions=True
            )
        finally:
            for conn in held:
                await pool.release(conn)
        for outcome in opened:
            if isinstance(outcome, BaseException):
                raise outcome
        for body in self._bodies.values():
            await client.script_load(body)

    async def aclose(self) -> None:
        """Close the connections of the current loop's client."""
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()
