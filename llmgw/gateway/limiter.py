"""Admission, settlement and rate-limit headers: the gateway's side of ``llmgw.limits``.

Before any upstream call, ``admit`` reserves the call's worst case on every node of the
tenant chain (all or nothing): the output bound plus, per deployment, the most input it can
bill (``prompt_inputs``), counted without ever blocking the event loop on a large prompt.
After it, ``finish`` settles the reservation to the exact cost (an aborted stream pays what
was produced) or releases it (a failed call costs nothing). A tenant chain without limits
costs one memoised lookup.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmgw.accounting.estimate import estimate_shape
from llmgw.accounting.offload import Offload
from llmgw.accounting.pricing import PriceBook
from llmgw.accounting.prompt import prompt_shape
from llmgw.accounting.tokens import provider_encoding
from llmgw.errors import LimitExceeded
from llmgw.limits.chain import node_limits
from llmgw.limits.model import Admission, BudgetUsage, LimitStore, NodeLimits, RateState, Rejected
from llmgw.limits.reserve import worst_case
from llmgw.routing.policy import RoutePlan
from llmgw.settings.schema import Settings, TenantLimits
from llmgw.types import ChatRequest

log = logging.getLogger("llmgw.limits")

# Outcomes that are charged (an aborted stream pays for what it produced); any other outcome
# is refunded in full and costs 0 in the audit log.
BILLED_OUTCOMES = frozenset({"ok", "aborted"})

REJECT_CODES = {
    "rpm": "rate_limit_exceeded",
    "tpm": "rate_limit_exceeded",
    "concurrency": "concurrency_limit_exceeded",
    "budget": "budget_exceeded",
    "unavailable": "limits_unavailable",
}


@dataclass
class Limiter:
    settings: Settings
    store: LimitStore
    prices: PriceBook
    overrides: Mapping[str, TenantLimits] = field(default_factory=dict)
    offload: Offload = field(default_factory=Offload)
    # False while budget spend could not be restored from the ledger (store unreachable at
    # start): a chain with a budget then gets the fail mode rather than a counter at zero
    restored: bool = True

    _chains: dict[str, tuple[NodeLimits, ...]] = field(default_factory=dict)

    def chain(self, tenant: str) -> tuple[NodeLimits, ...]:
        """The tenant's limits, root first; memoised until the overrides change."""
        chains = self._chains
        found = chains.get(tenant)
        if found is None:
            found = chains[tenant] = node_limits(self.settings, tenant, self.overrides)
        return found

    def set_overrides(self, overrides: Mapping[str, TenantLimits]) -> None:
        """Swap in operator overrides (called from the reload thread: two reference swaps)."""
        self.overrides = dict(overrides)
        self._chains = {}

    async def admit(self, tenant: str, req: ChatRequest, plan: RoutePlan) -> Admission | None:
        chain = self.chain(tenant)
        if not chain:
            return None
        cfg = self.settings.limits
        pairs: list[tuple[str, str]] = [
            (self.settings.providers[d.provider].kind, d.model)
            for model in (plan.model, *plan.fallbacks)
            for d in (plan.deployments if model is plan.model else model.deployments)
        ]
        first_model = pairs[0][1] if pairs else req.model
        input_tokens, billed = await prompt_inputs(self.offload, req, pairs, first_model)
        reserve = worst_case(
            self.prices,
            pairs,
            input_tokens,
            req.max_tokens,
            cfg.default_max_tokens,
            cfg.reserve_margin,
            billed_inputs=billed,
        )
        try:
            if not self.restored and any(n.budgets for n in chain):
                raise Rejected("unavailable", chain[-1].node, "budget spend not restored yet", 1)
            return await self.store.admit(chain, reserve.demand(plan.model.name))
        except Rejected as rej:
            mode = plan.model.limits_fail_mode or self.settings.limits.fail_mode
            if rej.kind == "unavailable" and mode == "open":
                log.warning("limits backend unreachable: %s fails open", plan.model.name)
                return None  # this route serves unmetered while the backend is away
            err = LimitExceeded(
                f"{rej.message} (tenant {rej.node!r})", code=REJECT_CODES.get(rej.kind)
            )
            if rej.kind == "unavailable":
                err.status = 503
                err.kind = "api_error"
            err.retry_after = rej.retry_after_s
            raise err from None

    async def finish(
        self, admission: Admission, outcome: str, tokens: int, cost_nanos: int
    ) -> list[BudgetUsage]:
        """Settle what was produced (ok, aborted) or release everything (failed, degraded)."""
        if outcome in BILLED_OUTCOMES:
            return await self.store.settle(admission, tokens, cost_nanos)
        await self.store.release(admission)
        return []


async def prompt_inputs(
    offload: Offload, req: ChatRequest, pairs: list[tuple[str, str]], first_model: str
) -> tuple[int, dict[tuple[str, str], int]]:
    """The prompt's tokens for TPM, and per deployment (provider kind, model) the most input
    it can bill.

    A deployment whose provider bills with a tokenizer we have (OpenAI's models at OpenAI)
    gets the exact count, counted off the event loop when the prompt is large; any other
    deployment, or one whose count did not come back within the offload's wait, gets the byte
    bound, which no crafted prompt can beat. TPM takes the first deployment's exact count when
    there is one, else a bounded-work estimate (settlement corrects it).
    """
    shape = prompt_shape(req.messages, req.tools)
    exact: dict[str, int | None] = {}
    for kind, model in pairs:
        name = provider_encoding(kind, model)
        if name is not None and name not in exact:
            exact[name] = await offload.count(name, shape)
    billed: dict[tuple[str, str], int] = {}
    for kind, model in pairs:
        name = provider_encoding(kind, model)
        count = exact.get(name) if name is not None else None
        billed[(kind, model)] = shape.bound if count is None else count
    first = provider_encoding(pairs[0][0], first_model) if pairs else None
    counted = exact.get(first) if first is not None else None
    if counted is None:
        counted = estimate_shape(first_model, shape).tokens
    return counted, billed


def rate_headers(admission: Admission | None) -> list[tuple[bytes, bytes]]:
    """OpenAI-style ``x-ratelimit-*`` headers for the tightest request and token limits."""
    if admission is None:
        return []
    out: list[tuple[bytes, bytes]] = []
    for name, state in (("requests", admission.requests), ("tokens", admission.tokens)):
        if state is not None:
            out += _rate(name, state)
    return out


def _rate(name: str, state: RateState) -> list[tuple[bytes, bytes]]:
    return [
        (f"x-ratelimit-limit-{name}".encode(), str(state.limit).encode()),
        (f"x-ratelimit-remaining-{name}".encode(), str(max(0, state.remaining)).encode()),
        (f"x-ratelimit-reset-{name}".encode(), duration(state.reset_s).encode()),
    ]


def duration(seconds: float) -> str:
    """OpenAI's reset format: ``1s``, ``6m0s``, ``250ms``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    whole = int(seconds + 0.999)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"
