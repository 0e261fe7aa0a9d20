"""The scorer on hand-built cases; every expected number is worked out by hand in the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from eval.load import Run, load_gold
from eval.scoring import Scores, evaluate
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction
from tests.dealx_process import support

EVIDENCE = [{"quote": "A sentence.", "start": 0, "end": 11}]
GOLD_DIR = Path(__file__).resolve().parents[1] / "gold"


def company(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "evidence": EVIDENCE, **fields}


def person(name: str, *roles: tuple[str, str | None], **fields: Any) -> dict[str, Any]:
    titles = [{"title": title, "organization": org} for title, org in roles]
    return {"name": name, "roles": titles, "evidence": EVIDENCE, **fields}


def deal(deal_type: str, *parties: tuple[str, str], **fields: Any) -> dict[str, Any]:
    sides = [{"name": name, "role": role} for name, role in parties]
    return {"deal_type": deal_type, "parties": sides, "evidence": EVIDENCE, **fields}


def money(value: float, qualifier: str = "exact") -> dict[str, Any]:
    return {"value": value, "currency": "USD", "qualifier": qualifier}


def gold_doc(doc_id: str = "d1", **records: list[dict[str, Any]]) -> GoldDocument:
    return GoldDocument.model_validate({"doc_id": doc_id, **records})


def pred_doc(
    doc_id: str = "d1",
    support: dict[str, dict[str, int]] | None = None,
    **records: list[dict[str, Any]] | None,
) -> DocumentExtraction:
    """A prediction: the same record dicts without the gold-only flags, with support counts."""
    cleaned = {
        kind: [{k: v for k, v in r.items() if k not in ("optional", "optional_fields")} for r in rs]
        for kind, rs in records.items()
        if rs is not None
    }
    return DocumentExtraction.model_validate({"doc_id": doc_id, "support": support, **cleaned})


def score(
    preds: list[DocumentExtraction],
    golds: list[GoldDocument],
    failures: dict[str, str] | None = None,
) -> Scores:
    run = Run(Path("run"), {}, {p.doc_id: p for p in preds}, failures or {})
    return evaluate(run, {g.doc_id: g for g in golds})


def overall(evaluation: Scores) -> pd.Series:
    return evaluation.overall.iloc[0]


def type_row(evaluation: Scores, record_type: str) -> pd.Series:
    table = evaluation.by_type
    return table[table["record_type"] == record_type].iloc[0]


def field_row(evaluation: Scores, record_type: str, field: str) -> pd.Series:
    table = evaluation.by_field
    rows = table[(table["record_type"] == record_type) & (table["field"] == field)]
    assert len(rows) == 1, f"no row for {record_type}.{field}"
    return rows.iloc[0]


def counts(row: pd.Series) -> tuple[int, int, int]:
    return int(row["tp"]), int(row["fp"]), int(row["fn"])


META_SCALE = {
    "companies": [
        company("Meta", aliases=["Meta Platforms"]),
        company("Scale AI", founded_year=2016, headquarters="San Francisco"),
    ],
    "people": [person("Alexandr Wang", ("co-founder", "Scale AI"), ("CEO", "Scale AI"))],
    "deals": [
        deal(
            "investment",
            ("Meta", "investor"),
            ("Scale AI", "target"),
            amount=money(14e9, "about"),
            stake_percent=49,
            status="agreed",
        )
    ],
}


def test_perfect_prediction_scores_one_everywhere() -> None:
    evaluation = score([pred_doc(**META_SCALE)], [gold_doc(**META_SCALE)])
    # 2 companies + 1 person + 1 deal, all matched: tp = 4.
    assert counts(overall(evaluation)) == (4, 0, 0)
    assert overall(evaluation)[["precision", "recall", "f1", "macro_f1"]].tolist() == [1.0] * 4
    assert counts(field_row(evaluation, "deal", "parties")) == (2, 0, 0)
    assert counts(field_row(evaluation, "person", "roles")) == (2, 0, 0)
    assert (evaluation.by_field["accuracy"] == 1.0).all()
    assert (evaluation.by_field["f1"] == 1.0).all()


def test_empty_prediction_misses_everything() -> None:
    evaluation = score([pred_doc()], [gold_doc(**META_SCALE)])
    row = overall(evaluation)
    # Nothing predicted, 4 gold records: tp 0, fp 0, fn 4; P = 0/0 counts as 0, R = 0/4.
    assert counts(row) == (0, 0, 4)
    assert (row["precision"], row["recall"], row["f1"]) == (0.0, 0.0, 0.0)
    # Each unmatched gold record is an FN for every non-null field: 2 company names,
    # founded_year only on Scale AI, the deal amount with its currency and qualifier.
    assert counts(field_row(evaluation, "company", "name")) == (0, 0, 2)
    assert counts(field_row(evaluation, "company", "founded_year")) == (0, 0, 1)
    assert counts(field_row(evaluation, "deal", "amount.qualifier")) == (0, 0, 1)
    # No matched records, so no field has an accuracy.
    assert evaluation.by_field["compared"].eq(0).all()
    assert evaluation.by_field["accuracy"].isna().all()


def test_all_spurious_prediction() -> None:
    gold = gold_doc(companies=[company("Meta"), company("Scale AI")])
    pred = pred_doc(companies=[company("Anduril Industries"), company("Nvidia")])
    evaluation = score([pred], [gold])
    # No name is within the 0.8 similarity floor: 2 spurious + 2 missed.
    assert counts(overall(evaluation)) == (0, 2, 2)
    assert overall(evaluation)["f1"] == 0.0
    assert counts(field_row(evaluation, "company", "name")) == (0, 2, 2)
    assert counts(field_row(evaluation, "company", "org_type")) == (0, 2, 2)


def test_all_spurious_prediction_on_a_document_without_gold_records() -> None:
    evaluation = score([pred_doc(companies=[company("Nvidia")])], [gold_doc()])
    row = overall(evaluation)
    # tp 0, fp 1, fn 0: P = 0/1 = 0; R = 0/0 with a spurious record counts as 0; F1 = 0.
    assert counts(row) == (0, 1, 0)
    assert (row["precision"], row["recall"], row["f1"]) == (0.0, 0.0, 0.0)


def test_alias_and_legal_suffix_match_the_gold_company() -> None:
    gold = gold_doc(
        companies=[company("Meta", aliases=["Meta Platforms"]), company("Alphabet")],
        deals=[deal("partnership", ("Meta", "partner"), ("Alphabet", "partner"))],
    )
    pred = pred_doc(
        companies=[company("Meta Platforms"), company("Alphabet Inc.")],
        deals=[deal("partnership", ("Meta Platforms, Inc.", "partner"), ("Alphabet", "partner"))],
    )
    evaluation = score([pred], [gold])
    assert counts(overall(evaluation)) == (3, 0, 0)
    # "Meta Platforms" is the gold's alias, "Alphabet Inc." is "Alphabet" without its suffix.
    assert counts(field_row(evaluation, "company", "name")) == (2, 0, 0)
    # The deal party "Meta Platforms, Inc." is the gold's Meta: both pairs right.
    assert counts(field_row(evaluation, "deal", "parties")) == (2, 0, 0)


def test_money_tolerance_edge() -> None:
    def amount_counts(predicted: float) -> tuple[tuple[int, int, int], float]:
        parties = (("Meta", "investor"), ("Scale AI", "target"))
        gold = gold_doc(deals=[deal("investment", *parties, amount=money(14.0e9))])
        pred = pred_doc(deals=[deal("investment", *parties, amount=money(predicted))])
        evaluation = score([pred], [gold])
        assert counts(type_row(evaluation, "deal")) == (1, 0, 0)  # the deal matches either way
        row = field_row(evaluation, "deal", "amount")
        return counts(row), float(row["accuracy"])

    # |13.8 - 14.0| / 14.0 = 1.43% > 1%: wrong, one FP plus one FN.
    assert amount_counts(13.8e9) == ((0, 1, 1), 0.0)
    # |14.1 - 14.0| / 14.0 = 0.71% <= 1%: right.
    assert amount_counts(14.1e9) == ((1, 0, 0), 1.0)


def test_wrong_value_leaves_record_f1_and_lowers_field_f1() -> None:
    parties = (("Meta", "investor"), ("Scale AI", "target"))
    gold = gold_doc(deals=[deal("investment", *parties, amount=money(14e9))])
    pred = pred_doc(deals=[deal("investment", *parties, amount=money(99e9))])
    row = overall(score([pred], [gold]))
    # The deal is there: record level tp 1, F1 1.
    assert (counts(row), row["f1"]) == ((1, 0, 0), 1.0)
    # Fields: deal_type 1 tp, parties 2 tp, currency 1 tp, qualifier 1 tp, amount 1 fp + 1 fn;
    # stake, valuation (3 fields), status and date both null (true negatives, out of F1).
    assert (row["field_tp"], row["field_fp"], row["field_fn"]) == (5, 1, 1)
    assert row["field_f1"] == pytest.approx(2 * 5 / (2 * 5 + 1 + 1))  # 5/6
    assert row["field_precision"] == row["field_recall"] == pytest.approx(5 / 6)


def test_wrong_qualifier_is_its_own_field() -> None:
    parties = (("Meta", "investor"), ("Scale AI", "target"))
    gold = gold_doc(deals=[deal("investment", *parties, amount=money(14e9, "about"))])
    pred = pred_doc(deals=[deal("investment", *parties, amount=money(14e9, "exact"))])
    evaluation = score([pred], [gold])
    assert counts(type_row(evaluation, "deal")) == (1, 0, 0)
    assert counts(field_row(evaluation, "deal", "amount")) == (1, 0, 0)
    assert counts(field_row(evaluation, "deal", "amount.currency")) == (1, 0, 0)
    qualifier = field_row(evaluation, "deal", "amount.qualifier")
    assert counts(qualifier) == (0, 1, 1)
    # P = 0/1, R = 0/1, accuracy 0 of 1 matched deal.
    assert (qualifier["precision"], qualifier["recall"], qualifier["accuracy"]) == (0.0, 0.0, 0.0)


def test_optional_records_and_fields_neither_reward_nor_penalise() -> None:
    core = deal("investment", ("Meta", "investor"), ("Scale AI", "target"), status="agreed")
    extra = deal("partnership", ("Meta", "partner"), ("Scale AI", "partner"), optional=True)
    contract = deal(
        "contract",
        ("US Department of Defense", "customer"),
        ("Scale AI", "supplier"),
        date="2025-03",
        optional_fields=["date"],
    )
    gold = gold_doc(deals=[core, extra, contract])
    without_optional = {**contract, "date": None}
    with_optional = {**contract, "date": "2024-11"}  # wrong, but optional
    for deals in ([core, without_optional], [core, extra, with_optional]):
        evaluation = score([pred_doc(deals=deals)], [gold])
        # Either way: 2 non-optional deals found, nothing spurious, nothing missed.
        assert counts(overall(evaluation)) == (2, 0, 0)
        assert overall(evaluation)["f1"] == 1.0
        # The date is optional on the contract and null on the investment (a true negative).
        date = field_row(evaluation, "deal", "date")
        assert counts(date) == (0, 0, 0)
        assert (int(date["tn"]), int(date["compared"]), date["accuracy"]) == (1, 1, 1.0)


def test_swapped_investor_and_target_is_a_wrong_parties_value() -> None:
    gold = gold_doc(
        deals=[deal("investment", ("Meta", "investor"), ("Scale AI", "target"), amount=money(14e9))]
    )
    pred = pred_doc(
        deals=[deal("investment", ("Scale AI", "investor"), ("Meta", "target"), amount=money(14e9))]
    )
    evaluation = score([pred], [gold])
    # Similarity = 0.25 (type) + 0.45 * 0/4 (pairs) + 0.2 * 2/2 (names) + 0.1 (amount) = 0.55,
    # above the 0.5 floor: the deal is found, its parties are wrong.
    assert counts(type_row(evaluation, "deal")) == (1, 0, 0)
    assert evaluation.alignments["d1"].matches[0].similarity == pytest.approx(0.55)
    parties = field_row(evaluation, "deal", "parties")
    # Neither (party, role) pair is right: 2 FP + 2 FN, accuracy 0.
    assert counts(parties) == (0, 2, 2)
    assert parties["accuracy"] == 0.0


def test_duplicated_prediction_second_is_spurious() -> None:
    gold = gold_doc(companies=[company("Meta")])
    pred = pred_doc(companies=[company("Meta"), company("Meta")])
    evaluation = score([pred], [gold])
    row = overall(evaluation)
    # tp 1, fp 1: P = 1/2, R = 1/1, F1 = 2*1 / (2*1 + 1 + 0) = 2/3.
    assert counts(row) == (1, 1, 0)
    assert row["precision"] == 0.5
    assert row["recall"] == 1.0
    assert row["f1"] == pytest.approx(2 / 3)
    outcomes = {m.pred_index: m.outcome for m in evaluation.alignments["d1"].matches}
    assert outcomes == {0: "correct", 1: "spurious"}


def test_field_nulls_follow_muc() -> None:
    gold = gold_doc(
        companies=[company("Scale AI", founded_year=2016)],
        deals=[deal("investment", ("Meta", "investor"), ("Scale AI", "target"))],
    )
    pred = pred_doc(
        companies=[company("Scale AI", headquarters="San Francisco")],
        deals=[deal("investment", ("Meta", "investor"), ("Scale AI", "target"), status="agreed")],
    )
    evaluation = score([pred], [gold])
    # Gold value, prediction null: FN. Gold null, predicted value: FP (hallucinated field).
    assert counts(field_row(evaluation, "company", "founded_year")) == (0, 0, 1)
    assert counts(field_row(evaluation, "company", "headquarters")) == (0, 1, 0)
    assert counts(field_row(evaluation, "deal", "status")) == (0, 1, 0)
    # Both null: a true negative, out of F1, right for accuracy.
    stake = field_row(evaluation, "deal", "stake_percent")
    assert counts(stake) == (0, 0, 0)
    assert (int(stake["tn"]), stake["accuracy"], stake["f1"]) == (1, 1.0, 1.0)


def test_micro_and_macro_over_documents_and_failed_documents() -> None:
    perfect = {"companies": [company("Meta"), company("Nvidia"), company("Amazon")]}
    golds = [
        gold_doc("d1", **perfect),
        gold_doc("d2", companies=[company("Anduril")]),
        gold_doc("d3", companies=[company("Cisco")]),
    ]
    preds = [pred_doc("d1", **perfect), pred_doc("d9", companies=[company("Toyota")])]
    evaluation = score(preds, golds, failures={"d2": "invalid JSON"})
    row = overall(evaluation)
    # d1: 3 tp; d2 failed and d3 missing from the run: 1 fn each; d9 has no gold: not scored.
    assert counts(row) == (3, 0, 2)
    assert row["recall"] == 3 / 5
    assert row["f1"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 2))  # 0.75
    # Macro: per-document F1 1, 0, 0 -> mean 1/3.
    assert row["macro_f1"] == pytest.approx(1 / 3)
    assert (row["docs"], row["docs_failed"], row["docs_missing"], row["docs_no_gold"]) == (
        3,
        1,
        1,
        1,
    )
    by_doc = evaluation.by_doc.set_index("doc_id")
    assert by_doc["status"].to_dict() == {
        "d1": "ok",
        "d2": "failed",
        "d3": "missing",
        "d9": "no_gold",
    }
    assert by_doc.loc["d2", "reason"] == "invalid JSON"
    assert pd.isna(by_doc.loc["d9", "tp"])


SUPPORT_COLUMNS = [
    "records_checked",
    "records_supported",
    "support_rate",
    "values_checked",
    "values_supported",
    "value_support_rate",
]


def support_counts(row: pd.Series) -> tuple[int, int, int, int]:
    """(records checked, supported, values checked, supported) of a table row."""
    return (
        int(row["records_checked"]),
        int(row["records_supported"]),
        int(row["values_checked"]),
        int(row["values_supported"]),
    )


def test_support_rates_sum_the_predictions_support_counts() -> None:
    golds = [gold_doc("d1", companies=[company("Meta")]), gold_doc("d2"), gold_doc("d3")]
    # The counts are the pipeline's, taken before strict grounding dropped anything, so they
    # need not match the records left in the file: d1 keeps 1 company of the 3 it checked.
    d1 = pred_doc(
        "d1",
        support={"company": support(3, 1, 5, 3), "deal": support(2, 2, 8, 6)},
        companies=[company("Meta")],
    )
    d2 = pred_doc("d2", support={"company": support(1, 1, 2, 2), "person": support(0, 0, 0, 0)})
    # d3 was not grounded; d4 has support but no gold, so it is not scored.
    d3 = pred_doc("d3", support=None)
    d4 = pred_doc("d4", support={"company": support(9, 0, 9, 0)})
    evaluation = score([d1, d2, d3, d4], golds)
    row = overall(evaluation)
    # Records: company 3 + 1, deal 2 -> 6 checked, 1 + 1 + 2 = 4 supported: 4/6.
    # Values: 5 + 2 + 8 = 15 checked, 3 + 2 + 6 = 11 supported: 11/15.
    assert support_counts(row) == (6, 4, 15, 11)
    assert row["support_rate"] == pytest.approx(4 / 6)
    assert row["value_support_rate"] == pytest.approx(11 / 15)
    company_row = type_row(evaluation, "company")
    assert support_counts(company_row) == (4, 2, 7, 5)
    assert company_row["support_rate"] == 0.5
    assert company_row["value_support_rate"] == pytest.approx(5 / 7)
    deal_row = type_row(evaluation, "deal")
    assert (deal_row["support_rate"], deal_row["value_support_rate"]) == (1.0, 0.75)
    # Nobody checked a person: no rate rather than 0 or 1.
    person_row = type_row(evaluation, "person")
    assert support_counts(person_row) == (0, 0, 0, 0)
    assert pd.isna(person_row["support_rate"]) and pd.isna(person_row["value_support_rate"])
    by_doc = evaluation.by_doc.set_index("doc_id")
    assert support_counts(by_doc.loc["d1"]) == (5, 3, 13, 9)
    assert by_doc.loc["d1", "support_rate"] == pytest.approx(3 / 5)
    assert by_doc.loc["d2", "value_support_rate"] == 1.0
    assert support_counts(by_doc.loc["d3"]) == (0, 0, 0, 0)
    assert pd.isna(by_doc.loc["d3", "support_rate"])
    assert by_doc.loc["d4", "status"] == "no_gold"
    assert by_doc.loc["d4", ["records_checked", "support_rate"]].isna().all()
    # The record-level scores do not depend on the support counts.
    assert counts(row) == (1, 0, 0)


def test_support_rates_are_nan_for_a_run_without_support() -> None:
    golds = [gold_doc("d1", **META_SCALE), gold_doc("d2", companies=[company("Meta")])]
    # d1 extracted with grounding off; d2 failed, so it has no support counts either.
    evaluation = score([pred_doc("d1", **META_SCALE)], golds, failures={"d2": "timeout"})
    assert evaluation.by_doc["status"].tolist() == ["ok", "failed"]
    for table in (evaluation.overall, evaluation.by_type, evaluation.by_doc):
        assert table[["records_checked", "values_checked"]].eq(0).all().all()
        assert table[["support_rate", "value_support_rate"]].isna().all().all()
    assert counts(overall(evaluation)) == (4, 0, 1)


def test_support_columns_replace_the_grounding_rate() -> None:
    evaluation = score([pred_doc(**META_SCALE)], [gold_doc(**META_SCALE)])
    for table in (evaluation.overall, evaluation.by_type, evaluation.by_doc):
        assert set(SUPPORT_COLUMNS) <= set(table.columns)
        assert not {"evidence", "grounded", "grounding_rate"} & set(table.columns)
    at = list(evaluation.by_type.columns).index("f1")
    assert list(evaluation.by_type.columns)[at + 1 :] == SUPPORT_COLUMNS


RICH_GOLD = {
    "companies": [
        company("Meta", aliases=["Meta Platforms", "Facebook"]),
        company("Scale AI", aliases=["Scale"], founded_year=2016, headquarters="San Francisco"),
        company("US Department of Defense", org_type="government"),
    ],
    "people": [
        person("Alexandr Wang", ("co-founder", "Scale AI"), ("head of AI research lab", "Meta")),
        person("Mark Zuckerberg", ("CEO", "Meta")),
    ],
    "deals": [
        deal(
            "investment",
            ("Meta", "investor"),
            ("Scale AI", "target"),
            amount=money(14e9, "about"),
            stake_percent=49,
            status="agreed",
        ),
        deal("investment", ("Meta", "investor"), ("Scale AI", "target"), status="completed"),
        deal(
            "funding_round",
            ("Meta", "investor"),
            ("Scale AI", "target"),
            amount=money(1e9),
            valuation=money(13.8e9),
            status="completed",
        ),
        deal(
            "contract",
            ("US Department of Defense", "customer"),
            ("Scale AI", "supplier"),
            date="2025-03",
            optional_fields=["date"],
        ),
        deal("partnership", ("Meta", "partner"), ("Scale AI", "partner"), optional=True),
    ],
}


def assert_all_ones(evaluation: Scores) -> None:
    """Every ratio in every table is 1.0."""
    ratios = ["precision", "recall", "f1"]
    assert overall(evaluation)[[*ratios, "macro_precision", "macro_recall", "macro_f1"]].eq(1).all()
    assert evaluation.by_type[ratios].eq(1).all().all()
    assert evaluation.by_field[[*ratios, "accuracy"]].eq(1).all().all()
    scored = evaluation.by_doc[evaluation.by_doc["status"] == "ok"]
    assert len(scored) == len(evaluation.by_doc)
    assert scored[ratios].eq(1).all().all()


def test_gold_against_itself_scores_one_on_every_table() -> None:
    golds = [gold_doc("d1", **RICH_GOLD), gold_doc("d2", **META_SCALE), gold_doc("d3")]
    preds = [pred_doc(g.doc_id, **g.model_dump(exclude={"doc_id"})) for g in golds]
    evaluation = score(preds, golds)
    assert_all_ones(evaluation)
    # d1: 3 companies + 2 people + 4 deals (the optional partnership counts nowhere); d2: 4.
    assert counts(overall(evaluation)) == (13, 0, 0)


@pytest.mark.skipif(not list(GOLD_DIR.glob("*.json")), reason="no gold files yet")
def test_repository_gold_against_itself_scores_one() -> None:
    golds = load_gold(GOLD_DIR)
    preds = [pred_doc(g.doc_id, **g.model_dump(exclude={"doc_id"})) for g in golds.values()]
    assert_all_ones(score(preds, list(golds.values())))
