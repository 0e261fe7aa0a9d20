"""`dealx gold draft`: a run's records as gold files to correct, refused by the gold checks
until reviewed; `dealx agree`: two annotations scored against each other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.dealx_process import REPO, Dealx, write_json

DOC = "001_153035b9c19ae3c6"  # a seed whose gold has no optional marks


def gold_file(doc_id: str) -> dict:
    return json.loads((REPO / "gold" / f"{doc_id}.json").read_text(encoding="utf-8"))


def run_of_gold(root: Path, doc_id: str) -> Path:
    """A run whose record is the gold itself, with what a run adds (grounding flags)."""
    record = gold_file(doc_id)
    for name in ("companies", "people", "deals"):
        for item in record[name]:
            del item["optional"], item["optional_fields"]
            item["grounded"] = True
            item["spans"] = [{"field": "name", "text": "x", "start": 0, "end": 1}]
            for evidence in item["evidence"]:
                evidence["grounded"] = True
    record["support"] = {"company": {"records": 1}}
    write_json(root / "run" / "records" / f"{doc_id}.json", record)
    return root / "run"


def test_a_draft_of_a_perfect_run_is_the_gold_once_reviewed(tmp_path: Path, dealx: Dealx) -> None:
    run = run_of_gold(tmp_path, DOC)
    drafts = tmp_path / "drafts"
    result = dealx("gold", "draft", run, "--out", drafts)
    assert result.returncode == 0, result.stderr
    assert "1 draft(s) written" in result.stdout
    path = drafts / f"{DOC}.json"
    draft = json.loads(path.read_text(encoding="utf-8"))
    assert list(draft) == ["doc_id", "reviewed", "companies", "people", "deals"]
    assert draft.pop("reviewed") is False
    assert draft == gold_file(DOC)  # same records, keys, offsets, whole numbers

    refused = dealx("validate-gold", drafts, "--seeds", REPO / "seeds")
    assert refused.returncode == 1
    assert f"{path}: reviewed: an unreviewed draft (dealx gold draft)" in refused.stdout
    scored = dealx("eval", run, "--gold", drafts)
    assert scored.returncode == 2 and "unreviewed draft" in scored.stderr

    text = path.read_text(encoding="utf-8").replace('"reviewed": false', '"reviewed": true')
    path.write_text(text, encoding="utf-8")
    accepted = dealx("validate-gold", drafts, "--seeds", REPO / "seeds")
    assert accepted.returncode == 0, accepted.stdout
    # A second draft leaves the reviewed file alone.
    again = dealx("gold", "draft", run, "--out", drafts)
    assert "0 draft(s) written" in again.stdout and "already there, left alone" in again.stderr
    assert path.read_text(encoding="utf-8") == text


def test_agree_scores_one_annotation_against_the_other(tmp_path: Path, dealx: Dealx) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    for doc_id in (DOC, "003_f746a913cebc95f0"):
        shutil.copy(REPO / "gold" / f"{doc_id}.json", a / f"{doc_id}.json")
    shutil.copytree(a, b)
    second = gold_file(DOC)
    dropped = second["companies"].pop()  # B leaves out one company
    second["deals"][0]["status"] = "agreed"  # and reads one status differently
    write_json(b / f"{DOC}.json", second)
    write_json(b / "extra.json", {"doc_id": "extra"})
    result = dealx("agree", a, b, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_type = {row["record_type"]: row for row in report["by_type"]}
    assert (by_type["company"]["fn"], by_type["company"]["fp"]) == (1, 0)
    assert by_type["person"]["f1"] == 1.0
    disagreements = {(d["field"], d["error"], d["gold"]) for d in report["disagreements"]}
    assert disagreements == {
        ("(record)", "missed_record", dropped["name"]),
        ("status", "wrong_value", gold_file(DOC)["deals"][0]["status"]),
    }
    assert report["only_b"] == ["extra"] and report["only_a"] == []
    assert "only in B (not compared): extra" in result.stderr


def test_only_a_json_true_marks_a_draft_reviewed(tmp_path: Path, dealx: Dealx) -> None:
    gold = tmp_path / "gold"
    for mark in ("yes", 1):
        write_json(gold / f"{DOC}.json", {**gold_file(DOC), "reviewed": mark})
        refused = dealx("validate-gold", gold, "--seeds", REPO / "seeds")
        assert refused.returncode == 1
        assert (
            f"{gold / f'{DOC}.json'}: reviewed: Input should be a valid boolean" in refused.stdout
        )
