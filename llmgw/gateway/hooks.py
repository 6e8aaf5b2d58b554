"""What the gateway tells the rooms above it, as Protocols (arrows point down only).

The operator surfaces (``llmgw.ops``) and shadow traffic (``llmgw.replay.shadow``) sit above
the gateway and are attached to it by the composition root (``llmgw.assembly``): the gateway
calls them through these narrow interfaces and never imports them.
"""

from __future__ import annotations

from typing import Protocol

from llmgw.audit.record import AuditRecord
from llmgw.limits.model import BudgetUsage
from llmgw.types import ChatRequest


class CallObserver(Protocol):
    """Sees every call as it is recorded (live operator views, metrics, the call tail)."""

    def observe(self, rec: AuditRecord) -> None: ...

    def cache_hit(self, tenant: str, kind: str, saved_nanos: int) -> None: ...

    def cache_miss(self, tenant: str) -> None: ...


class SpendObserver(Protocol):
    """Sees each settlement of a call's cost against its budgets (budget alerts)."""

    def on_settled(self, usages: list[BudgetUsage], cost_nanos: int) -> None: ...


class Mirror(Protocol):
    """Mirrors a sample of answered calls somewhere else (shadow traffic)."""

    def maybe_mirror(
        self, tenant: str, request: ChatRequest, original_id: str, api: str
    ) -> bool: ...

    async def aclose(self) -> None: ...


class Service(Protocol):
    """Something with a life as long as the gateway's: started before the first call,
    stopped after the last."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class NoSpendObserver:
    """The default: nobody listens to settlements."""

    def on_settled(self, usages: list[BudgetUsage], cost_nanos: int) -> None:
        return None
