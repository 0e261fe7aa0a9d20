"""`pipeline.consolidation.consolidate` on the per-article gold of the five seeds: the story
of issue 12 (pipeline/consolidation/api.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.consolidation import gold_extractions
from eval.load import load_gold
from pipeline.consolidation import consolidate
from schemas.consolidated import Consolidation

SEEDS = sorted(p.stem for p in Path("seeds").glob("*.txt"))


@pytest.fixture(scope="module")
def seeds_consolidated() -> Consolidation:
    return consolidate(gold_extractions(load_gold(Path("gold"))), articles="seeds")


def test_one_meta_scale_ai_deal_from_talks_to_agreement(seeds_consolidated: Consolidation) -> None:
    [deal] = [
        d
        for d in seeds_consolidated.deals
        if d.deal_type == "investment" and {p.name for p in d.parties} == {"Meta", "Scale AI"}
    ]
    assert sorted({e.doc_id for e in deal.timeline}) == SEEDS  # every seed reports it
    steps = [(e.status, e.amount.value, e.amount.qualifier, e.stake_percent) for e in deal.timeline]
    assert steps == [
        ("in_talks", 10e9, "over", None),
        ("in_talks", 10e9, "over", None),
        ("in_talks", 10e9, "over", None),
        ("agreed", 14e9, "about", 49),
        ("agreed", 14e9, "exact", 49),
    ]
    # 000 is dated by its update note (June 11), not its original text (June 8).
    assert [e.date for e in deal.timeline] == [
        "2025-06-09",
        None,
        None,
        "2025-06-11",
        "2025-06-11",
    ]
    assert deal.current["status"].value == "agreed"
    assert deal.current["stake_percent"].value == 49
    assert deal.current["amount"].value == {"value": 14e9, "currency": "USD", "qualifier": "exact"}
    assert [(c.field, c.status) for c in deal.conflicts] == [("amount", "agreed")]
    assert all(d.verdict == "merge" for d in deal.decisions if {d.a, d.b} <= set(deal.mentions))


def test_the_earlier_investment_and_the_valuation_stay_apart(
    seeds_consolidated: Consolidation,
) -> None:
    """Meta's Series F participation ($1B at a $13.8B valuation) is not the $14B deal."""
    meta_scale = [
        d
        for d in seeds_consolidated.deals
        if {p.name for p in d.parties} == {"Meta", "Scale AI"} and d.deal_type != "partnership"
    ]
    assert len(meta_scale) == 2
    earlier = next(d for d in meta_scale if d.deal_type == "funding_round")
    assert earlier.current["amount"].value["value"] == 1e9
    assert earlier.current["valuation"].value["value"] == 13.8e9
    assert {e.doc_id for e in earlier.timeline} == {
        "000_0709ac1d3ffb39f1",
        "001_153035b9c19ae3c6",
        "002_6bef6f25f7ec2a0a",
    }


def test_background_deals_recur_across_articles(seeds_consolidated: Consolidation) -> None:
    by_parties = {
        (d.deal_type, tuple(p.name for p in d.parties)): len(d.timeline)
        for d in seeds_consolidated.deals
    }
    assert by_parties[("investment", ("Amazon", "Scale AI"))] == 2
    assert by_parties[("contract", ("US Department of Defense", "Scale AI"))] == 3
    assert by_parties[("investment", ("Microsoft", "OpenAI"))] == 1
    assert len(seeds_consolidated.deals) == 13


def test_the_same_records_give_the_same_consolidation() -> None:
    records = gold_extractions(load_gold(Path("gold")))
    first = consolidate(records, articles="seeds").model_dump_json()
    assert consolidate(list(reversed(records)), articles="seeds").model_dump_json() == first
