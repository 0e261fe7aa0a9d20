"""Model providers, named by the first part of a model spec (`openai/gpt-4o-mini`).

Adding a provider is one module with a `Provider` subclass and one `register` line below; a
program using dealx as a library can `register` its own the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.pricing import Price
from pipeline.providers.base import Capabilities, Provider
from pipeline.providers.local import LocalProvider
from pipeline.providers.ollama import OllamaProvider
from pipeline.providers.openai import OpenAIProvider
from pipeline.providers.vllm import VLLMProvider
from schemas.errors import ConfigError

if TYPE_CHECKING:  # settings resolve their default strategy here, so no run-time import back
    from pipeline.settings import Settings, Strategy

__all__ = [
    "Capabilities",
    "Provider",
    "default_strategy",
    "names",
    "price_of",
    "price_per_mtok",
    "register",
    "resolve",
    "split_model",
    "unregister",
]

_REGISTRY: dict[str, type[Provider]] = {}


def register(name: str, provider: type[Provider]) -> None:
    """Make `<name>/<model>` specs use `provider`, built as `provider(settings, model)`."""
    if not name or "/" in name:
        raise ValueError(f"provider name must be non-empty and without '/': {name!r}")
    _REGISTRY[name] = provider


def unregister(name: str) -> None:
    """Forget a provider (a test's or a plugin's); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered provider names."""
    return tuple(_REGISTRY)


def split_model(spec: str) -> tuple[str, str]:
    """'openai/gpt-4o-mini' -> ('openai', 'gpt-4o-mini'); an unknown provider is a ConfigError."""
    provider, _, model = spec.partition("/")
    if provider not in _REGISTRY or not model:
        known = ", ".join(f"{name}/<model>" for name in _REGISTRY)
        raise ConfigError(f"model: {spec!r} is not one of {known}")
    return provider, model


def resolve(settings: Settings) -> Provider:
    """The provider for `settings.model`, its settings checked up front (nothing started,
    no key needed yet under --cache-mode replay)."""
    name, model = split_model(settings.model)
    provider = _REGISTRY[name](settings, model)
    provider.check()
    return provider


def default_strategy(spec: str) -> Strategy:
    """The strategy a model spec runs with when none is set (plain for an unknown provider,
    which `resolve` reports)."""
    provider = _REGISTRY.get(spec.partition("/")[0])
    return provider.default_strategy if provider is not None else "plain"


def price_per_mtok(spec: str) -> Price | None:
    """The known list price of a model spec (USD per million tokens), else None."""
    name, _, model = spec.partition("/")
    provider = _REGISTRY.get(name)
    return provider.price_per_mtok(model) if provider is not None else None


def price_of(settings: Settings) -> Price | None:
    """The price a run is charged at: `[tool.dealx.prices]` for its model, else the
    provider's list price, else None (tokens are counted, the cost says "no price")."""
    return settings.prices.get(settings.model) or price_per_mtok(settings.model)


register("local", LocalProvider)
register("openai", OpenAIProvider)
register("ollama", OllamaProvider)
register("vllm", VLLMProvider)
