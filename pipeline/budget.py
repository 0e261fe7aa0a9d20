"""Budgets of a run: stop before the next document (or batch) would take spending past
--max-cost-usd or --budget-tokens.

The estimate of a call still needed is its prompt (counted generously from the characters of
its messages and response schema) plus `max_tokens` for the answer, so a call can never spend
more than it reserved unless the model is re-asked. Documents in flight hold their reservation
until they finish; their actual spend then replaces it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.extraction.request import ModelRequest
from pipeline.pricing import Price
from pipeline.settings import Settings
from schemas.errors import ConfigError

# Tokens are counted from characters: English runs about four characters a token and JSON
# Schema fewer, so three characters a token over-estimates rather than under-estimates.
CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class Spend:
    """Prompt and completion tokens, and what they cost (None: the model has no price)."""

    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def prompt_tokens_estimate(request: ModelRequest) -> int:
    """A generous count of the prompt tokens of one request: messages and response schema."""
    schema = request.response_model.model_json_schema()
    chars = len(json.dumps(request.messages, ensure_ascii=False)) + len(json.dumps(schema))
    return chars // CHARS_PER_TOKEN + 1


def estimate(
    requests: Iterable[ModelRequest], max_tokens: int, price: Price | None, *, batch: bool = False
) -> Spend:
    """What `requests` can cost at most, answered once each: prompts plus max_tokens."""
    tokens_in = tokens_out = 0
    for request in requests:
        tokens_in += prompt_tokens_estimate(request)
        tokens_out += max_tokens
    cost = price.cost(tokens_in, tokens_out, batch=batch) if price is not None else None
    return Spend(tokens_in, tokens_out, cost)


class Budget:
    """The caps of a run and what is spent or reserved against them."""

    def __init__(self, settings: Settings, price: Price | None, spent: Spend) -> None:
        if settings.max_cost_usd is not None and price is None:
            raise ConfigError(
                f"--max-cost-usd: no price for {settings.model}; add it to "
                "[tool.dealx.prices] in pyproject.toml, or cap tokens with --budget-tokens"
            )
        self.max_cost_usd = settings.max_cost_usd
        self.max_tokens = settings.budget_tokens
        self.spent_tokens = spent.tokens
        self.spent_usd = spent.cost_usd or 0.0
        self.reserved_tokens = 0
        self.reserved_usd = 0.0

    @property
    def capped(self) -> bool:
        return self.max_cost_usd is not None or self.max_tokens is not None

    def fits(self, need: Spend) -> bool:
        """Whether `need` fits beside what is spent and reserved."""
        tokens = self.spent_tokens + self.reserved_tokens + need.tokens
        if self.max_tokens is not None and tokens > self.max_tokens:
            return False
        if self.max_cost_usd is not None:
            total = self.spent_usd + self.reserved_usd + (need.cost_usd or 0.0)
            if total > self.max_cost_usd:
                return False
        return True

    def reserve(self, need: Spend) -> bool:
        """Hold `need` for a document about to start; False (nothing held) if it does not fit."""
        if not self.fits(need):
            return False
        self.reserved_tokens += need.tokens
        self.reserved_usd += need.cost_usd or 0.0
        return True

    def settle(self, held: Spend, actual: Spend) -> None:
        """A document finished: release what it held, count what it spent."""
        self.reserved_tokens -= held.tokens
        self.reserved_usd -= held.cost_usd or 0.0
        self.spent_tokens += actual.tokens
        self.spent_usd += actual.cost_usd or 0.0

    def describe(self) -> str:
        """What the caps are and how much of them is spent, for the stop message."""
        parts = []
        if self.max_cost_usd is not None:
            parts.append(f"${self.spent_usd:.4f} of --max-cost-usd {self.max_cost_usd}")
        if self.max_tokens is not None:
            parts.append(f"{self.spent_tokens} of --budget-tokens {self.max_tokens} tokens")
        return ", ".join(parts)
