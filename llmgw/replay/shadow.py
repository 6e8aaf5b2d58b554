"""Shadow traffic: mirror a sample of a tenant's live calls to a candidate model.

Configured per tenant (the nearest tenant on the chain that sets it wins)::

    [tenants."acme".routing]
    shadow_model = "candidate"   # public model or alias
    shadow_sample = 0.1          # share of calls mirrored, in (0, 1]; default 0.1

``TenantRouting`` carries no field for these keys, so ``llmgw.settings.routing`` validates them
and ``load_shadow_policies`` reads them back from the settings file.

``Shadow.maybe_mirror`` is called after a live call has been answered. It draws against the
sample rate and, when chosen, starts a background task that sends the same request to the
candidate (through ``llmgw.replay.resend.send_once``: the gateway's routing and adapters) and
stores the result in the run ``shadow:<model>``, linked to the live call's audit id. At most
``max_in_flight`` mirrors run at once; a call that finds them all busy is dropped (counted in
``dropped``), never queued. Mirrors neither delay nor change the answer the client got; they
do not count against the tenant's limits. Result rows are written off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmgw.gateway.runtime import Gateway
from llmgw.replay.resend import ReplayItem, send_once
from llmgw.replay.runs import RunResult, create_run, save_result, shadow_run_name
from llmgw.settings.schema import ModelConfig, Settings
from llmgw.settings.tenancy import tenant_chain
from llmgw.types import ChatRequest

log = logging.getLogger("llmgw.shadow")

DEFAULT_SAMPLE = 0.1
DEFAULT_MAX_IN_FLIGHT = 8
Sender = Callable[[Gateway, ModelConfig, ReplayItem], Awaitable[RunResult]]
Saver = Callable[[str, str, RunResult], None]


@dataclass(slots=True, frozen=True)
class ShadowPolicy:
    """Mirror ``sample`` (0-1) of a tenant's calls to public model ``model``."""

    model: str
    sample: float = DEFAULT_SAMPLE


def load_shadow_policies(settings: Settings) -> dict[str, ShadowPolicy]:
    """Tenant path -> shadow policy, for every tenant whose routing table sets one."""
    out: dict[str, ShadowPolicy] = {}
    for path, tenant in settings.tenants.items():
        routing = tenant.routing
        if routing is not None and routing.shadow_model:
            out[path] = ShadowPolicy(routing.shadow_model, routing.shadow_sample or DEFAULT_SAMPLE)
    return out


def policy_for(policies: dict[str, ShadowPolicy], tenant: str) -> ShadowPolicy | None:
    """The policy of the nearest tenant on ``tenant``'s chain that sets one."""
    for node in reversed(tenant_chain(tenant)):
        if node in policies:
            return policies[node]
    return None


def save_in_state(state_path: Path) -> Saver:
    """A saver that writes a result (creating its run on first use) with its own connection."""

    def save(run: str, target: str, result: RunResult) -> None:
        from llmgw.store.db import open_db

        conn = open_db(state_path)
        try:
            create_run(conn, run, target, {"shadow": True}, kind="shadow", status="shadow")
            save_result(conn, run, result)
        finally:
            conn.close()

    return save


class Shadow:
    """Bounded, sampled mirroring of live calls (see the module docstring)."""

    def __init__(
        self,
        gw: Gateway,
        policies: dict[str, ShadowPolicy],
        save: Saver,
        *,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        rng: random.Random | None = None,
        send: Sender | None = None,
    ) -> None:
        self.gw = gw
        self.policies = policies
        self.max_in_flight = max(1, max_in_flight)
        self._save = save
        self._rng = rng or random.Random()
        self._send: Sender = send or send_once
        self._tasks: set[asyncio.Task[None]] = set()
        self.mirrored = 0
        self.dropped = 0
        self.failed = 0

    @classmethod
    def for_gateway(cls, gw: Gateway, **kwargs: Any) -> Shadow:
        """A shadow for ``gw``: policies from its settings file, results into its state."""
        return cls(gw, load_shadow_policies(gw.settings), save_in_state(gw.state_path), **kwargs)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def maybe_mirror(
        self,
        tenant: str,
        request: ChatRequest,
        original_id: str,
        api: str = "openai",
    ) -> bool:
        """Start a mirror of ``request`` when the tenant's sample draws it; True if started."""
        policy = policy_for(self.policies, tenant)
        if policy is None or self._rng.random() >= policy.sample:
            return False
        gw = self.gw
        model = gw.model(policy.model)
        if model is None or len(self._tasks) >= self.max_in_flight:
            self.dropped += 1
            return False
        req = request.with_model(request.model)
        req.stream = False
        req.include_usage = False
        item = ReplayItem(original_id, tenant, api, req, 0)
        task = asyncio.get_running_loop().create_task(self._mirror(gw, model, item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.mirrored += 1
        return True

    async def _mirror(self, gw: Gateway, model: ModelConfig, item: ReplayItem) -> None:
        try:
            result = await self._send(gw, model, item)
            await asyncio.to_thread(self._save, shadow_run_name(model.name), model.name, result)
        except asyncio.CancelledError:
            raise
        except Exception:  # a mirror must never disturb live traffic
            self.failed += 1
            log.exception("shadow call for %s failed", item.original_id)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Let the mirrors in flight finish (cancelled after ``timeout`` seconds)."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
