"""Run settings from three places, lowest to highest precedence:
the `[tool.dealx]` table of pyproject.toml, `DEALX_*` environment variables, the command line.
"""

from __future__ import annotations

import json
import math
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
        for setting in fields(self):
            _check(setting.name, getattr(self, setting.name))
        # A float always: an int 0 would hash differently in the cache key than 0.0.
        object.__setattr__(self, "temperature", float(self.temperature))


_CHOICES = {"cache_mode": CacheMode, "strategy": Strategy, "grounding": Grounding}
# None passes where a field allows it: no cap, all documents.
_AT_LEAST_1 = ("concurrency", "limit", "transport_attempts", "max_tokens", "context_tokens")
_NOT_NEGATIVE = ("max_retries", "temperature", "transport_max_wait_s")
_POSITIVE = ("timeout_s", "max_cost_usd", "budget_tokens")


def _problem(name: str, value: Any) -> str | None:
    """Why `value` cannot be the setting `name`, or None."""
    if name in _CHOICES:
        choices = get_args(_CHOICES[name])
        return None if value in choices else f"{value!r} is not one of {' | '.join(choices)}"
    if name == "model" and "/" not in value:
        return f"{value!r} is not provider/model, e.g. openai/gpt-4o-mini or local/smollm2-135m"
    if value is None or not isinstance(value, int | float):
        return None
    # NaN passes every comparison below, and NaN or infinity would reach the requests (which
    # JSON cannot encode) and manifest.json (which would no longer be JSON).
    if not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if name in _AT_LEAST_1 and value < 1:
        return f"must be at least 1, got {value}"
    if name in _NOT_NEGATIVE and value < 0:
        return f"must not be negative, got {value}"
    if name in _POSITIVE and value <= 0:
        return f"must be positive, got {value}"
    return None


# Where a value was set, as the text before and after `name: problem` in a message: nothing
# for the command line and Python; pyproject.toml first, as the file it is; a variable last,
# so that the message still starts with the setting's name, as for the option.
Origin = tuple[str, str]


def _check(name: str, value: Any, origin: Origin = ("", "")) -> Any:
    """`value` when it can be the setting `name`; else a ConfigError naming where it was set
    and the problem."""
    problem = _problem(name, value)
    if problem is not None:
        raise ConfigError(f"{origin[0]}{name}: {problem}{origin[1]}")
    return value


def _coerce(name: str, raw: Any, origin: Origin) -> Any:
    """Turn a TOML or environment value into the type of the Settings field `name`, checked;
    a ConfigError names `origin`, where it was set."""
    kind = str({f.name: f.type for f in fields(Settings)}[name])
    try:
        if name == "prices":  # a TOML table, or JSON in DEALX_PRICES
            return parse_prices(json.loads(raw) if isinstance(raw, str) else raw)
        if name == "paths":
            items = raw.split(os.pathsep) if isinstance(raw, str) else raw
            return [Path(item) for item in items]
        if "Path" in kind:
            return Path(raw)
        if ("int" in kind or "float" in kind) and isinstance(raw, bool):
            # TOML's true would pass as 1.
            raise TypeError(f"a number is expected, not {type(raw).__name__}")
        if "int" in kind:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError("a whole number is expected")
            return _check(name, int(raw), origin)
        if "float" in kind:
            return _check(name, float(raw), origin)
        return _check(name, str(raw), origin)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{origin[0]}{name}: cannot read {raw!r}: {exc}{origin[1]}") from exc
    except RecursionError as exc:  # not a ValueError: json gives up on deep nesting
        raise ConfigError(f"{origin[0]}{name}: invalid JSON: nested too deeply{origin[1]}") from exc
    except ConfigError as exc:
        if name == "prices":  # parse_prices names the setting, not where it was set
            raise ConfigError(f"{origin[0]}{exc}{origin[1]}") from exc
        raise


def _from_pyproject(pyproject: Path) -> dict[str, Any]:
    """The [tool.dealx] table of `pyproject`; {} when there is no such file."""
    if not pyproject.is_file():
        return {}
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{pyproject}: not UTF-8 (byte {exc.start}), as TOML must be") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: invalid TOML: {exc}") from exc
    except RecursionError as exc:  # not a TOMLDecodeError: tomllib gives up on deep nesting
        raise ConfigError(f"{pyproject}: invalid TOML: nested too deeply") from exc
    tool = table.get("tool", {})
    dealx = tool.get("dealx", {}) if isinstance(tool, dict) else {}
    if not isinstance(tool, dict) or not isinstance(dealx, dict):
        raise ConfigError(f"{pyproject}: [tool.dealx] must be a table of settings")
    return dealx


def load_settings(
    overrides: dict[str, Any] | None = None,
    *,
    pyproject: Path = Path("pyproject.toml"),
    environ: dict[str, str] | None = None,
) -> Settings:
    """Merge pyproject.toml, DEALX_* variables and command-line `overrides` (None = not given);
    a bad value is a ConfigError naming the file or variable it came from."""
    known = {f.name for f in fields(Settings)}
    merged: dict[str, Any] = {}
    for key, value in _from_pyproject(pyproject).items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError(f"{pyproject}: [tool.dealx] has unknown setting {key!r}")
        merged[name] = _coerce(name, value, (f"{pyproject}: [tool.dealx] ", ""))
    env = os.environ if environ is None else environ
    for name in known:
        variable = f"DEALX_{name.upper()}"
        value = env.get(variable)
        if value is not None:
            merged[name] = _coerce(name, value, ("", f" (set by {variable})"))
    for name, value in (overrides or {}).items():
        if value is not None:
            merged[name] = value
    return Settings(**merged)
