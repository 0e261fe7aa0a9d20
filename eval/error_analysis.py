"""Why a run lost points: every missed record, spurious record and wrong field of a scored run,
with the predicted and the gold value and the quotes each side gives, from the same alignment
the scores come from (so the rows add up to the scores' false positives and negatives)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import pandas as pd

from eval.align import DocumentAlignment, RecordMatch
from schemas.records import Company, Deal, Money, Party, Person, Role, record_label

# A record-level row's field.
RECORD = "(record)"
ERROR_COLUMNS = (
    "record_type",
    "field",
    "error",
    "doc_id",
    "record",
    "predicted",
    "gold",
    "predicted_quote",
    "gold_quote",
)
# A field's verdict on a matched pair -> the error it is.
_FIELD_ERRORS = {"wrong": "wrong_value", "missing": "missing_value", "spurious": "spurious_value"}


class ErrorSort(StrEnum):
    """How `dealx errors` orders its rows."""

    field = "field"
    document = "document"
    error = "error"


_SORT_COLUMNS = {
    ErrorSort.field: ["record_type", "field", "error", "doc_id"],
    ErrorSort.document: ["doc_id", "record_type", "field", "error"],
    ErrorSort.error: ["error", "record_type", "field", "doc_id"],
}


def error_table(
    alignments: Iterable[DocumentAlignment], sort: ErrorSort = ErrorSort.field
) -> pd.DataFrame:
    """One row per error: a missed or spurious record (field "(record)"), or a wrong, missing
    or spurious value of a matched record. Optional gold records and fields are not errors."""
    rows = [
        row
        for alignment in alignments
        for match in alignment.matches
        for row in _match_errors(alignment.doc_id, match)
    ]
    frame = pd.DataFrame(rows, columns=list(ERROR_COLUMNS))
    # A stable sort keeps each document's records in their alignment order within a group.
    return frame.sort_values(_SORT_COLUMNS[sort], kind="stable").reset_index(drop=True)


def error_counts(errors: pd.DataFrame) -> pd.DataFrame:
    """How many errors of each kind per record type and field."""
    counts = errors.groupby(["record_type", "field", "error"], sort=True).size()
    return counts.rename("count").reset_index()


def _match_errors(doc_id: str, match: RecordMatch) -> list[dict[str, Any]]:
    if match.optional:
        return []
    pred, gold = match.pred, match.gold
    base = {
        "record_type": match.record_type,
        "doc_id": doc_id,
        "record": record_label(gold if gold is not None else pred),  # type: ignore[arg-type]
        "predicted_quote": quotes(pred),
        "gold_quote": quotes(gold),
    }
    if gold is None or pred is None:
        error = "spurious_record" if gold is None else "missed_record"
        label = record_label(pred if gold is None else gold)  # type: ignore[arg-type]
        return [
            {
                **base,
                "field": RECORD,
                "error": error,
                "predicted": label if gold is None else "",
                "gold": label if pred is None else "",
            }
        ]
    return [
        {
            **base,
            "field": name,
            "error": _FIELD_ERRORS[outcome.status],
            "predicted": field_text(pred, name),
            "gold": field_text(gold, name),
        }
        for name, outcome in match.fields.items()
        if outcome.status in _FIELD_ERRORS
    ]


def field_text(record: Company | Person | Deal, name: str) -> str:
    """A field's value as a reader wants it: "about USD 14,000,000,000", "CEO (Meta)",
    "Meta (investor), Scale AI (target)"; "" for none. `name` may be "amount.currency"."""
    value: Any = record
    for part in name.split("."):
        value = getattr(value, part, None)
        if value is None:
            return ""
    if isinstance(value, list):
        return "; ".join(_item_text(item) for item in value)
    return _item_text(value)


def _item_text(value: Any) -> str:
    if isinstance(value, Money):
        return f"{value.qualifier} {value.currency} {value.value:,.0f}"
    if isinstance(value, Party):
        return f"{value.name} ({value.role})"
    if isinstance(value, Role):
        return f"{value.title} ({value.organization})" if value.organization else value.title
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def quotes(record: Company | Person | Deal | None) -> str:
    """A record's evidence quotes, joined by " | "; "" for no record."""
    if record is None:
        return ""
    return " | ".join(evidence.quote for evidence in record.evidence)
