"""Exact call cost in integer nano-dollars.

Why nano-dollars (1e-9 USD)
    Prices are quoted in dollars per million tokens, so one token of a model costs
    ``price / 1e6`` dollars. In micro-dollars (1e-6 USD) one token of a $0.15/M model would be
    0.15 µ$, which an integer cannot hold; summing rounded per-call costs would drift. In
    nano-dollars one token costs ``price * 1000`` n$, an integer for every price quoted to
    $0.001 per million tokens (all current list prices, e.g. $0.005/M is 5 n$ per token), so
    costs add up exactly across calls, tenants and days. A signed 64-bit integer still holds
    about $9.2 billion, so counters and ledger columns can be plain ``INTEGER``. Reading and
    writing dollar amounts is ``llmgw.settings.money``'s job.

Rounding
    A price with more precision than that (say $0.0001 per million tokens) leaves a fraction of
    a nano-dollar. :func:`cost_nanos` works in :class:`~decimal.Decimal` and rounds half-up once
    per call, on the call's total, so no call is off by more than half a nano-dollar.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache

from llmgw.settings.money import NANOS_PER_USD
from llmgw.settings.schema import Price
from llmgw.types import Usage

TOKENS_PER_MTOK = 1_000_000
NANOS_PER_TOKEN_PER_USD_MTOK = NANOS_PER_USD // TOKENS_PER_MTOK  # 1000
_PRECISION = 60  # digits; far beyond any token count times any price


@lru_cache(maxsize=4096)
def _rates(price: Price) -> tuple[Decimal, Decimal, Decimal, bool]:
    """Nano-dollars per token (input, cached input, output) and whether all are whole numbers."""
    per = Decimal(NANOS_PER_TOKEN_PER_USD_MTOK)
    cached = price.cached_input_per_mtok
    rates = (
        price.input_per_mtok * per,
        (cached if cached is not None else price.input_per_mtok) * per,
        price.output_per_mtok * per,
    )
    return (*rates, all(r == r.to_integral_value() for r in rates))


def cost_nanos(price: Price | None, usage: Usage) -> int:
    """The cost of ``usage`` at ``price`` in nano-dollars; 0 when ``price`` is None.

    ``usage.input_tokens`` includes the cached ones (OpenAI's convention): cached input tokens
    are charged at the cached price (the input price when the model has none) and the rest of
    the input at the input price; output at the output price. Negative counts count as 0 and
    cached tokens are capped at the input count, so the result is never negative.
    """
    if price is None:
        return 0
    input_tokens = max(usage.input_tokens, 0)
    cached = min(max(usage.cached_input_tokens, 0), input_tokens)
    output_tokens = max(usage.output_tokens, 0)
    rate_in, rate_cached, rate_out, whole = _rates(price)
    if whole:
        return (
            (input_tokens - cached) * int(rate_in)
            + cached * int(rate_cached)
            + output_tokens * int(rate_out)
        )
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        total = (input_tokens - cached) * rate_in + cached * rate_cached + output_tokens * rate_out
        return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))
