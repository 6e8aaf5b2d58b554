"""Ordering a model's deployments for one call: first = preferred, the rest = failover order.

``order(candidates, strategy, health, prices, rng)`` returns a new list; the strategies
(``llmgw.settings.schema.STRATEGIES``):

- ``priority``: the order written in the config.
- ``weighted``: weighted random without replacement by ``Deployment.weight``: the first pick
  is deployment *i* with probability ``w_i / sum(w)``, the second is drawn the same way from
  the rest, and so on (Efraimidis-Spirakis: sort by ``-ln(U) / w``, one draw per deployment).
- ``latency``: lowest latency EWMA first. Deployments with no recorded call yet come first
  (explore); those whose calls all failed (no latency sample) come last.
- ``cost``: cheapest first by ``prices(deployment)``, the input + output price per million
  tokens; an unknown price (None) sorts last.
- ``least_busy``: fewest calls in flight first.

Ties keep config order (the sorts are stable). Called per request: one sort of a handful of
items, no other work.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from decimal import Decimal

from llmgw.routing.health import HealthBoard
from llmgw.settings.schema import STRATEGIES, Deployment, Price

PriceOf = Callable[[Deployment], Decimal | None]

_NO_DATA, _MEASURED, _ONLY_FAILED = 0, 1, 2


def order(
    candidates: Sequence[Deployment],
    strategy: str,
    health: HealthBoard,
    prices: PriceOf,
    rng: random.Random,
) -> list[Deployment]:
    """``candidates`` in the order ``strategy`` prefers them (see the module docstring)."""
    if len(candidates) < 2 or strategy == "priority":
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown routing strategy {strategy!r}")
        return list(candidates)
    if strategy == "weighted":
        return sorted(candidates, key=lambda d: _weighted_key(d, rng))
    if strategy == "latency":
        return sorted(candidates, key=lambda d: _latency_key(d, health))
    if strategy == "cost":
        return sorted(candidates, key=lambda d: _cost_key(d, prices))
    if strategy == "least_busy":
        return sorted(candidates, key=lambda d: _busy_key(d, health))
    raise ValueError(f"unknown routing strategy {strategy!r}")


def _weighted_key(deployment: Deployment, rng: random.Random) -> float:
    # Exponential race: the smallest -ln(U)/w wins with probability w / sum(w).
    u = 1.0 - rng.random()  # in (0, 1]: ln is defined
    return -math.log(u) / max(deployment.weight, 1)


def _latency_key(deployment: Deployment, health: HealthBoard) -> tuple[int, float]:
    h = health.peek(deployment.id)
    if h is None or not h.has_data:
        return (_NO_DATA, 0.0)
    if h.latency_s is None:
        return (_ONLY_FAILED, 0.0)
    return (_MEASURED, h.latency_s)


def _cost_key(deployment: Deployment, prices: PriceOf) -> tuple[bool, Decimal]:
    price = prices(deployment)
    return (True, Decimal(0)) if price is None else (False, price)


def _busy_key(deployment: Deployment, health: HealthBoard) -> int:
    h = health.peek(deployment.id)
    return 0 if h is None else h.in_flight


def blended_price(price: Price | None) -> Decimal | None:
    """Input + output dollars per million tokens of a price entry: the ``cost`` sort key."""
    if price is None:
        return None
    return price.input_per_mtok + price.output_per_mtok
