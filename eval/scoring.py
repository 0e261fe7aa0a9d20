"""Score a run against gold: align every document, sum the outcomes into counts, build the tables.

Counting (MUC convention): a matched record is a record-level true positive; an unmatched
prediction a false positive; an unmatched gold record a false negative. Per field, a wrong value
on a matched record is one false positive plus one false negative, a value where gold has none
a false positive, a missing value a false negative; both null is a true negative, kept out of
F1 but counted as right in the field's accuracy. Optional gold records and fields count nowhere.

Support: the pipeline's grounding step counts, per record type, the predicted records (and
values) it checked and those whose evidence quotes state them, before `strict` dropped anything.
Those counts come from the prediction (`DocumentExtraction.support`), not from the alignment, so a
strict and a flag run compare on the same footing; a run without grounding has none, and its
support rates are NaN.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from eval.align import FIELDS, RECORD_TYPES, DocumentAlignment, align_document
from eval.ceiling import ceiling_table
from eval.load import Run
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction, record_label

DocStatus = Literal["ok", "failed", "missing", "no_gold"]

RECORD_COUNTS = (
    "tp",
    "fp",
    "fn",
    "records_checked",
    "records_supported",
    "values_checked",
    "values_supported",
)
FIELD_COUNTS = ("tp", "fp", "fn", "tn", "correct", "compared")
FIELD_KEYS: tuple[tuple[str, str], ...] = tuple((t, f) for t in RECORD_TYPES for f in FIELDS[t])
_TP, _FP, _FN = range(3)
# Support field -> its index in RECORD_COUNTS.
_SUPPORT_AT = {
    "records": RECORD_COUNTS.index("records_checked"),
    "records_supported": RECORD_COUNTS.index("records_supported"),
    "values": RECORD_COUNTS.index("values_checked"),
    "values_supported": RECORD_COUNTS.index("values_supported"),
}
_TN, _CORRECT, _COMPARED = 3, 4, 5  # after tp, fp, fn in FIELD_COUNTS
_TYPE_OFFSET = {t: i * len(RECORD_COUNTS) for i, t in enumerate(RECORD_TYPES)}
_FIELD_OFFSET = {
    t: {f: FIELD_KEYS.index((t, f)) * len(FIELD_COUNTS) for f in FIELDS[t]} for t in RECORD_TYPES
}


@dataclass(frozen=True)
class Counts:
    """Per-document counts, the docs x counts matrices that the tables and the bootstrap sum.

    `records[d, t]` holds RECORD_COUNTS of record type t; `fields[d, k]` FIELD_COUNTS of
    FIELD_KEYS[k].
    """

    doc_ids: list[str]
    records: np.ndarray
    fields: np.ndarray

    @classmethod
    def from_rows(cls, doc_ids: list[str], rows: list[tuple[list[int], list[int]]]) -> Counts:
        """Stack the `document_counts` rows of each document."""
        records = np.array([r for r, _ in rows], dtype=np.int64)
        fields = np.array([f for _, f in rows], dtype=np.int64)
        return cls(
            doc_ids=doc_ids,
            records=records.reshape(len(doc_ids), len(RECORD_TYPES), len(RECORD_COUNTS)),
            fields=fields.reshape(len(doc_ids), len(FIELD_KEYS), len(FIELD_COUNTS)),
        )


@dataclass(frozen=True)
class Scores:
    """A scored run: the alignments (for reports and diffs), the counts and the four tables,
    plus the candidate recall (`ceiling_table`) when the run kept its candidates."""

    alignments: dict[str, DocumentAlignment]
    counts: Counts
    overall: pd.DataFrame
    by_type: pd.DataFrame
    by_field: pd.DataFrame
    by_doc: pd.DataFrame
    ceiling: pd.DataFrame | None = None


def evaluate(run: Run, golds: dict[str, GoldDocument]) -> Scores:
    """Score every gold document; one the run lacks or failed on counts as all-missed."""
    statuses: dict[str, tuple[DocStatus, str]] = {}
    alignments: dict[str, DocumentAlignment] = {}
    rows = []
    with _collector_paused():
        for doc_id in sorted(golds):
            pred = run.predictions.get(doc_id)
            if pred is not None:
                statuses[doc_id] = ("ok", "")
            elif doc_id in run.failures:
                statuses[doc_id] = ("failed", run.failures[doc_id])
            else:
                statuses[doc_id] = ("missing", "not in the run")
            alignment = align_document(pred, golds[doc_id])
            alignments[doc_id] = alignment
            # Counted now, while the document's records are still in cache.
            rows.append(document_counts(alignment, pred))
    for doc_id in sorted(run.doc_ids - set(golds)):
        statuses[doc_id] = ("no_gold", "no gold file; not scored")
    counts = Counts.from_rows(list(alignments), rows)
    by_doc = doc_table(counts, statuses)
    return Scores(
        alignments=alignments,
        counts=counts,
        overall=overall_table(counts, by_doc),
        by_type=type_table(counts),
        by_field=field_table(counts),
        by_doc=by_doc,
        ceiling=ceiling_table(run.candidates, golds) if run.candidates else None,
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while aligning and counting.

    Alignment allocates millions of small acyclic objects; the collector's passes over them free
    nothing and cost about 15% of the time at 10,000 documents.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def document_counts(
    alignment: DocumentAlignment, pred: DocumentExtraction | None = None
) -> tuple[list[int], list[int]]:
    """One document's flat RECORD_COUNTS per type and FIELD_COUNTS per field.

    The support counts are the prediction's own (`pred.support`); none without a prediction or
    when its grounding was off.
    """
    records = [0] * (len(RECORD_TYPES) * len(RECORD_COUNTS))
    fields = [0] * (len(FIELD_KEYS) * len(FIELD_COUNTS))
    if pred is not None and pred.support:
        for record_type, support in pred.support.items():
            base = _TYPE_OFFSET[record_type]
            for name, at in _SUPPORT_AT.items():
                records[base + at] += getattr(support, name)
    for match in alignment.matches:
        base = _TYPE_OFFSET[match.record_type]
        if match.optional:
            continue
        matched = match.pred is not None and match.gold is not None
        if matched:
            records[base + _TP] += 1
        else:
            records[base + (_FN if match.pred is None else _FP)] += 1
        offsets = _FIELD_OFFSET[match.record_type]
        for name, field in match.fields.items():
            at = offsets[name]
            fields[at + _TP] += field.tp
            fields[at + _FP] += field.fp
            fields[at + _FN] += field.fn
            # Accuracy is over matched records; both null (a true negative) counts as right.
            if matched and field.status != "optional":
                fields[at + _TN] += field.status == "true_negative"
                fields[at + _CORRECT] += field.status in ("correct", "true_negative")
                fields[at + _COMPARED] += 1
    return records, fields


def f1_scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Vectorised F1 = 2tp / (2tp + fp + fn); 1.0 where there was nothing to find or predict."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.ones_like(denominator), where=denominator > 0)


def with_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Add precision, recall and F1 beside the tp/fp/fn columns.

    Nothing to find and nothing predicted scores 1.0; any other zero denominator scores 0.
    """
    tp, fp, fn = (frame[c].to_numpy(np.float64) for c in ("tp", "fp", "fn"))
    empty = tp + fp + fn == 0
    default = np.where(empty, 1.0, 0.0)
    frame = frame.copy()
    frame["precision"] = np.divide(tp, tp + fp, out=default.copy(), where=tp + fp > 0)
    frame["recall"] = np.divide(tp, tp + fn, out=default.copy(), where=tp + fn > 0)
    frame["f1"] = f1_scores(tp, fp, fn)
    return frame


