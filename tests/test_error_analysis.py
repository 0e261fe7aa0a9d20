"""`dealx errors`: each missed record, spurious record and wrong value with both sides' values
and quotes, adding up to the scores' false positives and negatives."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from eval.error_analysis import ErrorSort, error_counts, error_table
from eval.scoring import evaluate
from tests.dealx_process import Dealx
from tests.test_eval_cli import DOC_IDS, gold_records, make_gold, make_run
from tests.test_eval_comparison import doc, run_of

PARTIES = [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}]


def test_every_error_with_both_values_and_quotes() -> None:
    right = {"deal_type": "investment", "parties": PARTIES, "amount": 14e9, "status": "agreed"}
    gold = {
        "d1": doc(
            "d1", {"companies": [{"name": "Meta"}, {"name": "Nvidia"}], "deals": [right]}, gold=True
        )
    }
    wrong = {**right, "amount": 10e9, "status": None, "stake_percent": 49}
    run = run_of(doc("d1", {"companies": [{"name": "Meta"}, {"name": "Apple"}], "deals": [wrong]}))
    scores = evaluate(run, gold)
    errors = error_table(scores.alignments.values())
    rows = {(r.record_type, r.field, r.error, r.predicted, r.gold) for r in errors.itertuples()}
    assert rows == {
        ("company", "(record)", "missed_record", "", "Nvidia"),
        ("company", "(record)", "spurious_record", "Apple", ""),
        ("deal", "amount", "wrong_value", "exact USD 10,000,000,000", "exact USD 14,000,000,000"),
        ("deal", "stake_percent", "spurious_value", "49", ""),
        ("deal", "status", "missing_value", "", "agreed"),
    }
    assert set(errors["predicted_quote"][errors["field"] == "amount"]) == {"A sentence."}
    assert set(errors["gold_quote"][errors["field"] == "amount"]) == {"A sentence."}
    # The rows are the scores' errors: field-level fp + fn of the matched deal, records' fp/fn.
    by_type = scores.by_type.set_index("record_type")
    records = errors[errors["field"] == "(record)"]
    assert len(records) == by_type.loc["company", "fp"] + by_type.loc["company", "fn"]
    counts = error_counts(errors).set_index(["record_type", "field", "error"])["count"]
    assert counts[("deal", "amount", "wrong_value")] == 1
    by_document = error_table(scores.alignments.values(), ErrorSort.error)
    assert list(by_document["error"]) == sorted(by_document["error"])


def test_errors_command_prints_csv_and_writes_it(tmp_path: Path, dealx: Dealx) -> None:
    gold = make_gold(tmp_path)
    records = {doc_id: gold_records(i) for i, doc_id in enumerate(DOC_IDS)}
    records["doc2"]["deals"][0]["amount"]["value"] = 7e9
    records["doc4"]["companies"] = records["doc4"]["companies"][:1]
    run = make_run(tmp_path, "run", records)
    result = dealx("errors", run, "--gold", gold, "--format", "csv", "--sort", "document")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["doc_id"], r["field"], r["error"]) for r in rows] == [
        ("doc2", "amount", "wrong_value"),
        ("doc4", "(record)", "missed_record"),
    ]
    assert rows[0]["predicted"] == "exact USD 7,000,000,000"
    assert rows[1]["gold"] == "Target 4 Labs"
    written = (run / "eval" / "errors.csv").read_text(encoding="utf-8")
    assert written == result.stdout
    assert "2 error(s)" in result.stderr
    as_json = json.loads(dealx("errors", run, "--gold", gold, "--format", "json").stdout)
    assert {(c["field"], c["count"]) for c in as_json["counts"]} == {("amount", 1), ("(record)", 1)}
    bad = dealx("errors", run, "--gold", gold, "--sort", "size")
    assert bad.returncode == 2 and "'size' is not one of field, document, error" in bad.stderr
