"""`dealx extract --repeat N`: N samples at seeds S..S+N-1 against the fake server, one run
directory each, then their stability against gold; refused where every sample would be the
same answer; replayed from the cache offline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from eval import score
from eval.stability import stability_table
from pipeline import extract
from tests.dealx_process import (
    ANSWER,
    FACT,
    dealx_env,
    extract_args,
    fake_settings,
    read_manifest,
    run_dealx,
    write_docs,
    write_json,
)
from tests.fake_openai import EMPTY_EXTRACTION, FakeOpenAI, Reply, free_port

pytestmark = pytest.mark.usefixtures("no_real_key")

PARTIES = [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}]


def write_gold(root: Path, doc_ids: list[str]) -> None:
    """gold/ for the test articles: the two companies and the deal that FACT states."""
    start = len(f"Article {doc_ids[0]}: ")
    evidence = [{"quote": FACT, "start": start, "end": start + len(FACT)}]
    for doc_id in doc_ids:
        deal = {
            "deal_type": "investment",
            "parties": PARTIES,
            "amount": {"value": 14e9, "currency": "USD", "qualifier": "about"},
            "stake_percent": 49,
            "evidence": evidence,
        }
        companies = [{"name": p["name"], "evidence": evidence} for p in PARTIES]
        write_json(
            root / "gold" / f"{doc_id}.json",
            {"doc_id": doc_id, "companies": companies, "deals": [deal]},
        )


def misses_at_seed_6(body: dict[str, Any], index: int) -> Reply:
    """A model whose sample at seed 6 finds nothing: right by luck, as a sampled model is."""
    return Reply(EMPTY_EXTRACTION if body.get("seed") == 6 else ANSWER)


def stability_rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    """The rows of the stability table printed on stdout, by record type and field."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if line.startswith("│") and len(cells) == 8:
            rows[(cells[0], cells[1])] = cells[2:]
    return rows


def test_each_sample_sends_its_seed_and_the_stability_is_printed(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 2)
    write_gold(tmp_path, ids)
    out = tmp_path / "out"
    with FakeOpenAI(misses_at_seed_6) as server:
        args = extract_args(
            server.base_url,
            tmp_path / "docs",
            out=out,
            cache=tmp_path / "c.db",
            temperature=0.7,
            seed=5,
            repeat=3,
        )
        result = run_dealx(args, tmp_path, dealx_env(tmp_path))
        sent = sorted((r.body["seed"], r.body["temperature"]) for r in server.chat_requests)
    assert result.returncode == 0, result.stderr
    assert sent == [(5, 0.7), (5, 0.7), (6, 0.7), (6, 0.7), (7, 0.7), (7, 0.7)]
    assert sorted(p.name for p in out.iterdir()) == ["sample-1", "sample-2", "sample-3"]
    for number, seed in ((1, 5), (2, 6), (3, 7)):
        sample = out / f"sample-{number}"
        assert sorted(p.stem for p in (sample / "records").glob("*.json")) == ids
        decoding = read_manifest(sample)["decoding"]
        assert (decoding["temperature"], decoding["seed"]) == (0.7, seed)
        assert f"extract: sample {number} of 3 (seed {seed}) into {sample}" in result.stderr
    assert "Stability of 3 runs" in result.stdout
    rows = stability_rows(result.stdout)
    # items, runs_agree, right_always, right_sometimes, right_never, accuracy
    assert rows[("deal", "(record)")] == ["2", "0.000", "0.000", "1.000", "0.000", "0.667"]
    assert rows[("deal", "stake_percent")][3] == "1.000"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"repeat": 2},
            "dealx: error: --repeat 2 at temperature 0: every sample would be the same greedy "
            "answer; set --temperature above 0 (e.g. 0.7)",
        ),
        (
            {"repeat": 2, "temperature": 0.5, "batch": ""},
            "dealx: error: --repeat sends live requests; it cannot be combined with --batch",
        ),
    ],
    ids=["temperature 0", "batch"],
)
def test_a_repeat_that_cannot_vary_is_refused(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    write_docs(tmp_path / "docs", 1)
    url = f"http://127.0.0.1:{free_port()}/v1"
    args = extract_args(url, tmp_path / "docs", out=tmp_path / "out", cache=tmp_path / "c.db")
    for name, value in options.items():
        args += [f"--{name}", *([str(value)] if value != "" else [])]
    result = run_dealx(args, tmp_path, dealx_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]
    assert not (tmp_path / "out").exists()


def test_a_cached_repeat_replays_offline_into_the_default_run_dir(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 1)
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    write_gold(second, ids)
    cache = tmp_path / "c.db"
    options = {"temperature": 0.7, "seed": 1, "repeat": 2}
    with FakeOpenAI(misses_at_seed_6) as server:
        args = extract_args(
            server.base_url, tmp_path / "docs", out=tmp_path / "out", cache=cache, **options
        )
        recorded = run_dealx(args, first, dealx_env(first))
        assert server.count() == 2
    assert recorded.returncode == 0, recorded.stderr
    # No gold/ where it ran: the samples are written and the user is told how to score them.
    assert f"dealx stability {tmp_path / 'out'}/sample-* --gold GOLD_DIR" in recorded.stderr
    assert "Stability of" not in recorded.stdout
    # The server is gone (its address is part of the cache key): every answer is replayed.
    args = extract_args(
        server.base_url, tmp_path / "docs", out=tmp_path / "x", cache=cache, **options
    )
    args = [a for a in args if a not in ("--out", tmp_path / "x")]
    replayed = run_dealx([*args, "--cache-mode", "replay"], second, dealx_env(second))
    assert replayed.returncode == 0, replayed.stderr
    [run_dir] = (second / "runs").iterdir()
    assert run_dir.name.startswith("openai-fake-model-")
    for number in (1, 2):
        manifest = read_manifest(run_dir / f"sample-{number}")
        assert (manifest["cache_hits"], manifest["cache_misses"]) == (1, 0)
    assert "Stability of 2 runs" in replayed.stdout


def test_from_python_samples_are_extracts_with_their_own_seeds(tmp_path: Path) -> None:
    """The loop the README shows: one `extract` per seed at a temperature above 0, then
    their stability."""
    ids = write_docs(tmp_path / "docs", 1)
    write_gold(tmp_path, ids)
    with FakeOpenAI(misses_at_seed_6) as server:
        base = fake_settings(server.base_url, tmp_path, temperature=0.7)
        samples = [extract(tmp_path / "docs", settings=replace(base, seed=s)) for s in (5, 6)]
        sent = [(r.body["seed"], r.body["temperature"]) for r in server.chat_requests]
    assert sent == [(5, 0.7), (6, 0.7)]
    table = stability_table([score(sample, tmp_path / "gold") for sample in samples])
    found = table.set_index(["record_type", "field"]).loc[("deal", "(record)")]
    assert (found["runs_agree"], found["right_sometimes"]) == (0.0, 1.0)
