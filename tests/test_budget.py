"""Budgets: --budget-tokens and --max-cost-usd stop a live run before it could pass them,
never after; in-flight documents finish, the run exits 4, and a rerun with more resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.pricing import Price
from schemas.errors import EXIT_BUDGET, EXIT_USAGE, BudgetExceeded, ConfigError
from tests.dealx_process import (
    ANSWER,
    dealx_env,
    extract_args,
    extract_in_process,
    fake_settings,
    read_manifest,
    run_dealx,
    write_docs,
)
from tests.fake_openai import FakeOpenAI, Reply

PRICE = {"openai/fake-model": Price(2.0, 8.0, 0.5)}


def test_token_budget_is_never_crossed_and_a_higher_one_resumes(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 12)
    run = tmp_path / "run"
    with FakeOpenAI(Reply(ANSWER), latency=0.02) as server:
        probe = fake_settings(server.base_url, tmp_path, cache=tmp_path / "probe.sqlite")
        per_doc = extract_in_process(probe, tmp_path / "probe")["run"]
        spent_per_doc = (per_doc["tokens_in"] + per_doc["tokens_out"]) / len(ids)
        server_calls = len(server.chat_requests)
        cap = int(spent_per_doc * 8)  # the estimates (max_tokens each) are far above this
        settings = fake_settings(server.base_url, tmp_path, concurrency=4, budget_tokens=cap)
        with pytest.raises(BudgetExceeded, match="--budget-tokens"):
            extract_in_process(settings, run)
        first = read_manifest(run)
        done = first["documents"]["ok"]
        assert 0 < done < len(ids)
        assert first["run"]["tokens_in"] + first["run"]["tokens_out"] <= cap
        assert len(server.chat_requests) - server_calls == done  # no document half started
        more = fake_settings(server.base_url, tmp_path, concurrency=4, budget_tokens=cap * 10)
        manifest = extract_in_process(more, run)
        assert len(server.chat_requests) - server_calls == len(ids)  # none asked twice
    assert manifest["documents"]["records_in_run"] == len(ids)
    assert manifest["run"]["tokens_in"] + manifest["run"]["tokens_out"] <= cap * 10
    assert manifest["budget"] == {"max_cost_usd": None, "budget_tokens": cap * 10}


def test_cost_budget_counts_at_the_configured_price(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 10)
    run = tmp_path / "run"
    with FakeOpenAI(Reply(ANSWER)) as server:
        cap = 0.02
        settings = fake_settings(
            server.base_url, tmp_path, concurrency=3, prices=PRICE, max_cost_usd=cap
        )
        with pytest.raises(BudgetExceeded, match=r"--max-cost-usd 0.02"):
            extract_in_process(settings, run)
    manifest = read_manifest(run)
    spent = manifest["run"]
    assert 0 < manifest["documents"]["ok"] < 10
    assert spent["cost_usd"] == pytest.approx(
        (spent["tokens_in"] * 2.0 + spent["tokens_out"] * 8.0) / 1e6, abs=1e-6
    )
    assert spent["cost_usd"] <= cap


def test_a_cost_budget_needs_a_price(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    settings = fake_settings("http://127.0.0.1:9/v1", tmp_path, max_cost_usd=1.0)
    with pytest.raises(ConfigError, match="no price for openai/fake-model"):
        extract_in_process(settings, tmp_path / "run")


def test_the_command_exits_4_with_one_line_at_the_budget(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 3)
    with FakeOpenAI(Reply(ANSWER)) as server:
        args = extract_args(
            server.base_url,
            tmp_path / "docs",
            out=tmp_path / "run",
            cache=tmp_path / "cache.sqlite",
            budget_tokens=10,
        )
        result = run_dealx(args, env=dealx_env(tmp_path))
        assert not server.chat_requests
    assert result.returncode == EXIT_BUDGET, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("dealx:")]
    assert len(lines) == 1 and "stopped at the budget" in lines[0], result.stderr
    no_price = run_dealx([*args, "--max-cost-usd", "1"], env=dealx_env(tmp_path))
    assert no_price.returncode == EXIT_USAGE and "no price" in no_price.stderr
