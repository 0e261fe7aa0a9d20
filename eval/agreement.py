"""Agreement between two annotations of the same documents: annotation B scored against
annotation A with the scorer's own alignment and counting, so the figures read like an
extractor's and give the human ceiling any extractor's score should be read against."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eval.error_analysis import error_table
from eval.load import Run
from eval.scoring import evaluate
from schemas.errors import InputError
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction

_GOLD_ONLY = {
    name: {"__all__": {"optional", "optional_fields"}} for name in ("companies", "people", "deals")
}


@dataclass(frozen=True)
class Agreement:
    """Record and field F1 of B against A (`overall`, `by_type`, `by_field`), every record and
    field the two disagree on (`disagreements`, in the columns of `dealx errors`: `gold` is A's
    value, `predicted` B's), and the documents only one annotation has."""

    overall: pd.DataFrame
    by_type: pd.DataFrame
    by_field: pd.DataFrame
    disagreements: pd.DataFrame
    only_a: list[str]
    only_b: list[str]


def agreement(a: Mapping[str, GoldDocument], b: Mapping[str, GoldDocument]) -> Agreement:
    """Score B against A over the documents both annotated. A's optional records and fields
    count nowhere (as for an extractor); B's optional flags are not read."""
    shared = sorted(set(a) & set(b))
    if not shared:
        raise InputError("the two annotations have no document in common")
    as_run = Run(Path("<annotation B>"), {}, {d: _as_extraction(b[d]) for d in shared}, {})
    scores = evaluate(as_run, {d: a[d] for d in shared})
    return Agreement(
        overall=scores.overall,
        by_type=scores.by_type,
        by_field=scores.by_field,
        disagreements=error_table(scores.alignments.values()),
        only_a=sorted(set(a) - set(b)),
        only_b=sorted(set(b) - set(a)),
    )


def _as_extraction(gold: GoldDocument) -> DocumentExtraction:
    return DocumentExtraction.model_validate(gold.model_dump(exclude=_GOLD_ONLY))
