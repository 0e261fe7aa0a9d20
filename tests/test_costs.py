"""Tokens and cost of every call: re-asks and failed attempts that returned usage count, per
document and per run, at the shipped list price, a [tool.dealx.prices] override, or "no price"."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline.pricing import Price
from pipeline.providers import price_of
from pipeline.settings import load_settings
from schemas.errors import ConfigError
from tests.dealx_process import (
    ANSWER,
    dealx_env,
    extract_args,
    extract_in_process,
    fake_settings,
    run_dealx,
    write_docs,
)
from tests.fake_openai import FakeOpenAI, Reply, ScriptByMarker

INVALID = '{"companies": [{"name": ""}]}'
USAGE = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}


def test_reasks_and_failed_attempts_are_counted(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 3)
    script = ScriptByMarker(
        {
            ids[1]: [Reply(INVALID, usage=USAGE), Reply(ANSWER, usage=USAGE)],  # one re-ask
            ids[2]: [Reply(INVALID, usage=USAGE)] * 3,  # fails after max_retries=2 re-asks
        },
        Reply(ANSWER, usage=USAGE),
    )
    prices = {"openai/fake-model": Price(1.0, 10.0)}
    with FakeOpenAI(script) as server:
        settings = fake_settings(server.base_url, tmp_path, prices=prices)
        manifest = extract_in_process(settings, tmp_path / "run")
    with (tmp_path / "run" / "documents.csv").open(encoding="utf-8") as handle:
        rows = {row["doc_id"]: row for row in csv.DictReader(handle)}
    assert [int(rows[d]["tokens_in"]) for d in ids] == [100, 200, 300]
    assert [int(rows[d]["tokens_out"]) for d in ids] == [10, 20, 30]
    assert rows[ids[2]]["status"] == "failed"
    assert float(rows[ids[1]]["cost_usd"]) == pytest.approx((200 * 1.0 + 20 * 10.0) / 1e6)
    assert (manifest["tokens_in"], manifest["tokens_out"]) == (600, 60)
    assert manifest["cost_usd"] == pytest.approx((600 + 600) / 1e6)
    assert manifest["run"]["cost_usd"] == manifest["cost_usd"]
    assert manifest["price"] == {"input": 1.0, "output": 10.0, "batch_discount": 0.0}


def test_prices_come_from_the_shipped_table_or_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[tool.dealx.prices."openai/fake-model"]\ninput = 0.5\noutput = 1.5\nbatch_discount = 0.5\n'
        '[tool.dealx.prices."openai/gpt-4o-mini"]\ninput = 9\noutput = 9\n'
    )
    settings = load_settings({"model": "openai/fake-model"}, pyproject=pyproject, environ={})
    assert price_of(settings) == Price(0.5, 1.5, 0.5)
    mini = load_settings({"model": "openai/gpt-4o-mini"}, pyproject=pyproject, environ={})
    assert price_of(mini) == Price(9.0, 9.0)  # the override wins over the list price
    shipped = load_settings({"model": "openai/gpt-4o-mini"}, pyproject=tmp_path / "none.toml")
    assert price_of(shipped) == Price(0.15, 0.60, 0.5)
    assert Price(0.15, 0.60, 0.5).cost(1_000_000, 1_000_000, batch=True) == pytest.approx(0.375)
    assert price_of(load_settings({"model": "ollama/llama3.2"}, environ={})) is None
    pyproject.write_text('[tool.dealx.prices."openai/x"]\ninput = 1\n')
    with pytest.raises(ConfigError, match="needs input and output"):
        load_settings(pyproject=pyproject, environ={})
    pyproject.write_text(
        '[tool.dealx.prices."openai/x"]\ninput = 1\noutput = 1\nbatch_discount = 2\n'
    )
    with pytest.raises(ConfigError, match="batch_discount"):
        load_settings(pyproject=pyproject, environ={})


def test_summary_and_runs_show_tokens_and_cost_or_no_price(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    runs = tmp_path / "runs"
    with FakeOpenAI(Reply(ANSWER, usage=USAGE)) as server:
        args = extract_args(
            server.base_url, tmp_path / "docs", out=runs / "a", cache=tmp_path / "c.sqlite"
        )
        result = run_dealx(args, env=dealx_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "run tokens 200 in / 20 out; cost no price for openai/fake-model" in result.stdout
    listing = run_dealx(["runs", "--runs-dir", runs, "--format", "json"], env=dealx_env(tmp_path))
    assert listing.returncode == 0, listing.stderr
    (row,) = json.loads(listing.stdout)
    assert row["tokens"] == 220 and row["cost_usd"] is None
