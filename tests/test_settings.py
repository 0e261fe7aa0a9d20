"""Settings precedence: pyproject.toml [tool.dealx] < DEALX_* environment < command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.settings import load_settings
from schemas.errors import ConfigError


def write_pyproject(tmp_path: Path, table: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(f"[project]\nname = 'x'\n\n[tool.dealx]\n{table}\n")
    return path


def test_command_line_beats_environment_beats_pyproject(tmp_path: Path) -> None:
    pyproject = write_pyproject(tmp_path, 'prompt = "from_toml"\nconcurrency = 3\nmax-retries = 5')
    environ = {"DEALX_CONCURRENCY": "7", "DEALX_CACHE_MODE": "replay"}
    settings = load_settings({"concurrency": 11}, pyproject=pyproject, environ=environ)
    assert settings.prompt == "from_toml"  # only pyproject sets it
    assert settings.max_retries == 5  # dashes allowed in TOML keys
    assert settings.cache_mode == "replay"  # environment over default
    assert settings.concurrency == 11  # command line over environment over pyproject
    assert load_settings({}, pyproject=pyproject, environ=environ).concurrency == 7


def test_unset_command_line_options_do_not_override(tmp_path: Path) -> None:
    pyproject = write_pyproject(tmp_path, 'model = "openai/gpt-4o-mini"')
    settings = load_settings({"model": None}, pyproject=pyproject, environ={})
    assert settings.model == "openai/gpt-4o-mini"


def test_paths_from_environment(tmp_path: Path) -> None:
    settings = load_settings({}, pyproject=tmp_path / "none.toml", environ={"DEALX_PATHS": "a:b"})
    assert settings.paths == [Path("a"), Path("b")]


def test_temperature_and_seed_from_pyproject_and_environment(tmp_path: Path) -> None:
    pyproject = write_pyproject(tmp_path, "temperature = 1\nseed = 7")
    settings = load_settings({}, pyproject=pyproject, environ={"DEALX_SEED": "11"})
    assert (settings.temperature, settings.seed) == (1.0, 11)
    assert isinstance(settings.temperature, float)  # TOML's 1 is the float of the cache key
    default = load_settings({}, pyproject=tmp_path / "none.toml", environ={})
    assert (default.temperature, default.seed) == (0.0, 0)


@pytest.mark.parametrize(
    ("table", "environ", "message"),
    [
        ('color = "blue"', {}, "unknown setting 'color'"),
        ("", {"DEALX_CONCURRENCY": "many"}, "concurrency: cannot read 'many'"),
        ("", {"DEALX_CACHE_MODE": "sometimes"}, "cache_mode: 'sometimes' is not one of"),
        ('strategy = "clever"', {}, r"strategy: 'clever' is not one of plain \| constrained"),
        (
            "",
            {"DEALX_GROUNDING": "loose"},
            r"grounding: 'loose' is not one of strict \| flag \| off",
        ),
        ('model = "gpt-4o"', {}, "is not provider/model"),
        ("concurrency = 0", {}, "concurrency: must be at least 1"),
        ("temperature = -0.5", {}, "temperature: must not be negative, got -0.5"),
        ("", {"DEALX_SEED": "lucky"}, "seed: cannot read 'lucky'"),
    ],
)
def test_bad_settings_are_config_errors(
    tmp_path: Path, table: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, pyproject=write_pyproject(tmp_path, table), environ=environ)


@pytest.mark.parametrize(("option", "value"), [("--strategy", "clever"), ("--grounding", "loose")])
def test_unknown_choice_on_the_command_line_exits_2_before_any_work(
    dealx: Any, tmp_path: Path, option: str, value: str
) -> None:
    result = dealx("extract", "seeds", "--out", tmp_path / "run", option, value)
    assert result.returncode == 2
    assert result.stderr.startswith(f"dealx: error: {option[2:]}: {value!r} is not one of")
    assert not (tmp_path / "run").exists()
