"""Stability of repeated runs over the same documents: per field, how often the runs give the
same value and how often they are right, so a field a model gets right only by luck (right in
some runs, wrong in others) shows.

Each run is aligned with the gold as the eval aligns it; an item is one non-optional gold
record (its "(record)" row: found or not) or one of its fields. A run's value for an item is
the value of the record it aligned with that gold record ("" when it missed the record).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import pandas as pd

from eval.align import FIELDS, RecordMatch
from eval.error_analysis import RECORD, field_text
from eval.scoring import Scores
from schemas.errors import InputError

STABILITY_COLUMNS = (
    "record_type",
    "field",
    "items",
    "runs_agree",
    "right_always",
    "right_sometimes",
    "right_never",
    "accuracy",
)


def stability_table(runs: Sequence[Scores]) -> pd.DataFrame:
    """One row per record type and field (and "(record)" per type) over the gold documents
    every run has: `runs_agree` is the share of items on which all runs give the same value,
    `right_always` / `right_sometimes` / `right_never` the shares right in every run, in some
    but not all, in none, `accuracy` the mean share of runs that are right."""
    if len(runs) < 2:
        raise InputError("stability needs at least two runs of the same documents")
    doc_ids = [d for d in runs[0].alignments if all(_has(scores, d) for scores in runs)]
    if not doc_ids:
        raise InputError("the runs have no gold document in common")
    # (record type, field) -> one (values, rights) pair per item.
    items: dict[tuple[str, str], list[tuple[list[str], list[bool]]]] = defaultdict(list)
    for doc_id in doc_ids:
        per_run = [_by_gold(scores, doc_id) for scores in runs]
        for key, first in per_run[0].items():
            matches = [found[key] for found in per_run]
            record_type = first.record_type
            items[(record_type, RECORD)].append(
                (
                    ["found" if m.pred is not None else "" for m in matches],
                    [m.pred is not None for m in matches],
                )
            )
            # A matched pair lists every field; a missed record only the gold's values.
            names = {name for m in matches for name in m.fields}
            for name in (n for n in FIELDS[record_type] if n in names):
                values = [field_text(m.pred, name) if m.pred is not None else "" for m in matches]
                rights = [_right(m, name) for m in matches]
                items[(record_type, name)].append((values, rights))
    rows = []
    for (record_type, name), found in items.items():
        count = len(found)
        always = sum(all(rights) for _, rights in found)
        never = sum(not any(rights) for _, rights in found)
        rows.append(
            (
                record_type,
                name,
                count,
                sum(len(set(values)) == 1 for values, _ in found) / count,
                always / count,
                (count - always - never) / count,
                never / count,
                sum(sum(rights) / len(rights) for _, rights in found) / count,
            )
        )
    frame = pd.DataFrame(rows, columns=list(STABILITY_COLUMNS))
    return frame.sort_values(["record_type", "field"], kind="stable").reset_index(drop=True)


def _has(scores: Scores, doc_id: str) -> bool:
    status = scores.by_doc.set_index("doc_id")["status"]
    return doc_id in status.index and status[doc_id] in ("ok", "failed")


def _right(match: RecordMatch, name: str) -> bool:
    """Whether a run got a field of a gold record right (a missed record gets nothing right)."""
    outcome = match.fields.get(name)
    return match.pred is not None and outcome is not None and outcome.status in _RIGHT


_RIGHT = ("correct", "true_negative")


def _by_gold(scores: Scores, doc_id: str) -> dict[tuple[str, int | None], RecordMatch]:
    """A document's non-optional gold records by (type, gold index), each with its match."""
    return {
        (match.record_type, match.gold_index): match
        for match in scores.alignments[doc_id].matches
        if match.gold is not None and not match.optional
    }
