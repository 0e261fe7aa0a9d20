"""What calls cost: a price per model (input and output USD per million tokens, and the share
off for the provider's Batch API), from the providers' list prices or `[tool.dealx.prices]`.

A model without a price still has its tokens counted; its cost is None ("no price").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.errors import ConfigError

# OpenAI bills Batch API calls at half its live prices.
OPENAI_BATCH_DISCOUNT = 0.5


@dataclass(frozen=True)
class Price:
    """USD per million tokens in and out, and the fraction the Batch API takes off both."""

    input: float
    output: float
    batch_discount: float = 0.0

    def cost(self, tokens_in: int, tokens_out: int, *, batch: bool = False) -> float:
        """The cost in USD of `tokens_in` prompt and `tokens_out` completion tokens."""
        factor = 1.0 - self.batch_discount if batch else 1.0
        return (tokens_in * self.input + tokens_out * self.output) * factor / 1e6


def parse_prices(table: Mapping[str, Any]) -> dict[str, Price]:
    """`[tool.dealx.prices]` read into prices: one entry per model spec, e.g.
    `"openai/gpt-4o-mini" = {input = 0.15, output = 0.60, batch_discount = 0.5}`."""
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"prices: a table of model specs is expected, not {type(table).__name__}, e.g. "
            '{"openai/gpt-4o-mini": {"input": 0.15, "output": 0.60}}'
        )
    prices: dict[str, Price] = {}
    for spec, entry in table.items():
        if not isinstance(entry, Mapping) or not {"input", "output"} <= set(entry):
            raise ConfigError(f"prices: {spec!r} needs input and output (USD per 1M tokens)")
        unknown = set(entry) - {"input", "output", "batch_discount"}
        if unknown:
            raise ConfigError(f"prices: {spec!r} has unknown field(s) {sorted(unknown)}")
        try:
            price = Price(
                float(entry["input"]),
                float(entry["output"]),
                float(entry.get("batch_discount", 0.0)),
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"prices: {spec!r}: {exc}") from exc
        # NaN fails no comparison, so it is refused by name, with infinity.
        finite = all(math.isfinite(value) for value in (price.input, price.output))
        if not finite or min(price.input, price.output) < 0 or not 0 <= price.batch_discount < 1:
            raise ConfigError(
                f"prices: {spec!r}: prices must be finite and >= 0, batch_discount in [0, 1)"
            )
        prices[spec] = price
    return prices


def cost_usd(
    price: Price | None, tokens_in: int, tokens_out: int, batch_in: int = 0, batch_out: int = 0
) -> float | None:
    """Live tokens at the live price plus batch tokens at the batch price, rounded; None when
    the model has no price."""
    if price is None:
        return None
    total = price.cost(tokens_in, tokens_out) + price.cost(batch_in, batch_out, batch=True)
    return round(total, 6)
