"""Scoring a consolidation against gold/consolidated.json (eval/consolidation.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pipeline
from eval.consolidated_gold import load_consolidated_gold
from eval.consolidation import (
    bcubed,
    evaluate_consolidation,
    gold_extractions,
    pairwise,
    score_consolidated,
)
from eval.load import load_gold
from pipeline.consolidation import consolidate
from pipeline.store.cache import ResponseCache
from pipeline.store.cache_transfer import import_entries
from tests.dealx_process import Dealx

GOLD = Path("gold")


def gold_run(root: Path) -> Path:
    """A run directory whose records are the per-article gold, articles in its manifest."""
    run = root / "gold-run"
    (run / "records").mkdir(parents=True)
    for record in gold_extractions(load_gold(GOLD)):
        (run / "records" / f"{record.doc_id}.json").write_text(record.model_dump_json())
    inputs = {p.stem: {"path": str(p.resolve())} for p in Path("seeds").glob("*.txt")}
    (run / "manifest.json").write_text(json.dumps({"inputs": inputs}))
    return run


def test_the_consolidated_gold_of_the_seeds_scores_one(tmp_path: Path) -> None:
    scores = score_consolidated(gold_run(tmp_path), GOLD)
    assert set(scores.clusters["record_type"]) == {"deal", "company", "person"}
    assert (scores.clusters[["precision", "recall", "f1"]] == 1.0).all().all()
    assert (scores.fields[["fp", "fn"]] == 0).all().all()
    assert (
        scores.fields["tp"].sum() == 83
    )  # 13 deals x 4 always-set fields + 5 amounts, stakes, valuations + 2 conflicts + 24 names
    assert scores.headline == {"cluster_f1_min": 1.0, "field_f1": 1.0}
    assert (scores.deals["wrong_fields"] == "").all()


def test_joining_two_gold_deals_costs_precision_and_fields() -> None:
    """Merge the background Amazon and Nvidia deals into one: pairwise precision drops."""
    golds = load_gold(GOLD)
    records = {r.doc_id: r for r in gold_extractions(golds)}
    consolidation = consolidate(records, articles="seeds")
    amazon = next(
        d
        for d in consolidation.deals
        if d.parties[0].name == "Amazon" and d.parties[1].name == "Scale AI"
    )
    nvidia = next(d for d in consolidation.deals if d.parties[0].name == "Nvidia")
    merged = amazon.model_copy(update={"mentions": amazon.mentions + nvidia.mentions})
    deals = [merged if d is amazon else d for d in consolidation.deals if d is not nvidia]
    scores = evaluate_consolidation(
        consolidation.model_copy(update={"deals": deals}),
        records,
        golds,
        load_consolidated_gold(GOLD / "consolidated.json"),
    )
    pairwise = scores.clusters.set_index(["record_type", "metric"]).loc[("deal", "pairwise")]
    assert pairwise["recall"] == 1.0
    assert pairwise["precision"] < 1.0
    assert "Nvidia backs Scale AI" in set(
        scores.deals.loc[scores.deals["predicted_deal"].isna(), "gold_deal"]
    )


def test_pairwise_and_bcubed_by_hand() -> None:
    gold = [{"a", "b", "c"}, {"d"}]
    predicted = [{"a", "b"}, {"c", "d"}]
    # Pairs: predicted {ab, cd}, gold {ab, ac, bc}: 1 of 2 right, 1 of 3 found.
    assert pairwise(predicted, gold) == (0.5, pytest.approx(1 / 3))
    # B-cubed precision: a, b: 2/2; c, d: 1/2 -> 0.75. Recall: a, b: 2/3; c: 1/3; d: 1/1.
    precision, recall = bcubed(predicted, gold)
    assert precision == 0.75
    assert recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1) / 4)
    # A spurious mention is its own gold cluster; a missed one its own predicted cluster.
    assert bcubed([{"a", "x"}], [{"a"}, {"m"}]) == (0.5, 1.0)


def test_eval_consolidated_command(tmp_path: Path, dealx: Dealx) -> None:
    run = gold_run(tmp_path)
    result = dealx("eval", run, "--consolidated", "--format", "json", "--fail-under", "1.0")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["headline"] == {"cluster_f1_min": 1.0, "field_f1": 1.0}
    assert {(row["record_type"], row["metric"]) for row in document["clusters"]} == {
        (kind, metric)
        for kind in ("deal", "company", "person")
        for metric in ("pairwise", "bcubed")
    }
    (run / "records" / "004_be305ebc2eef9ae7.json").unlink()
    failing = dealx("eval", run, "--consolidated", "--fail-under-fields", "0.99")
    assert failing.returncode == 1
    assert "field_f1" in failing.stderr and "below --fail-under-fields 0.99" in failing.stderr


def test_the_embedded_model_s_replayed_run_scores_as_the_readme_says(tmp_path: Path) -> None:
    """The README's figures for SmolLM2-135M: the constrained run replayed from the fixtures."""
    cache = tmp_path / "cache.sqlite"
    with ResponseCache(cache) as store:
        import_entries(store, Path("tests/fixtures/responses"))
    results = pipeline.extract(["seeds"], cache=cache, cache_mode="replay", strategy="constrained")
    scores = score_consolidated(results, GOLD, articles="seeds")
    f1 = scores.clusters.set_index(["record_type", "metric"])["f1"].round(3).to_dict()
    assert f1 == {
        ("deal", "pairwise"): 0.069,
        ("deal", "bcubed"): 0.654,
        ("company", "pairwise"): 0.541,
        ("company", "bcubed"): 0.766,
        ("person", "pairwise"): 0.8,
        ("person", "bcubed"): 0.92,
    }
    assert round(scores.headline["field_f1"], 3) == 0.278
