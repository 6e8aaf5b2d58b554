"""The contract between the gateway and its limit stores (local in-process, or Redis).

Admission checks the whole tenant chain (org -> team -> key) at once, all or nothing, before
any upstream call:

- **rates**: requests per minute and tokens per minute per node, each a GCRA (a token bucket
  holding up to one minute's worth: sustained rate ``limit``/min, bursts up to ``limit``);
- **concurrency**: calls in flight per node;
- **budgets**: money per period per node (optionally per model). A call *reserves* the most
  it can cost (input tokens: the exact count where the gateway has the provider's tokenizer,
  else the prompt's byte bound; output bounded by ``max_tokens`` or the default; times
  ``reserve_margin``); a hard budget admits it only if ``spent + reserved + this reservation
  <= limit``. After the call, ``settle`` replaces the reservation with the exact cost
  (refunding the rest; a client-aborted stream pays for what was produced) and ``release``
  refunds a failed call completely.

So a hard budget is overshot only when a call costs more than it reserved. The input side
cannot do that: no byte-level tokenizer emits more tokens than the prompt has UTF-8 bytes
(``llmgw.accounting.prompt``), so a crafted prompt (spaces, emoji, CJK, one repeated
character) cannot beat the reservation; what is left to the margin is the chat framing the
recipe approximates (tools, images) and output beyond the bound when a provider ignores it.

Everything here is pure data; ``LimitStore`` implementations own the counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

RejectKind = Literal["rpm", "tpm", "concurrency", "budget", "unavailable"]


@dataclass(slots=True, frozen=True)
class BudgetSpec:
    """One budget as the store sees it. ``key`` is stable and unique per node
    (e.g. ``month``, ``day:gpt-4o``, ``window3600``) and ``period`` is resolved by the store
    from its clock: ``day`` (UTC date), ``month`` (UTC year-month), ``window`` (fixed windows of
    ``window_s`` seconds since the epoch)."""

    key: str
    period: Literal["day", "month", "window"]
    limit_nanos: int
    hard: bool = True
    window_s: int | None = None
    model: str | None = None  # public model name; None = every model


@dataclass(slots=True, frozen=True)
class NodeLimits:
    """The limits of one tenant node (a path such as ``acme/search``)."""

    node: str
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    budgets: tuple[BudgetSpec, ...] = ()


@dataclass(slots=True, frozen=True)
class Demand:
    """What one call asks of the chain at admission."""

    tokens: int  # input tokens + output bound: counted against TPM until settled
    cost_nanos: int  # the reservation against every budget that applies
    model: str  # public model name, for per-model budgets


@dataclass(slots=True, frozen=True)
class RateState:
    """For ``x-ratelimit-*`` headers: the tightest node's view of one rate limit."""

    limit: int
    remaining: int
    reset_s: float  # seconds until the bucket is full again


@dataclass(slots=True)
class Admission:
    """A granted call: what it holds until ``settle`` or ``release``."""

    id: str
    chain: tuple[NodeLimits, ...]
    demand: Demand
    budget_periods: dict[str, str] = field(default_factory=dict)  # "node|key" -> period id
    requests: RateState | None = None
    tokens: RateState | None = None
    at: float = 0.0  # store clock at admission


@dataclass(slots=True, frozen=True)
class BudgetUsage:
    """A budget's state after a change, for alerts (50/80/100%) and the operator views."""

    node: str
    key: str
    period_id: str
    limit_nanos: int
    spent_nanos: int
    reserved_nanos: int
    hard: bool


class Rejected(Exception):
    """Admission refused. ``retry_after_s`` is when trying again can succeed (None: not
    before the budget period ends or is raised)."""

    def __init__(
        self, kind: RejectKind, node: str, message: str, retry_after_s: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind: RejectKind = kind
        self.node = node
        self.message = message
        self.retry_after_s = retry_after_s


class LimitStore(Protocol):
    """Counters behind admission. Every method is atomic across the whole chain."""

    async def admit(self, chain: Sequence[NodeLimits], demand: Demand) -> Admission:
        """Grant the call on every node or raise ``Rejected`` (and change nothing)."""
        ...

    async def settle(self, admission: Admission, tokens: int, cost_nanos: int) -> list[BudgetUsage]:
        """Replace the reservation with the actual tokens and cost; free the concurrency slot.
        Returns the usage of every budget charged (for alerts)."""
        ...

    async def release(self, admission: Admission) -> None:
        """The call failed before producing anything billable: refund tokens and money, free
        the slot (the request still counts against RPM)."""
        ...

    async def spend(self, node: str, budget: BudgetSpec) -> BudgetUsage:
        """A budget's current period: spent and reserved."""
        ...

    async def restore_spend(self, node: str, budget: BudgetSpec, spent_nanos: int) -> None:
        """Set a budget's spend for the current period from the ledger (after a restart),
        unless the store already holds a value for it (Redis shared by replicas)."""
        ...

    async def start(self) -> None:
        """Get ready to answer before the gateway reports ready (a shared store connects);
        bounded in time: a backend that stays away is left to the fail mode."""
        ...

    async def aclose(self) -> None: ...
