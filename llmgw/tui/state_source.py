"""``StateSource``: the TUI over a state file, read-only, through the admin API's view builders.

The data comes from ``llmgw.ops.state_data.StateData`` and is shaped by ``llmgw.ops.views``,
the same builders the admin API uses, so the main table, the drill-down and a running
gateway's views follow one set of rules. The source has no actions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from llmgw.errors import GatewayError
from llmgw.ops import views
from llmgw.ops.state_data import StateData
from llmgw.store.db import StateFileError
from llmgw.tui.source import CALLS_LIMIT, OUTAGE_S, POLL_S, Row, Snapshot, SourceError

STREAM_BATCH = 500


class StateSource:
    """A state file, read-only: the admin API's shapes, and no actions."""

    read_only = True

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.label = f"{self.path} (read-only)"
        try:
            self.data = StateData(self.path, clock)
        except StateFileError as exc:
            raise SourceError(str(exc)) from None

    async def close(self) -> None:
        await self.data.close()

    async def snapshot(self) -> Snapshot:
        try:
            await self.data.refresh()
            tenants = await views.tenants_view(self.data)
            deployments = await views.deployments_view(self.data)
            cache = await views.cache_view(self.data)
        except StateFileError as exc:
            raise SourceError(str(exc)) from None
        return Snapshot(tenants["tenants"], deployments["deployments"], cache)

    async def tenant(self, path: str) -> Row:
        try:
            await self.data.refresh()
            return await views.tenant_detail(self.data, path)
        except (StateFileError, GatewayError) as exc:
            raise SourceError(str(exc)) from None

    async def recent_calls(self, limit: int = CALLS_LIMIT) -> list[Row]:
        try:
            calls: list[Row] = (await views.calls_view(self.data, limit))["calls"]
        except StateFileError as exc:
            raise SourceError(str(exc)) from None
        return calls

    async def call_stream(self) -> AsyncIterator[Row]:
        """New calls as the gateway writes them (polled by ``seq``)."""
        try:
            seq = await self.data.newest_seq()
            while True:
                calls, seq = await self.data.calls_after(seq, STREAM_BATCH)
                for call in calls:
                    yield call
                await asyncio.sleep(POLL_S)
        except StateFileError as exc:
            raise SourceError(str(exc)) from None

    async def force_breaker(self, deployment: str, force: str | None) -> Row:
        raise SourceError("read-only: a state file has no actions (use --gateway)")

    async def inject_outage(self, deployment: str, for_s: float = OUTAGE_S) -> Row:
        raise SourceError("read-only: a state file has no actions (use --gateway)")
