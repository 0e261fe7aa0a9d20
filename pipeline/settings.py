"""Run settings from three places, lowest to highest precedence:
the `[tool.dealx]` table of pyproject.toml, `DEALX_*` environment variables, the command line.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from pipeline.pricing import Price, parse_prices
from schemas.errors import ConfigError

CacheMode = Literal["readwrite", "replay", "refresh", "off"]
Strategy = Literal["plain", "constrained"]
Grounding = Literal["strict", "flag", "off"]


@dataclass(frozen=True)
class Settings:
    """Everything that shapes an extraction run."""

    model: str = "local/smollm2-135m"
    base_url: str | None = None
    prompt: str | None = None  # default: extract_v2 (plain) or constrained_v2 (constrained)
    cache: Path = Path(".dealx/cache.sqlite")
    cache_mode: CacheMode = "readwrite"
    # None: the provider's default (pipeline.providers.register): constrained for the embedded
    # local model (it scores best on the gold, see README), plain for a real model.
    strategy: Strategy | None = None
    grounding: Grounding = "strict"
    concurrency: int = 8
    max_retries: int = 2
    limit: int | None = None
    timeout_s: float = 120.0
    transport_attempts: int = 5
    transport_max_wait_s: float = 60.0
    max_tokens: int = 1024
    # Sampling: 0.0 decodes greedily, so a rerun gives the same answer; above 0 the seed picks
    # one of the answers the model could give (dealx extract --repeat varies it per sample).
    temperature: float = 0.0
    seed: int = 0
    context_tokens: int = 8192
    runs_dir: Path = Path("runs")
    # Budgets of a run (all its invocations together); None: no cap.
    max_cost_usd: float | None = None
    budget_tokens: int | None = None
    # Prices by model spec that replace the shipped list prices ([tool.dealx.prices]).
    prices: dict[str, Price] = field(default_factory=dict)
    paths: list[Path] = field(default_factory=lambda: [Path("seeds")])

    @property
    def prompt_name(self) -> str:
        """The prompt template: as set, else the strategy's default."""
        return self.prompt or ("constrained_v2" if self.strategy == "constrained" else "extract_v2")

    def __post_init__(self) -> None:
        if self.strategy is None:
            # Imported here: the providers import this module for the Settings type.
            from pipeline.providers import default_strategy

            object.__setattr__(self, "strategy", default_strategy(self.model))
        for name, kind in (
            ("cache_mode", CacheMode),
            ("strategy", Strategy),
            ("grounding", Grounding),
        ):
            value = getattr(self, name)
            if value not in get_args(kind):
                choices = " | ".join(get_args(kind))
                raise ConfigError(f"{name}: {value!r} is not one of {choices}")
        # A float always: an int 0 would hash differently in the cache key than 0.0.
        object.__setattr__(self, "temperature", float(self.temperature))
        if self.temperature < 0:
            raise ConfigError(f"temperature: must not be negative, got {self.temperature}")
        if self.concurrency < 1:
            raise ConfigError(f"concurrency: must be at least 1, got {self.concurrency}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit: must be at least 1, got {self.limit}")
        if self.max_retries < 0:
            raise ConfigError(f"max_retries: must not be negative, got {self.max_retries}")
        for name in ("max_cost_usd", "budget_tokens"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name}: must be positive, got {value}")
        if "/" not in self.model:
            raise ConfigError(
                f"model: {self.model!r} is not provider/model, e.g. openai/gpt-4o-mini "
                "or local/smollm2-135m"
            )


def _coerce(name: str, raw: Any) -> Any:
    """Turn a TOML or environment value into the type of the Settings field `name`."""
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if raw is None:
            return None
        if name == "prices":  # a TOML table, or JSON in DEALX_PRICES
            return parse_prices(json.loads(raw) if isinstance(raw, str) else raw)
        if name == "paths":
            items = raw.split(os.pathsep) if isinstance(raw, str) else raw
            return [Path(item) for item in items]
        if "Path" in str(kind):
            return Path(raw)
        if "int" in str(kind):
            return int(raw)
        if "float" in str(kind):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: cannot read {raw!r}: {exc}") from exc


def _from_pyproject(pyproject: Path) -> dict[str, Any]:
    if not pyproject.is_file():
        return {}
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: invalid TOML: {exc}") from exc
    return table.get("tool", {}).get("dealx", {})


def load_settings(
    overrides: dict[str, Any] | None = None,
    *,
    pyproject: Path = Path("pyproject.toml"),
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge pyproject.toml, DEALX_* variables and command-line `overrides` (None = not given)."""
    known = {f.name for f in fields(Settings)}
    merged: dict[str, Any] = {}
    for key, value in _from_pyproject(pyproject).items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError(f"{pyproject}: [tool.dealx] has unknown setting {key!r}")
        merged[name] = _coerce(name, value)
    env = os.environ if environ is None else environ
    for name in known:
        value = env.get(f"DEALX_{name.upper()}")
        if value is not None:
            merged[name] = _coerce(name, value)
    for name, value in (overrides or {}).items():
        if value is not None:
            merged[name] = value
    return Settings(**merged)
