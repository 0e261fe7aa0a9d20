"""Shared fixtures: running the real `dealx` command line, and no real API key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dealx_process import Dealx, Finished, run_dealx


@pytest.fixture(scope="session")
def dealx() -> Dealx:
    """Run `dealx ARGS` as a user would, via `python -m pipeline` from the repository root."""

    def run(*args: str | Path) -> Finished:
        return run_dealx(list(args))

    return run


@pytest.fixture
def no_real_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OPENAI_API_KEY from the caller's environment reaches an in-process run."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
