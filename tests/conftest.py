"""Shared fixtures: running the real `dealx` command line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dealx() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `dealx ARGS` as a user would, via `python -m pipeline` from the repository root."""

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline", *map(str, args)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run
