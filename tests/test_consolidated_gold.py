"""gold/consolidated.json checked against the per-article gold (eval/consolidated_gold.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from eval.consolidated_gold import check_consolidated_gold
from eval.gold import validate_gold_dir
from eval.load import load_gold

GOLD = Path("gold")


def test_the_consolidated_gold_is_clean_and_clusters_every_record() -> None:
    golds = load_gold(GOLD)
    assert check_consolidated_gold(GOLD / "consolidated.json", golds) == []
    data = json.loads((GOLD / "consolidated.json").read_text(encoding="utf-8"))
    records = sum(len(g.companies) + len(g.people) + len(g.deals) for g in golds.values())
    assert (
        sum(len(c["mentions"]) for s in ("companies", "people", "deals") for c in data[s])
        == records
    )


def test_the_headline_deal_is_labeled_as_issue_12_tells_it() -> None:
    data = json.loads((GOLD / "consolidated.json").read_text(encoding="utf-8"))
    deal = data["deals"][0]
    assert {m.split(":")[0] for m in deal["mentions"]} == {
        p.stem for p in Path("seeds").glob("*.txt")
    }
    assert [e["status"] for e in deal["timeline"]] == ["in_talks"] * 3 + ["agreed"] * 2
    assert deal["current"]["stake_percent"] == 49


def test_problems_are_named_by_field(tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    shutil.copytree(GOLD, gold)
    data = json.loads((gold / "consolidated.json").read_text(encoding="utf-8"))
    data["companies"][0]["mentions"].pop()  # 004's Meta in no cluster
    data["people"][1]["mentions"].append("000_0709ac1d3ffb39f1:people[9]")  # no such record
    data["deals"][0]["timeline"][0]["status"] = "agreed"  # 001 says in_talks
    data["deals"][0]["current"]["parties"][0]["name"] = "Meta Platforms"  # not a cluster name
    (gold / "consolidated.json").write_text(json.dumps(data), encoding="utf-8")
    problems = [str(p) for p in validate_gold_dir(gold, Path("seeds"))]
    path = gold / "consolidated.json"
    doc0, doc1 = "000_0709ac1d3ffb39f1", "001_153035b9c19ae3c6"
    assert problems == [
        f"{path}: companies: 004_be305ebc2eef9ae7:companies[0] is in no cluster",
        f"{path}: people[1].mentions: {doc0}:people[9]: {doc0} has 3 people",
        f"{path}: deals[0].timeline[0].status: 'agreed' but {doc1}:deals[0] says 'in_talks'",
        f"{path}: deals[0].current.parties: 'Meta Platforms' is no entity cluster's name",
    ]


def test_a_consolidated_gold_that_is_not_json_is_one_problem(tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    shutil.copytree(GOLD, gold)
    (gold / "consolidated.json").write_text("{", encoding="utf-8")
    [problem] = validate_gold_dir(gold, Path("seeds"))
    assert (problem.field, problem.message) == (
        "line 1",
        "invalid JSON: Expecting property name enclosed in double quotes",
    )
