"""The in-process ``LimitStore``: counters in dictionaries, for a single gateway process.

Every method is ``async`` to satisfy the protocol but never awaits while changing state, so
each call is atomic on the event loop: admission checks every node of the chain first and
only then applies the changes (all or nothing).

Keys:

- rates: one GCRA ``tat`` per (node, ``rpm``|``tpm``), on the clock's monotonic time;
- concurrency: calls in flight per node;
- budgets: spent and reserved nanodollars per (node, budget key, period id), the period id
  resolved from the clock's wall time (``llmgw.limits.periods``).

Check order per node, org first: rpm, tpm, concurrency, then budgets; the first failure is
the one reported.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from llmgw.limits.gcra import Gcra, GcraResult
from llmgw.limits.model import (
    Admission,
    BudgetSpec,
    BudgetUsage,
    Demand,
    NodeLimits,
    RateState,
    Rejected,
)
from llmgw.limits.periods import period_id
from llmgw.routing.clock import Clock
from llmgw.settings.money import format_cost

BudgetKey = tuple[str, str, str]  # (node, budget key, period id)


@dataclass(slots=True)
class _Spend:
    """One budget period's counters."""

    spent: int = 0
    reserved: int = 0


@dataclass(slots=True, frozen=True)
class _RateHit:
    """A rate check that passed: where to write the new ``tat`` and the header view."""

    key: tuple[str, str]
    tat: float
    state: RateState


def budget_applies(spec: BudgetSpec, model: str) -> bool:
    """Whether a budget counts a call to the public model ``model``."""
    return spec.model is None or spec.model == model


def periods_key(node: str, key: str) -> str:
    """The ``Admission.budget_periods`` key of one budget of one node."""
    return f"{node}|{key}"


def tightest(states: Sequence[RateState]) -> RateState | None:
    """The rate state to show in headers: fewest remaining, then the smallest limit."""
    if not states:
        return None
    return min(states, key=lambda s: (s.remaining, s.limit, -s.reset_s))


def budget_message(node: str, spec: BudgetSpec, usage: _Spend, cost: int) -> str:
    """Why a hard budget refused a call, with the amounts."""
    scope = f" for model {spec.model}" if spec.model else ""
    return (
        f"budget '{spec.key}'{scope} of {node} exhausted: spent {format_cost(usage.spent)}"
        f" + reserved {format_cost(usage.reserved)} + this call {format_cost(cost)}"
        f" > limit {format_cost(spec.limit_nanos)}"
    )


