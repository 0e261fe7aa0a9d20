"""`dealx report A --against B`: each gold record beside A's and B's, marked by the change."""

from __future__ import annotations

from pathlib import Path

from eval.load import load_gold, load_run
from eval.report_ab import ab_rows
from eval.scoring import evaluate
from tests.dealx_process import Dealx
from tests.test_eval_cli import DOC_IDS, gold_records, make_gold, make_run


def runs(root: Path) -> tuple[Path, Path, Path]:
    gold = make_gold(root)
    a_records = {doc_id: gold_records(i) for i, doc_id in enumerate(DOC_IDS)}
    b_records = {doc_id: gold_records(i) for i, doc_id in enumerate(DOC_IDS)}
    a_records["doc0"]["companies"] = a_records["doc0"]["companies"][:1]  # B fixes this
    b_records["doc1"]["deals"][0]["amount"]["value"] = 5e9  # B breaks this
    spurious = {"name": "<script>alert(1)</script> Corp", "evidence": [{"quote": "A sentence."}]}
    b_records["doc2"]["companies"].append(spurious)  # and adds this
    return gold, make_run(root, "a", a_records), make_run(root, "b", b_records)


def test_rows_mark_fixed_broken_and_unchanged(tmp_path: Path) -> None:
    gold, a, b = runs(tmp_path)
    golds = load_gold(gold)
    a_scores, b_scores = evaluate(load_run(a), golds), evaluate(load_run(b), golds)
    changes = {
        doc_id: [
            (row.record_type, row.change)
            for row in ab_rows(a_scores.alignments[doc_id], b_scores.alignments[doc_id])
            if row.change != "right in both"
        ]
        for doc_id in DOC_IDS
    }
    assert changes == {
        "doc0": [("company", "fixed")],
        "doc1": [("deal", "broken")],
        "doc2": [("company", "broken")],  # B's new spurious company
        "doc3": [],
        "doc4": [],
    }


def test_report_against_writes_the_escaped_page(tmp_path: Path, dealx: Dealx) -> None:
    gold, a, b = runs(tmp_path)
    result = dealx("report", a, "--against", b, "--gold", gold)
    assert result.returncode == 0, result.stderr
    page = (a / "report-against.html").read_text(encoding="utf-8")
    assert result.stdout.strip() == str(a / "report-against.html")
    assert (
        "Per gold record, from A to B: 2 broken, 1 fixed, 0 still wrong, 13 right in both" in page
    )
    assert '<tr class="broken"><td>broken</td><td>deal</td>' in page
    assert '<span class="wrong">amount: exact USD 5,000,000,000</span>' in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; Corp" in page
