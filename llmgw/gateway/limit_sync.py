"""Keeping the limiter in step with the state database.

At start, every budget's spend for its current period is rebuilt from the ledger (the audit
log), so a restart loses no spend. While running, a thread polls the operator overrides'
version every second and, when ``llmgw budgets …`` or the admin API changed them, swaps them in
and restores the spend of any budget the store does not hold yet. Store calls are made on the
event loop; this thread only reads SQLite.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from llmgw.config import Settings
from llmgw.gateway.limiter import Limiter
from llmgw.limits import ledger, overrides
from llmgw.limits.chain import node_limits
from llmgw.limits.model import BudgetSpec
from llmgw.store.db import open_db

log = logging.getLogger("llmgw.limits")


def budgets_of(limiter: Limiter) -> list[tuple[str, BudgetSpec]]:
    """Every (node, budget) the config and the overrides declare."""
    nodes = set(limiter.settings.tenants) | set(limiter.overrides)
    out = []
    for node in sorted(nodes):
        for limits in node_limits(limiter.settings, node, limiter.overrides):
            if limits.node == node:
                out += [(node, b) for b in limits.budgets]
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
        self._load_overrides()
        for node, budget, spent in spends(
            self.limiter.settings, self.state, budgets_of(self.limiter)
        ):
            await self.limiter.store.restore_spend(node, budget, spent)
        self._thread = threading.Thread(target=self._run, name="llmgw-limits", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _load_overrides(self) -> bool:
        conn = open_db(self.state)
        try:
            current = overrides.version(conn)
            if current == self._version:
                return False
            self.limiter.set_overrides(overrides.load_overrides(conn))
            self._version = current
            return True
        finally:
            conn.close()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                if not self._load_overrides():
                    continue
                pending = spends(self.limiter.settings, self.state, budgets_of(self.limiter))
                assert self._loop is not None
                for node, budget, spent in pending:
                    asyncio.run_coroutine_threadsafe(
                        self.limiter.store.restore_spend(node, budget, spent), self._loop
                    ).result(timeout=5)
            except Exception:  # keep the last good limits
                log.exception("reloading limit overrides failed")