def type_table(counts: Counts) -> pd.DataFrame:
    """Record-level P/R/F1 and support per record type, micro over documents."""
    frame = _record_frame(counts.records.sum(axis=0))
    frame.insert(0, "record_type", list(RECORD_TYPES))
    return frame


def field_table(counts: Counts) -> pd.DataFrame:
    """Per field: accuracy on matched records and MUC P/R/F1; fields nobody had are left out."""
    sums = counts.fields.sum(axis=0)
    frame = pd.DataFrame(sums, columns=list(FIELD_COUNTS))
    frame.insert(0, "field", [f for _, f in FIELD_KEYS])
    frame.insert(0, "record_type", [t for t, _ in FIELD_KEYS])
    frame = frame[(frame[["tp", "fp", "fn", "compared"]] > 0).any(axis=1)]
    frame.insert(
        frame.columns.get_loc("compared") + 1,
        "accuracy",
        np.divide(
            frame["correct"].to_numpy(np.float64),
            frame["compared"].to_numpy(np.float64),
            out=np.full(len(frame), np.nan),
            where=frame["compared"].to_numpy() > 0,
        ),
    )
    return with_ratios(frame).reset_index(drop=True)


def doc_table(counts: Counts, statuses: dict[str, tuple[DocStatus, str]]) -> pd.DataFrame:
    """Record-level counts and P/R/F1 per document; documents without gold get a row, no score."""
    frame = _record_frame(counts.records.sum(axis=1))
    frame.insert(0, "doc_id", counts.doc_ids)
    scored = set(counts.doc_ids)
    unscored = [doc_id for doc_id in statuses if doc_id not in scored]
    if unscored:
        frame = pd.concat([frame, pd.DataFrame({"doc_id": unscored})], ignore_index=True)
        integer_columns = list(RECORD_COUNTS)
        frame[integer_columns] = frame[integer_columns].astype("Int64")
    frame.insert(1, "status", [statuses[d][0] for d in frame["doc_id"]])
    frame["reason"] = [statuses[d][1] for d in frame["doc_id"]]
    return frame


