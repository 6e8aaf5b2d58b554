"""One lane per tenant for the CPU-heavy start of large calls.

Reading and parsing a request body of megabytes holds the event loop (and the GIL) for
milliseconds at a stretch; a tenant sending several such bodies at once would queue that work
ahead of every other tenant's calls. Calls whose body is larger than ``threshold`` bytes (by
``content-length``; a body of unknown length counts as large) take their tenant's lane while
the body is read, parsed and checked, so each tenant has at most one such stretch in progress:
another tenant's small call waits behind at most one of them, however many the first tenant
sends. Small calls never wait, and the lane is held only until the request is decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

DEFAULT_THRESHOLD = 256 * 1024


class TenantLanes:
    """Per-tenant locks for large bodies, created on first use and dropped when idle."""

    def __init__(self, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._lanes: dict[str, tuple[asyncio.Lock, int]] = {}

    def held(self) -> int:
        """Tenants with a large body in progress or waiting (for tests and views)."""
        return len(self._lanes)

    @contextlib.asynccontextmanager
    async def lane(self, tenant: str, length: int | None) -> AsyncIterator[None]:
        if length is not None and length <= self.threshold:
            yield
            return
        lock, users = self._lanes.get(tenant, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._lanes[tenant] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._lanes[tenant]
            if users <= 1:
                del self._lanes[tenant]
            else:
                self._lanes[tenant] = (lock, users - 1)


def content_length(value: str | None) -> int | None:
    """The declared body size, or None when absent or not a plain number."""
    return int(value) if value is not None and value.isdigit() else None
