"""The Redis ``LimitStore``: several gateway replicas share one set of limits and budgets.

Every state change is one Lua script (``llmgw.limits.redis_lua``) run with ``EVALSHA``, so
``admit`` (all checks, then all changes, across the whole chain), ``settle``, ``release``,
``spend`` and ``restore_spend`` are each atomic and each one round trip (a script missing from
the server's cache costs one extra ``SCRIPT LOAD`` once).

Time. Without a ``clock`` the scripts read Redis ``TIME``, the one clock every replica agrees
on; budget period ids (UTC day, month, ``w<index>`` windows, the same ids as
``llmgw.limits.periods``) are derived *inside* the script from that same reading, so a call
admitted at 23:59:59.999 reserves in that day and the next call may already be in the next:
no replica can disagree about which side of a boundary a call fell on. ``settle`` charges the
period recorded at admission, even after a rollover. With an injected ``clock`` (tests use a
``FakeClock``) the caller passes ``clock.wall()`` in microseconds as an argument instead and
everything else is unchanged.

Rates are GCRA buckets kept in integer microseconds scaled by the limit (exact), and refunds
of unused tokens never raise a bucket above full.

Leaks. Each admission holds a lease (``lease_s``, default 15 minutes) in a sorted set scored
by expiry; ``admit`` first reaps a few expired leases, refunding their reservations and freeing
their concurrency slots. So a replica that dies mid-call holds its slot and reservation at most
``lease_s``; a call that really runs longer loses its slot early but is still charged on
``settle``. Rate keys expire when their TAT passes, budget hashes a day after their period
ends.

Connection. ``llmgw.limits.redis_link.RedisLink`` holds the pool: ``connect_timeout_s`` to
open a connection, ``timeout_s`` to get a free one and ``timeout_s`` per script call, one retry
where it cannot count twice (on a connection error every script, all three being idempotent
by admission id or read-only; after a timeout only ``settle`` and ``spend``), at most
``max_connections`` calls on the wire, and ``start`` opens the pool and loads the scripts
before the gateway reports ready, trying for at most ``start_wait_s``.
If Redis cannot be reached, ``fail_mode="closed"`` rejects with kind ``unavailable`` and
``fail_mode="open"`` admits an *unchecked* admission (``is_unchecked``) that touches nothing
and whose ``settle``/``release`` do nothing; a warning is logged at most once per 10 s.
``settle``/``release`` that cannot reach Redis log a warning and return (the lease refunds
the reservation later; the usage ledger still has the exact cost). ``spend`` and
``restore_spend`` raise ``Rejected("unavailable", ...)``.

Keys live under ``prefix``. Scripts touch keys they compute, so use a single Redis server
(or a hash-tagged prefix such as ``"{llmgw}:"`` on a cluster).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import orjson

from llmgw.limits import redis_lua
from llmgw.limits.model import (
    Admission,
    BudgetSpec,
    BudgetUsage,
    Demand,
    NodeLimits,
    RateState,
    Rejected,
)
from llmgw.limits.redis_link import UNREACHABLE, RedisLink
from llmgw.routing.clock import Clock
from llmgw.settings.money import format_cost
from llmgw.settings.schema import LimitsConfig

log = logging.getLogger("llmgw.limits.redis")

UNCHECKED_PREFIX = "unchecked-"
WARN_EVERY_S = 10.0
_DEFAULTS = LimitsConfig()  # the [limits] timeouts; the reasoning is on LimitsConfig
SCRIPTS = {
    "admit": redis_lua.script(redis_lua.ADMIT),
    "settle": redis_lua.script(redis_lua.SETTLE),
    "spend": redis_lua.script(redis_lua.SPEND),
}


def is_unchecked(admission: Admission) -> bool:
    """Whether ``admission`` was granted without the backend (fail-open)."""
    return admission.id.startswith(UNCHECKED_PREFIX)


def _applies(spec: BudgetSpec, model: str) -> bool:
    return spec.model is None or spec.model == model


def _spec_json(spec: BudgetSpec) -> dict[str, Any]:
    return {"key": spec.key, "period": spec.period, "window": spec.window_s}


def admit_request(chain: Sequence[NodeLimits], demand: Demand, adm_id: str, lease_s: int) -> bytes:
    """The JSON argument of the admit script."""
    nodes = []
    for limits in chain:
        node: dict[str, Any] = {"node": limits.node}
        if limits.rpm is not None:
            node["rpm"] = limits.rpm
        if limits.tpm is not None:
            node["tpm"] = limits.tpm
        if limits.concurrency is not None:
            node["conc"] = limits.concurrency
        node["budgets"] = [
            {**_spec_json(b), "limit": b.limit_nanos, "hard": b.hard}
            for b in limits.budgets
            if _applies(b, demand.model)
        ]
        nodes.append(node)
    body = {
        "id": adm_id,
        "lease": lease_s,
        "tokens": demand.tokens,
        "cost": demand.cost_nanos,
        "nodes": nodes,
    }
    return orjson.dumps(body)


def _finished_budgets(adm: Admission) -> list[tuple[str, BudgetSpec, str]]:
    """(node, spec, period id) of every budget the admission reserved on."""
    out = []
    for limits in adm.chain:
        for spec in limits.budgets:
            pid = adm.budget_periods.get(f"{limits.node}|{spec.key}")
            if pid is not None:
                out.append((limits.node, spec, pid))
    return out


def settle_request(adm: Admission, tokens: int, cost: int, lease_s: int) -> bytes:
    """The JSON argument of the settle script (``release`` is a settle of nothing)."""
    extra = tokens - adm.demand.tokens
    tpm = [[n.node, n.tpm, extra] for n in adm.chain if n.tpm is not None and extra != 0]
    budgets = [
        {**_spec_json(spec), "node": node, "pid": pid} for node, spec, pid in _finished_budgets(adm)
    ]
    body = {"id": adm.id, "lease": lease_s, "cost": cost, "tpm": tpm, "budgets": budgets}
    return orjson.dumps(body)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _rate_state(limit: bytes, remaining: bytes, reset: bytes) -> RateState | None:
    if not limit:
        return None
    return RateState(int(limit), int(remaining), float(reset))


def _rejection(reply: list[bytes], chain: Sequence[NodeLimits], demand: Demand) -> Rejected:
    """The ``Rejected`` for a refused admit reply ``[0, kind, node, retry, ...]``."""
    kind, node, retry = _text(reply[1]), _text(reply[2]), _text(reply[3])
    retry_after = float(retry) if retry else None
    limits = next(n for n in chain if n.node == node)
    if kind == "rpm":
        msg = f"{node}: rpm limit of {limits.rpm} requests per minute reached"
    elif kind == "tpm":
        msg = f"{node}: tpm limit of {limits.tpm} tokens per minute reached"
    elif kind == "concurrency":
        msg = f"{node}: {limits.concurrency} calls already in flight"
    else:
        key, spent, reserved = _text(reply[4]), int(reply[5]), int(reply[6])
        spec = next(b for b in limits.budgets if b.key == key)
        scope = f" for model {spec.model}" if spec.model else ""
        msg = (
            f"budget '{key}'{scope} of {node} exhausted: spent {format_cost(spent)}"
            f" + reserved {format_cost(reserved)} + this call {format_cost(demand.cost_nanos)}"
            f" > limit {format_cost(spec.limit_nanos)}"
        )
    return Rejected(kind, node, msg, retry_after)  # type: ignore[arg-type]


class RedisStore:
    """``LimitStore`` on a Redis server shared by replicas; see the module docstring."""

    def __init__(
        self,
        url: str,
        fail_mode: Literal["open", "closed"] = "closed",
        clock: Clock | None = None,
        prefix: str = "llmgw:",
        *,
        connect_timeout_s: float = _DEFAULTS.redis_connect_timeout_s,
        timeout_s: float = _DEFAULTS.redis_timeout_s,
        lease_s: int = 900,
        max_connections: int = 64,
        start_wait_s: float = _DEFAULTS.redis_start_wait_s,
    ) -> None:
        self._fail_mode = fail_mode
        self._clock = clock
        self._prefix = prefix
        self._lease_s = lease_s
        self.link = RedisLink(
            url,
            SCRIPTS,
            connect_timeout_s=connect_timeout_s,
            timeout_s=timeout_s,
            max_connections=max_connections,
            start_wait_s=start_wait_s,
        )
        self._last_warning: float | None = None

    # ---------------------------------------------------------------- plumbing

    async def start(self) -> None:
        """Connect, ping and load the scripts before the gateway reports ready; bounded by
        ``start_wait_s``, after which the fail mode answers calls until Redis is back."""
        await self.link.start()

    def _now_arg(self) -> str:
        if self._clock is None:
            return ""
        return str(round(self._clock.wall() * 1_000_000))

    async def _run(self, name: str, body: bytes) -> list[bytes]:
        """Run one script; raises one of ``UNREACHABLE`` when Redis cannot answer."""
        return await self.link.run(name, [body, self._now_arg(), self._prefix])

    def _warn(self, what: str, exc: BaseException) -> None:
        """Log that Redis is unreachable, at most once per ``WARN_EVERY_S``."""
        now = self._clock.monotonic() if self._clock is not None else time.monotonic()
        if self._last_warning is None or now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            log.warning("limits backend unreachable (%s: %s), %s", type(exc).__name__, exc, what)

    def _unavailable(self, node: str) -> Rejected:
        return Rejected("unavailable", node, "limits backend unreachable", retry_after_s=1)

    # ------------------------------------------------------------------- admit

    async def admit(self, chain: Sequence[NodeLimits], demand: Demand) -> Admission:
        """Grant the call on every node of ``chain`` or raise ``Rejected`` changing nothing."""
        adm_id = uuid.uuid4().hex
        body = admit_request(chain, demand, adm_id, self._lease_s)
        try:
            reply = await self._run("admit", body)
        except UNREACHABLE as exc:
            leaf = chain[-1].node if chain else ""
            if self._fail_mode == "closed":
                self._warn("rejecting calls (fail closed)", exc)
                raise self._unavailable(leaf) from None
            self._warn("admitting calls unchecked (fail open)", exc)
            at = self._clock.wall() if self._clock is not None else time.time()
            return Admission(UNCHECKED_PREFIX + adm_id, tuple(chain), demand, at=at)
        if _text(reply[0]) != "1":
            raise _rejection(reply, chain, demand)
        pids = iter(_text(p) for p in reply[8:])
        periods = {
            f"{limits.node}|{spec.key}": next(pids)
            for limits in chain
            for spec in limits.budgets
            if _applies(spec, demand.model)
        }
        return Admission(
            id=adm_id,
            chain=tuple(chain),
            demand=demand,
            budget_periods=periods,
            requests=_rate_state(*reply[2:5]),
            tokens=_rate_state(*reply[5:8]),
            at=int(reply[1]) / 1_000_000,
        )

    # --------------------------------------------------------- settle/release

    async def _finish(self, adm: Admission, tokens: int, cost: int) -> list[list[bytes]] | None:
        """Close the lease; None when there was nothing to do (unchecked, done, unreachable)."""
        if is_unchecked(adm):
            return None
        try:
            reply = await self._run("settle", settle_request(adm, tokens, cost, self._lease_s))
        except UNREACHABLE as exc:
            self._warn(f"admission {adm.id} not settled", exc)
            return None
        if _text(reply[0]) == "done":
            return None
        return [reply[i : i + 2] for i in range(1, len(reply), 2)]

    async def settle(self, admission: Admission, tokens: int, cost_nanos: int) -> list[BudgetUsage]:
        """Replace the reservation with the actual tokens and cost on every budget reserved at
        admission (in the periods recorded then); free the concurrency slots. Idempotent."""
        pairs = await self._finish(admission, max(0, tokens), max(0, cost_nanos))
        if pairs is None:
            return []
        return [
            BudgetUsage(node, spec.key, pid, spec.limit_nanos, int(s), int(r), spec.hard)
            for (node, spec, pid), (s, r) in zip(_finished_budgets(admission), pairs, strict=True)
        ]

    async def release(self, admission: Admission) -> None:
        """Refund tokens and money of a call that produced nothing; RPM keeps the hit."""
        await self._finish(admission, 0, 0)

    # ------------------------------------------------------------------- views

    async def _spend(self, node: str, budget: BudgetSpec, restore: int | None) -> BudgetUsage:
        body: dict[str, Any] = {"node": node, **_spec_json(budget)}
        if restore is not None:
            body["restore"] = max(0, restore)
        try:
            reply = await self._run("spend", orjson.dumps(body))
        except UNREACHABLE as exc:
            self._warn("budget not read", exc)
            raise self._unavailable(node) from None
        pid, spent, reserved = _text(reply[0]), int(reply[1]), int(reply[2])
        return BudgetUsage(node, budget.key, pid, budget.limit_nanos, spent, reserved, budget.hard)

    async def spend(self, node: str, budget: BudgetSpec) -> BudgetUsage:
        """The budget's current period (zeros when nothing was recorded yet)."""
        return await self._spend(node, budget, None)

    async def restore_spend(self, node: str, budget: BudgetSpec, spent_nanos: int) -> None:
        """Set the current period's spend unless Redis already holds one (another replica's
        value wins)."""
        await self._spend(node, budget, spent_nanos)

    async def aclose(self) -> None:
        """Close the connections of the current loop's client."""
        await self.link.aclose()