def overall_table(counts: Counts, by_doc: pd.DataFrame) -> pd.DataFrame:
    """One row: micro P/R/F1 over all records, macro over documents, document counts, support,
    then the same micro P/R/F1 over every field of every record (`field_*`): the record level
    says whether a deal is there at all, the field level also whether its values are right."""
    frame = _record_frame(counts.records.sum(axis=(0, 1))[None, :])
    scored = by_doc[by_doc["status"] != "no_gold"]
    at = frame.columns.get_loc("f1") + 1
    for offset, ratio in enumerate(("precision", "recall", "f1")):
        frame.insert(at + offset, f"macro_{ratio}", scored[ratio].mean() if len(scored) else np.nan)
    status = by_doc["status"].value_counts()
    at = frame.columns.get_loc("macro_f1") + 1
    frame.insert(at, "docs", len(scored))
    for offset, name in enumerate(("failed", "missing", "no_gold"), start=1):
        frame.insert(at + offset, f"docs_{name}", int(status.get(name, 0)))
    totals = field_sums(counts.fields).sum(axis=0)
    slots = with_ratios(pd.DataFrame([totals], columns=["tp", "fp", "fn"]))
    for column in slots.columns:
        frame[f"field_{column}"] = slots[column]
    return frame


def field_sums(fields: np.ndarray) -> np.ndarray:
    """tp/fp/fn summed over every field: (documents, fields, counts) -> (documents, 3)."""
    return fields[..., :3].sum(axis=-2)


def _record_frame(sums: np.ndarray) -> pd.DataFrame:
    """tp/fp/fn with their ratios, then the support counts with their rates.

    `support_rate` is the share of checked predicted records whose evidence states every value
    they claim, `value_support_rate` the same over single values; NaN where nothing was checked.
    """
    frame = with_ratios(pd.DataFrame(sums[:, :3], columns=["tp", "fp", "fn"]))
    for checked, supported, rate in (
        ("records_checked", "records_supported", "support_rate"),
        ("values_checked", "values_supported", "value_support_rate"),
    ):
        frame[checked] = sums[:, RECORD_COUNTS.index(checked)]
        frame[supported] = sums[:, RECORD_COUNTS.index(supported)]
        frame[rate] = _share(frame[supported].to_numpy(), frame[checked].to_numpy())
    return frame


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole as floats, NaN where whole is 0."""
    whole = whole.astype(np.float64)
    return np.divide(
        part.astype(np.float64), whole, out=np.full(len(whole), np.nan), where=whole > 0
    )


def record_table(alignments: Iterable[DocumentAlignment]) -> pd.DataFrame:
    """One row per predicted or gold record: its outcome, what it matched and the wrong fields."""
    rows = [
        {
            "doc_id": alignment.doc_id,
            "record_type": match.record_type,
            "outcome": match.outcome,
            "record": record_label(match.gold if match.gold is not None else match.pred),
            "pred_index": match.pred_index,
            "gold_index": match.gold_index,
            "similarity": match.similarity,
            "wrong_fields": ", ".join(match.wrong_fields) if match.pred and match.gold else "",
        }
        for alignment in alignments
        for match in alignment.matches
    ]
    frame = pd.DataFrame(rows, columns=list(_RECORD_COLUMNS))
    return frame.astype({"pred_index": "Int64", "gold_index": "Int64"})


_RECORD_COLUMNS = (
    "doc_id",
    "record_type",
    "outcome",
    "record",
    "pred_index",
    "gold_index",
    "similarity",
    "wrong_fields",
)
