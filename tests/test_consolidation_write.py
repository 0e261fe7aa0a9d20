"""consolidated.json and the CSV tables (pipeline/consolidation/write.py)."""

from __future__ import annotations

import csv
from pathlib import Path

from eval.consolidation import gold_extractions
from eval.load import load_gold
from pipeline.consolidation import consolidate, write_consolidation
from schemas.consolidated import Consolidation


def test_files_hold_the_consolidation(tmp_path: Path) -> None:
    consolidation = consolidate(gold_extractions(load_gold(Path("gold"))), articles="seeds")
    path = write_consolidation(consolidation, tmp_path / "out")
    assert Consolidation.model_validate_json(path.read_text()) == consolidation
    deals = list(csv.DictReader((tmp_path / "out" / "deals.csv").open(encoding="utf-8")))
    assert len(deals) == len(consolidation.deals)
    headline = next(row for row in deals if row["id"] == "investment:meta+scale-ai")
    assert headline["status"] == "agreed"
    assert headline["amount"] == "USD 14B"
    assert headline["sources"] == "5"
    assert headline["timeline"].startswith("2025-06-09 in_talks over USD 10B | undated in_talks")
    assert headline["conflicts"] == "amount (agreed)"
    companies = list(csv.DictReader((tmp_path / "out" / "companies.csv").open(encoding="utf-8")))
    meta = next(row for row in companies if row["name"] == "Meta")
    assert meta["aliases"] == "Meta Platforms; Meta Platforms Inc."
    assert meta["mentions"] == "5"
    people = (tmp_path / "out" / "people.csv").read_text(encoding="utf-8").splitlines()
    assert people[0] == "id,name,aliases,mentions,documents"
    assert len(people) == 1 + len(consolidation.people)
