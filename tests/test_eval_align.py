"""One-to-one alignment: exact keys first, optimal assignment with a floor, per-field outcomes."""

from __future__ import annotations

from typing import Any

import numpy as np

from eval.align import RecordMatch, align_document, assign
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction, record_label

EVIDENCE = [{"quote": "A sentence.", "start": 0, "end": 11}]


def docs(
    gold: dict[str, list[dict[str, Any]]], pred: dict[str, list[dict[str, Any]]]
) -> tuple[DocumentExtraction, GoldDocument]:
    def with_evidence(records: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return {k: [{"evidence": EVIDENCE, **r} for r in rs] for k, rs in records.items()}

    return (
        DocumentExtraction.model_validate({"doc_id": "d", **with_evidence(pred)}),
        GoldDocument.model_validate({"doc_id": "d", **with_evidence(gold)}),
    )


def by_outcome(matches: tuple[RecordMatch, ...]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for match in matches:
        record = match.gold if match.gold is not None else match.pred
        found.setdefault(match.outcome, []).append(record_label(record))
    return found


def test_assign_takes_exact_pairs_before_maximising_the_total() -> None:
    similarity = np.array([[1.0, 0.95], [0.95, 0.0]])
    # A plain maximum would swap (0.95 + 0.95 = 1.9 > 1.0); the exact pair wins instead.
    assert assign(similarity, floor=0.8) == [(0, 0)]


def test_assign_drops_pairs_below_the_floor() -> None:
    similarity = np.array([[0.79, 0.2], [0.1, 0.85]])
    assert assign(similarity, floor=0.8) == [(1, 1)]
    assert assign(np.zeros((0, 3)), floor=0.8) == []
    assert assign(np.array([[0.5, 0.9, 0.9]]), floor=0.8) == [(0, 1)]  # earliest tie wins


def test_fuzzy_company_names_pair_but_substrings_do_not() -> None:
    gold = {"companies": [{"name": "OpenAI"}, {"name": "Bank of America"}]}
    pred = {"companies": [{"name": "Open AI"}, {"name": "Bank"}]}
    alignment = align_document(*docs(gold, pred))
    found = by_outcome(alignment.matches)
    # "open ai" vs "openai": Indel similarity 12/13 = 0.92 >= 0.8, but its name field is wrong.
    assert found["wrong_value"] == ["OpenAI"]
    # "bank" vs "bank of america": 8/19 = 0.42 < 0.8 (token_set_ratio would say 100).
    assert found["missed"] == ["Bank of America"]
    assert found["spurious"] == ["Bank"]


def test_invented_deal_is_spurious_plus_missed_not_wrong() -> None:
    gold = {
        "deals": [
            {
                "deal_type": "investment",
                "parties": [
                    {"name": "Meta", "role": "investor"},
                    {"name": "Scale AI", "role": "target"},
                ],
            }
        ]
    }
    pred = {
        "deals": [
            {
                "deal_type": "partnership",
                "parties": [
                    {"name": "Meta", "role": "partner"},
                    {"name": "Anduril", "role": "partner"},
                ],
            }
        ]
    }
    alignment = align_document(*docs(gold, pred))
    # 0.45 * 0/4 + 0.2 * 1/3 + 0.25 * 0 + 0.1 (no amounts) = 0.17 < 0.5: left unmatched.
    assert sorted(m.outcome for m in alignment.matches) == ["missed", "spurious"]


def test_same_parties_deals_are_told_apart_by_amount() -> None:
    parties = [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}]
    new = {"deal_type": "investment", "parties": parties, "amount": 14e9, "status": "agreed"}
    old = {"deal_type": "investment", "parties": parties, "status": "completed"}
    alignment = align_document(*docs({"deals": [old, new]}, {"deals": [new, old]}))
    pairs = {(m.pred_index, m.gold_index): m.outcome for m in alignment.matches}
    assert pairs == {(0, 1): "correct", (1, 0): "correct"}


def test_per_field_outcomes_for_a_report() -> None:
    gold = {"companies": [{"name": "Scale AI", "founded_year": 2016, "aliases": ["Scale"]}]}
    pred = {"companies": [{"name": "Scale AI Inc.", "founded_year": 2017, "headquarters": "SF"}]}
    (match,) = align_document(*docs(gold, pred)).matches
    statuses = {name: field.status for name, field in match.fields.items()}
    assert statuses == {
        "name": "correct",
        "aliases": "missing",
        "org_type": "correct",
        "founded_year": "wrong",
        "headquarters": "spurious",
    }
    assert match.outcome == "wrong_value"
    assert match.wrong_fields == ["aliases", "founded_year", "headquarters"]


def test_swapped_alias_and_name_are_the_same_company() -> None:
    gold = {"companies": [{"name": "Alphabet", "aliases": ["Google"]}]}
    pred = {"companies": [{"name": "Google", "aliases": ["Alphabet"]}]}
    (match,) = align_document(*docs(gold, pred)).matches
    assert match.fields["name"].status == "correct"
    assert match.fields["aliases"].status == "true_negative"


def test_failed_document_leaves_every_gold_record_missed() -> None:
    _, gold = docs({"companies": [{"name": "Meta"}], "people": [{"name": "Mark Zuckerberg"}]}, {})
    alignment = align_document(None, gold)
    assert [m.outcome for m in alignment.matches] == ["missed", "missed"]
    assert alignment.matches[0].fields["name"].fn == 1
