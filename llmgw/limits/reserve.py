"""What a call reserves at admission: its worst-case tokens and cost.

The worst case of a call is every input token at the input price (cache discounts are not
assumed) plus the output bound (``max_tokens`` of the request, else the default bound) at the
output price, times the reservation margin. The cost is exact: Decimal arithmetic in
nanodollars, rounded up to a whole nanodollar so a reservation never falls short of the
worst case. A model without a known price reserves no money (it is not charged either).

When a call may be served by several deployments (failover), the caller reserves for the most
expensive of them: ``worst_case``, each priced at the most input it can bill (an exact count
where the gateway has the provider's tokenizer, else the prompt's byte bound).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, Decimal, localcontext
from typing import NamedTuple

from llmgw.accounting.cost import NANOS_PER_TOKEN_PER_USD_MTOK
from llmgw.accounting.pricing import PriceBook
from llmgw.limits.model import Demand

_PRECISION = 60


class Reservation(NamedTuple):
    """Tokens counted against TPM and nanodollars held against budgets until settled."""

    tokens: int
    cost_nanos: int

    def demand(self, model: str) -> Demand:
        """The admission demand of a call to the public model ``model``."""
        return Demand(tokens=self.tokens, cost_nanos=self.cost_nanos, model=model)


def output_bound(max_tokens: int | None, default_max_tokens: int) -> int:
    """The most output tokens a call can produce: its ``max_tokens`` or the default."""
    bound = default_max_tokens if max_tokens is None else max_tokens
    return max(0, bound)


def reservation(
    prices: PriceBook,
    provider_kind: str,
    provider_model: str,
    input_tokens: int,
    max_tokens: int | None,
    default_max_tokens: int,
    margin: Decimal,
    on: dt.date | None = None,
) -> Reservation:
    """The worst case of one call on one deployment (see the module docstring)."""
    inputs = max(0, input_tokens)
    outputs = output_bound(max_tokens, default_max_tokens)
    price = prices.lookup(provider_kind, provider_model, on)
    if price is None:
        return Reservation(inputs + outputs, 0)
    per = Decimal(NANOS_PER_TOKEN_PER_USD_MTOK)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        worst = (inputs * price.input_per_mtok + outputs * price.output_per_mtok) * per * margin
        cost = int(worst.to_integral_value(rounding=ROUND_CEILING))
    return Reservation(inputs + outputs, max(0, cost))


def worst_case(
    prices: PriceBook,
    deployments: Sequence[tuple[str, str]],
    input_tokens: int,
    max_tokens: int | None,
    default_max_tokens: int,
    margin: Decimal,
    on: dt.date | None = None,
    billed_inputs: Mapping[tuple[str, str], int] | None = None,
) -> Reservation:
    """The largest reservation over ``deployments``, given as (provider kind, provider model)
    pairs; with no deployment, the tokens alone.

    ``billed_inputs`` gives, per deployment, the input tokens to price: the most that
    deployment can bill for this prompt (an exact count, or an upper bound where its tokenizer
    is not ours). A deployment not in it is priced at ``input_tokens``. The reservation's tokens
    (held against TPM until settled) are ``input_tokens`` plus the output bound either way.
    """
    tokens = max(0, input_tokens) + output_bound(max_tokens, default_max_tokens)
    cost = 0
    for kind, model in deployments:
        inputs = input_tokens if billed_inputs is None else billed_inputs.get((kind, model))
        r = reservation(
            prices,
            kind,
            model,
            input_tokens if inputs is None else inputs,
            max_tokens,
            default_max_tokens,
            margin,
            on,
        )
        cost = max(cost, r.cost_nanos)
    return Reservation(tokens, cost)