class LocalStore:
    """``LimitStore`` kept in memory; see the module docstring."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tats: dict[tuple[str, str], float] = {}
        self._inflight: dict[str, int] = {}
        self._spend: dict[BudgetKey, _Spend] = {}
        self._open: set[str] = set()
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ admit

    def _rate(
        self, node: str, kind: str, limit: int, cost: int, now: float
    ) -> tuple[_RateHit | None, Rejected | None]:
        """Check one rate limit of one node without changing anything."""
        key = (node, kind)
        res: GcraResult = Gcra(limit).check(self._tats.get(key, 0.0), now, cost)
        if not res.allowed:
            unit = "requests" if kind == "rpm" else "tokens"
            msg = f"{node}: {kind} limit of {limit} {unit} per minute reached"
            return None, Rejected(kind, node, msg, res.retry_after_s)  # type: ignore[arg-type]
        return _RateHit(key, res.tat, RateState(limit, res.remaining, res.reset_s)), None

    async def admit(self, chain: Sequence[NodeLimits], demand: Demand) -> Admission:
        """Grant the call on every node of ``chain`` or raise ``Rejected`` changing nothing."""
        now = self._clock.monotonic()
        wall = self._clock.wall()
        hits: list[_RateHit] = []
        requests: list[RateState] = []
        tokens: list[RateState] = []
        periods: dict[str, str] = {}
        budget_keys: list[BudgetKey] = []
        for limits in chain:
            node = limits.node
            for kind, limit, cost, views in (
                ("rpm", limits.rpm, 1, requests),
                ("tpm", limits.tpm, demand.tokens, tokens),
            ):
                if limit is None:
                    continue
                hit, err = self._rate(node, kind, limit, cost, now)
                if err is not None:
                    raise err
                assert hit is not None
                hits.append(hit)
                views.append(hit.state)
            cap = limits.concurrency
            if cap is not None and self._inflight.get(node, 0) + 1 > cap:
                raise Rejected("concurrency", node, f"{node}: {cap} calls already in flight")
            for spec in limits.budgets:
                if not budget_applies(spec, demand.model):
                    continue
                pid = period_id(spec.period, wall, spec.window_s)
                usage = self._spend.get((node, spec.key, pid), _Spend())
                over = usage.spent + usage.reserved + demand.cost_nanos > spec.limit_nanos
                if spec.hard and over:
                    msg = budget_message(node, spec, usage, demand.cost_nanos)
                    raise Rejected("budget", node, msg, None)
                periods[periods_key(node, spec.key)] = pid
                budget_keys.append((node, spec.key, pid))
        # every check passed: apply
        for hit in hits:
            self._tats[hit.key] = hit.tat
        for limits in chain:
            if limits.concurrency is not None:
                self._inflight[limits.node] = self._inflight.get(limits.node, 0) + 1
        for key in budget_keys:
            self._spend.setdefault(key, _Spend()).reserved += demand.cost_nanos
        admission = Admission(
            id=f"local-{next(self._ids)}",
            chain=tuple(chain),
            demand=demand,
            budget_periods=periods,
            requests=tightest(requests),
            tokens=tightest(tokens),
            at=now,
        )
        self._open.add(admission.id)
        return admission

    # --------------------------------------------------------- settle/release

    def _finish(self, admission: Admission, tokens: int, cost: int | None) -> list[BudgetUsage]:
        """Close an admission: adjust TPM to ``tokens``, free the slots, and either charge
        ``cost`` (settle) or refund the reservation (``cost`` None: release)."""
        if admission.id not in self._open:
            return []
        self._open.discard(admission.id)
        now = self._clock.monotonic()
        demand = admission.demand
        usages: list[BudgetUsage] = []
        for limits in admission.chain:
            node = limits.node
            if limits.tpm is not None:
                key = (node, "tpm")
                bucket = Gcra(limits.tpm)
                tat = self._tats.get(key, 0.0)
                diff = tokens - demand.tokens
                tat = bucket.charge(tat, now, diff) if diff > 0 else bucket.refund(tat, now, -diff)
                self._tats[key] = tat
            if limits.concurrency is not None:
                self._inflight[node] = max(0, self._inflight.get(node, 0) - 1)
            for spec in limits.budgets:
                pid = admission.budget_periods.get(periods_key(node, spec.key))
                if pid is None:
                    continue
                entry = self._spend.setdefault((node, spec.key, pid), _Spend())
                entry.reserved = max(0, entry.reserved - demand.cost_nanos)
                if cost is not None:
                    entry.spent += cost
                    usages.append(self._usage(node, spec, pid, entry))
        return usages

    async def settle(self, admission: Admission, tokens: int, cost_nanos: int) -> list[BudgetUsage]:
        """Replace the reservation with the actual tokens and cost on every budget that
        applied at admission (in the periods recorded then); free the concurrency slots."""
        return self._finish(admission, max(0, tokens), max(0, cost_nanos))

    async def release(self, admission: Admission) -> None:
        """Refund tokens and money of a call that produced nothing; RPM keeps the hit."""
        self._finish(admission, 0, None)

    # ------------------------------------------------------------------ views

    @staticmethod
    def _usage(node: str, spec: BudgetSpec, pid: str, entry: _Spend) -> BudgetUsage:
        return BudgetUsage(
            node=node,
            key=spec.key,
            period_id=pid,
            limit_nanos=spec.limit_nanos,
            spent_nanos=entry.spent,
            reserved_nanos=entry.reserved,
            hard=spec.hard,
        )

    async def spend(self, node: str, budget: BudgetSpec) -> BudgetUsage:
        """The budget's current period (zeros when nothing was recorded yet)."""
        pid = period_id(budget.period, self._clock.wall(), budget.window_s)
        entry = self._spend.get((node, budget.key, pid), _Spend())
        return self._usage(node, budget, pid, entry)

    async def restore_spend(self, node: str, budget: BudgetSpec, spent_nanos: int) -> None:
        """Set the current period's spend unless this store already holds that period."""
        pid = period_id(budget.period, self._clock.wall(), budget.window_s)
        key = (node, budget.key, pid)
        if key not in self._spend:
            self._spend[key] = _Spend(spent=max(0, spent_nanos))

    async def start(self) -> None:
        """Nothing to connect; present for the protocol."""

    async def aclose(self) -> None:
        """Nothing to close; present for the protocol."""
