"""Candidate recall (the ceiling of a constrained run) on a hand-built run; every share is
worked out by hand in the test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from eval.ceiling import ceiling_table
from eval.load import load_gold, load_run
from eval.scoring import evaluate
from eval.tables import eval_json, write_eval
from schemas.gold import GoldDocument
from tests.dealx_process import write_json

EVIDENCE = [{"quote": "A sentence.", "start": 0, "end": 11}]


def money(value: float) -> dict[str, Any]:
    return {"value": value, "currency": "USD", "qualifier": "exact"}


def deal(deal_type: str, *parties: tuple[str, str], **fields: Any) -> dict[str, Any]:
    sides = [{"name": name, "role": role} for name, role in parties]
    return {"deal_type": deal_type, "parties": sides, "evidence": EVIDENCE, **fields}


GOLD = {
    "doc_id": "d1",
    "companies": [
        {"name": "Meta", "aliases": ["Facebook"], "evidence": EVIDENCE},
        {"name": "Scale AI", "evidence": EVIDENCE},
        {"name": "US Department of Defense", "evidence": EVIDENCE},
        {"name": "Nvidia", "evidence": EVIDENCE, "optional": True},
    ],
    "people": [
        {"name": "Alexandr Wang", "evidence": EVIDENCE},
        {"name": "Mark Zuckerberg", "evidence": EVIDENCE},
        {"name": "Lucy Guo", "evidence": EVIDENCE, "optional": True},
    ],
    "deals": [
        deal(
            "investment",
            ("Meta", "investor"),
            ("Scale AI", "target"),
            amount=money(14e9),
            valuation=money(29e9),
        ),
        deal(
            "contract",
            ("US Department of Defense", "customer"),
            ("Scale AI", "supplier"),
            amount=money(99e6),
            optional_fields=["amount"],
        ),
        deal(
            "funding_round",
            ("Facebook", "investor"),
            ("Scale AI", "target"),
            amount=money(1e9),
            valuation=money(13.8e9),
        ),
        deal(
            "partnership",
            ("Meta", "partner"),
            ("Nvidia", "partner"),
            amount=money(5e9),
            optional=True,
        ),
    ],
}

CANDIDATES = {
    "doc_id": "d1",
    # Meta by its alias, Scale AI with a legal suffix; the Department of Defense is not offered.
    "organizations": ["Facebook", "Scale AI Inc.", "Nvidia"],
    "people": ["Dr. Alexandr Wang", "Lucy Guo"],
    "titles": ["CEO"],
    "amounts": [
        {"text": "about $14.1 billion", "value": 14.1e9},
        {"text": "$13.8 billion", "value": 13.8e9},
        {"text": "$99 million", "value": 99e6},
        {"text": "some money", "value": None},
    ],
    "percents": ["49 percent"],
    "dates": ["June 11, 2025"],
    "deals": [
        {
            "sentence": "Facebook invests in Scale AI.",
            "context": None,
            "parties": ["Facebook", "Scale AI Inc."],
            "people": [],
            "types": ["investment", "funding_round"],
            "statuses": ["agreed"],
        },
        {
            "sentence": "The Pentagon hired Alexandr Wang.",
            "context": "The week before.",
            "parties": ["US Department of Defense"],
            "people": ["Alexandr Wang"],
            "types": ["contract"],
            "statuses": [],
        },
    ],
}

# company: Meta (alias) and Scale AI (suffix) of 3; Nvidia is optional.
# person: Wang (honorific dropped) of 2; Guo is optional.
# amount: 14e9 (14.1e9 is 0.7% off) and 13.8e9 of 14e9, 29e9, 1e9, 13.8e9; the contract's
#   amount is an optional field and the partnership an optional deal.
# deal: investment and funding round ({meta, scale ai} in the first candidate, "Facebook" being
#   Meta's alias on both sides) of 3; no candidate holds both sides of the contract.
EXPECTED = pd.DataFrame(
    {
        "item": ["company", "person", "amount", "deal"],
        "gold": [3, 2, 4, 3],
        "offered": [2, 1, 2, 2],
        "share": [2 / 3, 1 / 2, 2 / 4, 2 / 3],
    }
)


def make_run(root: Path, candidates: bool = True) -> tuple[Path, Path]:
    """A run of d1 (and d3 without gold) plus gold for d1 and d2 (d2 has no candidates)."""
    run, gold = root / "run", root / "gold"
    write_json(gold / "d1.json", GOLD)
    write_json(gold / "d2.json", {"doc_id": "d2", "companies": GOLD["companies"]})
    write_json(run / "records" / "d1.json", {"doc_id": "d1", "companies": GOLD["companies"][:1]})
    write_json(run / "records" / "d3.json", {"doc_id": "d3"})
    if candidates:
        write_json(run / "candidates" / "d1.json", CANDIDATES)
        # No gold: not counted, however much it offers.
        write_json(run / "candidates" / "d3.json", {**CANDIDATES, "doc_id": "d3"})
    return run, gold


def test_ceiling_shares_by_hand(tmp_path: Path) -> None:
    run_dir, gold_dir = make_run(tmp_path)
    evaluation = evaluate(load_run(run_dir), load_gold(gold_dir))
    assert evaluation.ceiling is not None
    pd.testing.assert_frame_equal(evaluation.ceiling, EXPECTED)


def test_ceiling_is_written_with_the_eval(tmp_path: Path) -> None:
    run_dir, gold_dir = make_run(tmp_path)
    evaluation = evaluate(load_run(run_dir), load_gold(gold_dir))
    write_eval(evaluation, run_dir / "eval")
    written = pd.read_csv(run_dir / "eval" / "ceiling.csv")
    pd.testing.assert_frame_equal(written, EXPECTED)
    document = json.loads((run_dir / "eval" / "eval.json").read_text())
    assert document["ceiling"] == eval_json(evaluation)["ceiling"]
    assert [(r["item"], r["offered"]) for r in document["ceiling"]] == [
        ("company", 2),
        ("person", 1),
        ("amount", 2),
        ("deal", 2),
    ]


def test_run_without_candidates_has_no_ceiling(tmp_path: Path) -> None:
    run_dir, gold_dir = make_run(tmp_path, candidates=False)
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "ceiling.csv").write_text("stale\n", encoding="utf-8")
    evaluation = evaluate(load_run(run_dir), load_gold(gold_dir))
    assert evaluation.ceiling is None
    write_eval(evaluation, run_dir / "eval")
    assert "ceiling" not in json.loads((run_dir / "eval" / "eval.json").read_text())
    assert not (run_dir / "eval" / "ceiling.csv").exists()


def test_ceiling_without_gold_values_has_no_share() -> None:
    golds = {"d1": GoldDocument.model_validate({"doc_id": "d1"})}
    frame = ceiling_table({"d1": CANDIDATES}, golds)
    assert frame["gold"].eq(0).all() and frame["offered"].eq(0).all()
    assert frame["share"].isna().all()


def test_a_person_party_is_found_among_the_offered_people() -> None:
    gold = GoldDocument.model_validate(
        {
            "doc_id": "d1",
            "companies": [{"name": "Scale AI", "evidence": EVIDENCE}],
            "deals": [deal("investment", ("Lucy Guo", "investor"), ("Scale AI", "target"))],
        }
    )
    offered = {**CANDIDATES, "deals": [{"parties": ["Scale AI"], "people": ["Lucy Guo"]}]}
    frame = ceiling_table({"d1": offered}, {"d1": gold}).set_index("item")
    assert (frame.loc["deal", "gold"], frame.loc["deal", "offered"]) == (1, 1)
    # Guo as a party is not a gold person record, so the person item has nothing to find.
    assert frame.loc["person", "gold"] == 0
    assert frame.loc["deal", "share"] == pytest.approx(1.0)
