"""Keeping the limiter in step with the state database.

At start, every budget's spend for its current period is rebuilt from the ledger (the audit
log), so a restart loses no spend. When the store cannot be reached then (Redis down at
start), the gateway starts anyway: calls on a chain with a budget get the fail mode
(``Limiter.restored`` is False) until the polling thread has restored the spend, so no budget
counter is ever created at zero while the ledger holds its spend. While running, the thread
polls the operator overrides' version every second and, when ``llmgw budgets …`` or the admin
API changed them, swaps them in and restores the spend of any budget the store does not hold
yet. Store calls are made on the event loop; this thread only reads SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from llmgw.gateway.limiter import Limiter
from llmgw.limits import ledger, overrides
from llmgw.limits.chain import node_limits
from llmgw.limits.model import BudgetSpec, Rejected
from llmgw.settings.schema import Settings, TenantLimits
from llmgw.store.db import open_db

log = logging.getLogger("llmgw.limits")


def budgets_of(
    settings: Settings, limits: Mapping[str, TenantLimits]
) -> list[tuple[str, BudgetSpec]]:
    """Every (node, budget) the config and the overrides ``limits`` declare."""
    nodes = set(settings.tenants) | set(limits)
    out = []
    for node in sorted(nodes):
        for node_limit in node_limits(settings, node, limits):
            if node_limit.node == node:
                out += [(node, b) for b in node_limit.budgets]
    return out


def spends(
    settings: Settings, state: Path, budgets: Iterable[tuple[str, BudgetSpec]]
) -> list[tuple[str, BudgetSpec, int]]:
    """Each budget's spend this period, from the ledger (per-model budgets by every name)."""
    conn = open_db(state)
    try:
        out = []
        for node, b in budgets:
            model = settings.models.get(b.model) if b.model else None
            aliases = model.aliases if model is not None else ()
            out.append((node, b, ledger.current_spend(conn, node, b, aliases=aliases)))
        return out
    finally:
        conn.close()


class LimitSync:
    def __init__(self, limiter: Limiter, state: Path, every_s: float = 1.0) -> None:
        self.limiter = limiter
        self.state = state
        self.every_s = every_s
        self._version = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        """Load overrides and restore spend now (before serving), then keep polling."""
        self._loop = asyncio.get_running_loop()
        try:
            await asyncio.to_thread(self.refresh)
        except Rejected as rej:  # the shared store is away; the thread retries every second
            self.limiter.restored = False
            log.warning("budget spend not restored yet (%s); retrying", rej.message)
        self._thread = threading.Thread(target=self._run, name="llmgw-limits", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def refresh(self, force: bool = False) -> bool:
        """Take in changed overrides (from any thread but the loop's).

        The order matters: each budget's spend is restored from the ledger *before* the new
        limits are swapped in, so no admission can create a budget's counter at zero first.
        """
        assert self._loop is not None
        conn = open_db(self.state)
        try:
            current = overrides.version(conn)
            if current == self._version and not force:
                return False
            loaded = overrides.load_overrides(conn)
        finally:
            conn.close()
        settings = self.limiter.settings
        for node, budget, spent in spends(settings, self.state, budgets_of(settings, loaded)):
            asyncio.run_coroutine_threadsafe(
                self.limiter.store.restore_spend(node, budget, spent), self._loop
            ).result(timeout=5)
        self.limiter.set_overrides(loaded)
        self.limiter.restored = True
        self._version = current
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.refresh()
            except Rejected:  # the store is unreachable and says so (rate-limited); next tick
                pass
            except Exception:  # keep the last good limits
                log.exception("reloading limit overrides failed")
