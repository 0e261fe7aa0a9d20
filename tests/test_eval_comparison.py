"""Comparing two runs: the paired bootstrap over documents and the records that changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval.comparison import FEW_DOCS, RESAMPLES, compare, paired_bootstrap
from eval.load import Run
from eval.scoring import evaluate
from schemas.errors import InputError
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction

EVIDENCE = [{"quote": "A sentence.", "start": 0, "end": 11}]


def counts(rows: list[tuple[int, int, int]]) -> np.ndarray:
    """(documents, 1 scope, tp/fp/fn)."""
    return np.array(rows, dtype=np.int64)[:, None, :]


def test_bootstrap_of_identical_runs_is_exactly_zero() -> None:
    a = counts([(3, 1, 0), (0, 0, 2), (5, 0, 1), (1, 1, 1), (2, 0, 0)])
    low, high = paired_bootstrap(a, a.copy())
    assert (low[0], high[0]) == (0.0, 0.0)


def test_bootstrap_of_a_uniform_loss_is_that_loss() -> None:
    # A finds its one record in each of 5 documents, B none: F1 1 vs 0 in every resample.
    a = counts([(1, 0, 0)] * 5)
    b = counts([(0, 0, 1)] * 5)
    low, high = paired_bootstrap(a, b)
    assert (low[0], high[0]) == (-1.0, -1.0)


def test_bootstrap_is_seeded_and_resamples_documents() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 6, size=(40, 3, 3))
    b = rng.integers(0, 6, size=(40, 3, 3))
    first = paired_bootstrap(a, b)
    assert all(np.array_equal(x, y) for x, y in zip(first, paired_bootstrap(a, b), strict=True))
    # Another seed moves the interval a little, not the point estimate it surrounds.
    other = paired_bootstrap(a, b, seed=1)
    assert not np.array_equal(first[0], other[0])
    low, high = first
    assert (low <= high).all()
    assert low.shape == high.shape == (3,)


def test_bootstrap_chunks_large_document_sets_without_changing_results() -> None:
    # 10,000 resamples of 5,000 documents do not fit one matrix product; the chunks must give
    # an interval around the true difference of 0.5 - 1.0.
    a = counts([(1, 0, 0)] * 5_000)
    b = counts([(1, 1, 0)] * 2_500 + [(0, 1, 1)] * 2_500)
    low, high = paired_bootstrap(a, b, resamples=2_000)
    # B: tp 2500, fp 5000, fn 2500 -> F1 = 5000 / 12500 = 0.4; delta -0.6.
    assert low[0] < -0.6 < high[0]
    assert high[0] - low[0] < 0.05


def doc(doc_id: str, records: dict[str, Any], gold: bool = False) -> Any:
    data = {
        "doc_id": doc_id,
        **{k: [{"evidence": EVIDENCE, **r} for r in rs] for k, rs in records.items()},
    }
    return GoldDocument.model_validate(data) if gold else DocumentExtraction.model_validate(data)


def run_of(*docs: DocumentExtraction) -> Run:
    return Run(Path("run"), {}, {d.doc_id: d for d in docs}, {})


def test_changed_records_names_regressions_and_improvements() -> None:
    parties = [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}]
    right = {"deal_type": "investment", "parties": parties, "amount": 14e9}
    wrong = {**right, "amount": 10e9}
    golds = {"d1": doc("d1", {"companies": [{"name": "Meta"}], "deals": [right]}, gold=True)}
    a = evaluate(run_of(doc("d1", {"companies": [{"name": "Meta"}], "deals": [right]})), golds)
    b_records = {"companies": [{"name": "Nvidia"}], "deals": [wrong]}
    b = evaluate(run_of(doc("d1", b_records)), golds)
    changes = compare(a, b).changes
    rows = {(r.record_type, r.record, r.change, r.a, r.b, r.detail) for r in changes.itertuples()}
    assert rows == {
        (
            "deal",
            "investment: Meta (investor), Scale AI (target)",
            "regression",
            "correct",
            "wrong_value",
            "amount",
        ),
        ("company", "Meta", "regression", "correct", "missed", "missed"),
        ("company", "Nvidia", "regression", "absent", "spurious", ""),
    }
    reverse = compare(b, a).changes
    assert set(reverse["change"]) == {"improvement"}
    assert len(reverse) == 3


def test_comparison_table_and_small_sample_note() -> None:
    golds = {
        f"d{i}": doc(f"d{i}", {"companies": [{"name": "Meta"}, {"name": "Nvidia"}]}, gold=True)
        for i in range(5)
    }
    full = run_of(*(doc(d, {"companies": [{"name": "Meta"}, {"name": "Nvidia"}]}) for d in golds))
    half = run_of(*(doc(d, {"companies": [{"name": "Meta"}]}) for d in golds))
    comparison = compare(evaluate(full, golds), evaluate(half, golds))
    overall = comparison.deltas.iloc[0]
    # A: tp 10 -> F1 1. B: tp 5, fn 5 -> F1 = 10 / 15. The same in every resample.
    assert overall["a_f1"] == 1.0
    assert overall["b_f1"] == pytest.approx(2 / 3)
    assert overall["delta"] == pytest.approx(-1 / 3)
    assert overall["ci_high"] == pytest.approx(-1 / 3)
    assert comparison.b_significantly_worse
    scopes = set(zip(comparison.deltas["scope"], comparison.deltas["field"], strict=True))
    assert {("overall", ""), ("type", ""), ("field", "name"), ("field", "org_type")} <= scopes
    assert comparison.n_docs == 5 < FEW_DOCS
    assert f"{RESAMPLES:,} paired bootstrap resamples" in comparison.note
    assert "only large differences can be significant" in comparison.note


def test_values_gone_wrong_are_a_significant_regression() -> None:
    parties = [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}]
    right = {"deal_type": "investment", "parties": parties, "amount": 14e9}
    wrong = {**right, "amount": 99e9}
    golds = {f"d{i}": doc(f"d{i}", {"deals": [right]}, gold=True) for i in range(5)}
    a = evaluate(run_of(*(doc(d, {"deals": [right]}) for d in golds)), golds)
    b = evaluate(run_of(*(doc(d, {"deals": [wrong]}) for d in golds)), golds)
    comparison = compare(a, b)
    deltas = comparison.deltas.set_index("scope")
    # Every deal is still found: the record-level F1 does not move.
    assert (deltas.loc["overall", "delta"], deltas.loc["overall", "ci_high"]) == (0.0, 0.0)
    # Fields per document: A 5 tp (type, 2 parties, currency, qualifier) + amount 1 tp = 6 tp;
    # B 5 tp + amount 1 fp + 1 fn. F1: A 1, B 2*25 / (2*25 + 5 + 5) = 5/6, in every resample.
    fields = deltas.loc["all_fields"]
    assert (fields["a_f1"], fields["b_f1"]) == (1.0, pytest.approx(5 / 6))
    assert fields["ci_high"] == pytest.approx(-1 / 6)
    assert comparison.b_significantly_worse
    assert not compare(b, a).b_significantly_worse


def test_runs_over_different_documents_compare_only_those_both_have() -> None:
    golds = {f"d{i}": doc(f"d{i}", {"companies": [{"name": "Meta"}]}, gold=True) for i in range(5)}
    everything = run_of(*(doc(d, {"companies": [{"name": "Meta"}]}) for d in golds))
    # B never saw d3 and d4; it failed on d2, which counts (all missed), and has d0, d1 right.
    some = run_of(*(doc(d, {"companies": [{"name": "Meta"}]}) for d in ("d0", "d1")))
    some = Run(some.path, {}, some.predictions, {"d2": "invalid JSON"})
    comparison = compare(evaluate(everything, golds), evaluate(some, golds))
    assert comparison.n_docs == 3
    assert (comparison.only_a, comparison.only_b) == (("d3", "d4"), ())
    assert "only the 3 both have are compared (only in A: d3, d4; left out)" in comparison.note
    overall = comparison.deltas.set_index("scope").loc["overall"]
    # Scored over d0-d2 only: A 3 tp; B 2 tp and d2's record missed. d3 and d4 do not count
    # against B as missed.
    assert (overall["a_tp"], overall["b_tp"], overall["b_fn"]) == (3, 2, 1)
    assert set(comparison.changes["doc_id"]) == {"d2"}
    with pytest.raises(InputError, match="no gold document in common"):
        compare(evaluate(run_of(), golds), evaluate(some, golds))


def test_a_scope_empty_in_both_runs_is_no_row_and_one_side_empty_has_no_delta() -> None:
    # No gold person anywhere. A predicts none; B adds one spurious person in d0.
    golds = {f"d{i}": doc(f"d{i}", {"companies": [{"name": "Meta"}]}, gold=True) for i in range(5)}
    a = run_of(*(doc(d, {"companies": [{"name": "Meta"}]}) for d in golds))
    b_docs = [doc(d, {"companies": [{"name": "Meta"}]}) for d in golds]
    b_docs[0] = doc("d0", {"companies": [{"name": "Meta"}], "people": [{"name": "Jane Roe"}]})
    deltas = compare(evaluate(a, golds), evaluate(a, golds)).deltas
    assert ("type", "person") not in set(zip(deltas["scope"], deltas["record_type"], strict=True))
    assert ("type", "deal") not in set(zip(deltas["scope"], deltas["record_type"], strict=True))
    deltas = compare(evaluate(a, golds), evaluate(run_of(*b_docs), golds)).deltas
    person = deltas[(deltas["scope"] == "type") & (deltas["record_type"] == "person")].iloc[0]
    # A had nothing to find and found nothing: no F1, so no delta, never "significant".
    assert np.isnan(person["a_f1"]) and person["b_f1"] == 0.0 and np.isnan(person["delta"])
    assert not person["significant"]
    # The bootstrap leaves out resamples where a side is empty: the company scopes, never
    # empty, keep an interval of exactly 0.
    company = deltas[(deltas["scope"] == "type") & (deltas["record_type"] == "company")].iloc[0]
    assert (company["ci_low"], company["ci_high"]) == (0.0, 0.0)
