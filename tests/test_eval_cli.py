"""`dealx eval`, `compare` and `runs` end to end, as subprocesses on runs built in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.dealx_process import Dealx, support, write_json

EVIDENCE = [{"quote": "A sentence.", "start": 0, "end": 11}]
DOC_IDS = [f"doc{i}" for i in range(5)]


def gold_records(index: int) -> dict[str, Any]:
    """Document i: two companies and an investment between them (3 records)."""
    investor, target = f"Investor {index} Capital", f"Target {index} Labs"
    return {
        "companies": [
            {"name": investor, "evidence": EVIDENCE},
            {"name": target, "evidence": EVIDENCE},
        ],
        "deals": [
            {
                "deal_type": "investment",
                "parties": [
                    {"name": investor, "role": "investor"},
                    {"name": target, "role": "target"},
                ],
                "amount": {"value": 1e9 * (index + 1), "currency": "USD", "qualifier": "exact"},
                "evidence": EVIDENCE,
            }
        ],
    }


def make_gold(root: Path) -> Path:
    for index, doc_id in enumerate(DOC_IDS):
        write_json(root / "gold" / f"{doc_id}.json", {"doc_id": doc_id, **gold_records(index)})
    return root / "gold"


def make_run(
    root: Path,
    name: str,
    records: dict[str, dict[str, Any]],
    errors: dict[str, str] | None = None,
    started_at: str = "2025-06-11T10:00:00Z",
    candidates: dict[str, dict[str, Any]] | None = None,
) -> Path:
    run = root / "runs" / name
    (run / "records").mkdir(parents=True)
    for doc_id, doc in records.items():
        write_json(run / "records" / f"{doc_id}.json", {"doc_id": doc_id, **doc})
    for doc_id, offered in (candidates or {}).items():
        write_json(run / "candidates" / f"{doc_id}.json", {"doc_id": doc_id, **offered})
    lines = [json.dumps({"doc_id": d, "reason": r}) for d, r in (errors or {}).items()]
    (run / "errors.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    manifest = {
        "model": f"local/{name}",
        "prompt": "extract_v2",
        "started_at": started_at,
        "finished_at": started_at,
        "documents": {"ok": len(records)},  # other keys are ignored
    }
    write_json(run / "manifest.json", manifest)
    return run


def perfect(root: Path, name: str = "perfect", **kwargs: Any) -> Path:
    records = {doc_id: gold_records(i) for i, doc_id in enumerate(DOC_IDS)}
    return make_run(root, name, records, **kwargs)


@pytest.fixture
def gold(tmp_path: Path) -> Path:
    return make_gold(tmp_path)


def partial_run(root: Path) -> Path:
    """doc0-doc2 right, doc3 failed, doc4 missing, plus a document without gold.

    Grounding checked each extracted document's 2 companies (both supported, 1 value each) and
    its deal (unsupported: 3 of its 4 values are in its evidence).
    """
    checked = {"company": support(2, 2, 2, 2), "deal": support(1, 0, 4, 3)}
    records = {
        doc_id: gold_records(i) | {"support": checked} for i, doc_id in enumerate(DOC_IDS[:3])
    }
    records["extra"] = gold_records(9) | {"support": {"company": support(5, 0, 5, 0)}}
    return make_run(root, "partial", records, errors={"doc3": "invalid JSON from the model"})


def test_eval_json_reports_every_table_and_writes_them(
    tmp_path: Path, gold: Path, dealx: Dealx
) -> None:
    run = partial_run(tmp_path)
    result = dealx("eval", run, "--gold", gold, "--format", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"overall", "by_type", "by_field", "by_doc"}
    overall = report["overall"]
    # 3 documents x 3 records found; doc3 (failed) and doc4 (missing) miss 3 each.
    assert (overall["tp"], overall["fp"], overall["fn"]) == (9, 0, 6)
    assert overall["recall"] == pytest.approx(9 / 15)
    assert overall["f1"] == pytest.approx(18 / 24)  # 2*9 / (2*9 + 0 + 6) = 0.75
    assert overall["macro_f1"] == pytest.approx(3 / 5)  # F1 per document: 1, 1, 1, 0, 0
    assert (overall["docs_failed"], overall["docs_missing"], overall["docs_no_gold"]) == (1, 1, 1)
    # Support of doc0-doc2 (extra has no gold): records 3 x (2 + 0) of 3 x (2 + 1) = 6/9,
    # values 3 x (2 + 3) of 3 x (2 + 4) = 15/18.
    assert (overall["records_checked"], overall["records_supported"]) == (9, 6)
    assert overall["support_rate"] == pytest.approx(2 / 3)
    assert overall["value_support_rate"] == pytest.approx(15 / 18)
    assert "grounding_rate" not in overall
    statuses = {row["doc_id"]: row["status"] for row in report["by_doc"]}
    assert statuses == {
        "doc0": "ok",
        "doc1": "ok",
        "doc2": "ok",
        "doc3": "failed",
        "doc4": "missing",
        "extra": "no_gold",
    }
    deal_amount = next(
        row
        for row in report["by_field"]
        if row["record_type"] == "deal" and row["field"] == "amount"
    )
    assert (deal_amount["tp"], deal_amount["fn"], deal_amount["accuracy"]) == (3, 2, 1.0)
    assert "doc4" in result.stderr and "doc3" in result.stderr and "extra" in result.stderr
    for name in ("overall", "by_type", "by_field", "by_doc", "records"):
        assert (run / "eval" / f"{name}.csv").is_file()
    assert json.loads((run / "eval" / "eval.json").read_text()) == report


def test_eval_fail_under_gates_on_overall_f1(tmp_path: Path, gold: Path, dealx: Dealx) -> None:
    run = partial_run(tmp_path)  # overall F1 0.75
    failing = dealx("eval", run, "--gold", gold, "--format", "csv", "--fail-under", "0.8")
    assert failing.returncode == 1
    assert "below --fail-under 0.8" in failing.stderr
    assert failing.stdout.startswith("# Overall\n")
    passing = dealx("eval", run, "--gold", gold, "--format", "markdown", "--fail-under", "0.7")
    assert passing.returncode == 0, passing.stderr
    assert "| record_type | field |" in passing.stdout
    table = dealx("eval", run, "--gold", gold)  # the default, rich tables
    assert table.returncode == 0, table.stderr
    assert "By document" in table.stdout and "│ macro_f1" in table.stdout


def test_eval_bad_input_exits_2_with_one_line(tmp_path: Path, gold: Path, dealx: Dealx) -> None:
    missing = dealx("eval", tmp_path / "nope", "--gold", gold)
    assert missing.returncode == 2
    # The message is one line; rich may wrap it at the terminal width, so join before matching.
    message = " ".join(missing.stderr.split())
    assert message == f"dealx: error: {tmp_path / 'nope'}: not a run directory"
    no_gold = dealx("eval", perfect(tmp_path), "--gold", tmp_path / "nogold")
    assert no_gold.returncode == 2
    assert "no such gold folder" in " ".join(no_gold.stderr.split())


def test_compare_fails_on_a_significant_regression(
    tmp_path: Path, gold: Path, dealx: Dealx
) -> None:
    good = perfect(tmp_path, "good")
    # The second run gets every deal amount wrong and misses one company per document.
    worse_records = {}
    for index, doc_id in enumerate(DOC_IDS):
        doc = gold_records(index)
        doc["companies"] = doc["companies"][:1]
        doc["deals"][0]["amount"]["value"] *= 2
        worse_records[doc_id] = doc
    worse = make_run(tmp_path, "worse", worse_records)
    result = dealx("compare", good, worse, "--gold", gold, "--format", "json")
    assert result.returncode == 0, result.stderr  # no gate without --fail-on-regression
    report = json.loads(result.stdout)
    assert report["b_significantly_worse"] is True
    overall = report["deltas"][0]
    # A: 15 tp. B: 10 tp, 5 fn per document set: F1 = 20 / 25 = 0.8, delta -0.2 in every
    # resample because every document loses the same.
    assert (overall["a_f1"], overall["b_f1"]) == (1.0, pytest.approx(0.8))
    assert overall["ci_low"] == pytest.approx(-0.2) and overall["ci_high"] == pytest.approx(-0.2)
    assert "only large differences can be significant" in report["note"]
    changes = {(c["doc_id"], c["record_type"], c["change"], c["detail"]) for c in report["changes"]}
    assert ("doc0", "deal", "regression", "amount") in changes
    assert ("doc0", "company", "regression", "missed") in changes
    gated = dealx("compare", good, worse, "--gold", gold, "--fail-on-regression")
    assert gated.returncode == 1
    assert "B is significantly worse" in gated.stderr
    improved = dealx(
        "compare", worse, good, "--gold", gold, "--fail-on-regression", "--format", "markdown"
    )
    assert improved.returncode == 0, improved.stderr
    assert "| doc0 | deal | investment: Investor 0 Capital (investor), " in improved.stdout
    assert "B is significantly better" in improved.stderr


def test_compare_same_run_is_no_difference(tmp_path: Path, gold: Path, dealx: Dealx) -> None:
    run = partial_run(tmp_path)
    result = dealx("compare", run, run, "--gold", gold, "--fail-on-regression")
    assert result.returncode == 0, result.stderr
    assert "no significant difference" in result.stderr


def test_runs_lists_model_prompt_date_and_f1(tmp_path: Path, gold: Path, dealx: Dealx) -> None:
    perfect(tmp_path, "a-run", started_at="2025-06-10T09:00:00Z")
    partial_run(tmp_path)
    (tmp_path / "runs" / "latest").symlink_to("partial")
    result = dealx("runs", "--runs-dir", tmp_path / "runs", "--gold", gold, "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["run"], r["model"], r["prompt"], r["latest"]) for r in rows] == [
        ("a-run", "local/a-run", "extract_v2", False),
        ("partial", "local/partial", "extract_v2", True),
    ]
    assert [r["f1"] for r in rows] == [1.0, pytest.approx(0.75)]
    # a-run has no support counts (grounding off): blank, not 0.
    assert [r["support_rate"] for r in rows] == [None, pytest.approx(2 / 3)]
    assert rows[0]["field_f1"] == 1.0
    assert rows[0]["started_at"] == "2025-06-10T09:00:00Z"
    # Markdown, because rich folds the cells of 11 columns into 80 (its width off a terminal).
    no_gold = "--gold", tmp_path / "nogold"
    table = dealx("runs", "--runs-dir", tmp_path / "runs", *no_gold, "--format", "markdown")
    assert table.returncode == 0, table.stderr
    assert "| a-run | False | local/a-run | extract_v2 |" in table.stdout


def test_wrong_values_fail_the_field_gates(tmp_path: Path, gold: Path, dealx: Dealx) -> None:
    good = perfect(tmp_path, "good")
    # Every record found, every deal amount doubled: only the field level sees it.
    records = {}
    for index, doc_id in enumerate(DOC_IDS):
        doc = gold_records(index)
        doc["deals"][0]["amount"]["value"] *= 2
        records[doc_id] = doc
    doubled = make_run(tmp_path, "doubled", records)
    report = json.loads(dealx("eval", doubled, "--gold", gold, "--format", "json").stdout)
    assert report["overall"]["f1"] == 1.0 and report["overall"]["field_f1"] < 1.0
    assert dealx("eval", doubled, "--gold", gold, "--fail-under", "1.0").returncode == 0
    gated = dealx("eval", doubled, "--gold", gold, "--fail-under-fields", "0.99")
    assert gated.returncode == 1
    assert "field_f1" in gated.stderr and "below --fail-under-fields 0.99" in gated.stderr
    compared = dealx("compare", good, doubled, "--gold", gold, "--fail-on-regression")
    assert compared.returncode == 1
    assert "F1 over all fields delta" in compared.stderr
    assert "B is significantly worse" in compared.stderr


def test_eval_prints_and_writes_the_candidate_recall(
    tmp_path: Path, gold: Path, dealx: Dealx
) -> None:
    candidates = {
        # doc0: both companies, the amount and a passage with both parties.
        "doc0": {
            "organizations": ["Investor 0 Capital", "Target 0 Labs"],
            "people": [],
            "amounts": [{"text": "$1 billion", "value": 1e9}],
            "deals": [{"parties": ["Investor 0 Capital", "Target 0 Labs"], "people": []}],
        },
        # doc1: the investor only, no amount, a passage without the target.
        "doc1": {
            "organizations": ["Investor 1 Capital"],
            "people": [],
            "amounts": [],
            "deals": [{"parties": ["Investor 1 Capital"], "people": []}],
        },
    }
    records = {doc_id: gold_records(i) for i, doc_id in enumerate(DOC_IDS)}
    run = make_run(tmp_path, "constrained", records, candidates=candidates)
    result = dealx("eval", run, "--gold", gold, "--format", "csv")
    assert result.returncode == 0, result.stderr
    # Over doc0 and doc1 only (the others have no candidates): companies 3 of 4, no gold
    # people (no share), amounts 1 of 2, deals 1 of 2.
    expected = (
        "# Candidate recall (ceiling: gold values among the candidates offered to the model)\n"
        "item,gold,offered,share\n"
        "company,4,3,0.75\n"
        "person,0,0,\n"
        "amount,2,1,0.5\n"
        "deal,2,1,0.5\n"
    )
    assert expected in result.stdout
    assert (run / "eval" / "ceiling.csv").read_text() == expected.split("\n", 1)[1]
    report = json.loads(dealx("eval", run, "--gold", gold, "--format", "json").stdout)
    assert report["ceiling"][1] == {"item": "person", "gold": 0, "offered": 0, "share": None}
    plain = dealx("eval", perfect(tmp_path), "--gold", gold, "--format", "csv")
    assert plain.returncode == 0, plain.stderr
    assert "Candidate recall" not in plain.stdout


def test_compare_runs_over_different_documents_and_lists_regressions_apart(
    tmp_path: Path, gold: Path, dealx: Dealx
) -> None:
    good = perfect(tmp_path, "good")
    # B never ran doc3 and doc4 and lost doc0's deal; it found doc1's deal that A missed.
    b_records = {doc_id: gold_records(i) for i, doc_id in enumerate(DOC_IDS[:3])}
    b_records["doc0"]["deals"] = []
    a_records = {doc_id: gold_records(i) for i, doc_id in enumerate(DOC_IDS)}
    a_records["doc1"]["deals"] = []
    a = make_run(tmp_path, "a", a_records)
    b = make_run(tmp_path, "b", b_records)
    result = dealx("compare", a, b, "--gold", gold, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    note = " ".join(result.stderr.split())
    assert "only the 3 both have are compared (only in A: doc3, doc4; left out)" in note
    regressions, improvements = result.stdout.split("### Improvements")
    assert "### Regressions (right in A, wrong in B)" in regressions
    assert "| doc0 | deal |" in regressions and "doc1" not in regressions
    assert "| doc1 | deal |" in improvements and "doc0" not in improvements
    # Vacuous scopes (no gold person, none predicted) are no rows.
    assert "| type | person |" not in result.stdout
    report = json.loads(dealx("compare", a, b, "--gold", gold, "--format", "json").stdout)
    assert (report["n_docs"], report["only_a"], report["only_b"]) == (3, ["doc3", "doc4"], [])
    none_shared = make_run(tmp_path, "other", {"elsewhere": gold_records(0)})
    refused = dealx("compare", good, none_shared, "--gold", gold)
    assert refused.returncode == 2
    assert "no gold document in common" in refused.stderr
