"""Old import names of the provider seam, for call sites not yet moved to `pipeline.providers`
(`resolve`, `Provider`, `price_per_mtok`); to be removed once none is left."""

from __future__ import annotations

from pipeline.providers import Provider as Endpoint
from pipeline.providers import price_per_mtok, split_model
from pipeline.providers import resolve as resolve_endpoint

__all__ = ["Endpoint", "price_per_mtok", "resolve_endpoint", "split_model"]
