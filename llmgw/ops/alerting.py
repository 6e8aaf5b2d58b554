"""Budget alerts at 50/80/100%: recorded in the state database and sent to a webhook.

``on_settled`` runs on the event loop right after a settlement; it only computes (burn rate,
projected exhaustion) and queues. A thread writes the ``budget_alerts`` rows; the webhook POST
runs as a background task with a short timeout. Neither can slow or fail the call.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from pathlib import Path
from sqlite3 import Connection

import orjson

from llmgw.limits.alerts import Alert, BurnTracker, alerts_for
from llmgw.limits.model import BudgetUsage
from llmgw.routing.clock import Clock
from llmgw.store.db import open_db

log = logging.getLogger("llmgw.alerts")

WEBHOOK_TIMEOUT_S = 5.0


class AlertSink:
    def __init__(self, state: Path, webhook: str | None, clock: Clock) -> None:
        self._state = state
        self._webhook = webhook
        self._clock = clock
        self._trackers: dict[tuple[str, str, str], BurnTracker] = {}
        self._queue: queue.SimpleQueue[Alert | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write, name="llmgw-alerts", daemon=True)
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent = 0

    async def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._queue.put(None)
        self._thread.join(timeout=10)

    def on_settled(self, usages: list[BudgetUsage], cost_nanos: int) -> None:
        if cost_nanos <= 0:
            return
        now = time.time()
        for usage in usages:
            key = (usage.node, usage.key, usage.period_id)
            tracker = self._trackers.get(key)
            if tracker is None:
                tracker = self._trackers[key] = BurnTracker(self._clock)
            for alert in alerts_for(usage, cost_nanos, tracker, now):
                log.warning(
                    "budget %s of %s at %d%% (%s)",
                    alert.budget_key,
                    alert.node,
                    round(alert.threshold * 100),
                    "hard" if alert.hard else "soft",
                )
                self._queue.put(alert)
                if self._webhook:
                    task = asyncio.get_running_loop().create_task(self._post(alert))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)

    async def _post(self, alert: Alert) -> None:
        import aiohttp

        try:
            timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(str(self._webhook), json=alert.to_dict()) as resp,
            ):
                if resp.status >= 400:
                    log.warning("alert webhook answered %d", resp.status)
                else:
                    self.sent += 1
        except Exception as exc:
            log.warning("alert webhook failed: %s", exc)

    def _write(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            try:
                conn = open_db(self._state)
                try:
                    conn.execute(
                        "INSERT INTO budget_alerts (at, node, budget, period, threshold,"
                        " spent_nanos, limit_nanos, hard, payload)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            time.time(),
                            alert.node,
                            alert.budget_key,
                            alert.period,
                            alert.threshold,
                            alert.spent,
                            alert.limit,
                            int(alert.hard),
                            orjson.dumps(alert.to_dict(), default=str).decode(),
                        ),
                    )
                finally:
                    conn.close()
            except Exception:
                log.exception("recording a budget alert failed")


def alerted_budgets(conn: Connection, since: float) -> list[tuple[str, str, int, bool]]:
    """``(node, budget key, limit nanos, hard)`` of every budget with an alert recorded at or
    after ``since``, as its newest alert gave them, by node and key."""
    rows = conn.execute(
        "SELECT node, budget, limit_nanos, hard, max(at) FROM budget_alerts WHERE at >= ?"
        " GROUP BY node, budget ORDER BY node, budget",
        (since,),
    ).fetchall()
    return [(str(r[0]), str(r[1]), int(r[2]), bool(r[3])) for r in rows]
