"""The eval facade: `score` a run against gold, `compare` two runs on the same gold.

from eval import compare, score

scores = score("runs/latest", "gold")
print(scores.by_type)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from eval.comparison import Comparison
from eval.comparison import compare as compare_scores
from eval.load import Run, load_gold, load_run
from eval.scoring import Scores, evaluate
from schemas.errors import InputError
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction

Predictions = str | Path | Run | Mapping[str, DocumentExtraction] | Iterable[DocumentExtraction]
Gold = str | Path | Mapping[str, GoldDocument]


def as_run(predictions: Predictions) -> Run:
    """A run from a run directory, a loaded Run, or records in memory (a list of
    DocumentExtraction such as `pipeline.extract` returns, or a dict by document id). Failed
    documents are read from a `failures` attribute when the records carry one."""
    if isinstance(predictions, Run):
        return predictions
    if isinstance(predictions, str | Path):
        return load_run(Path(predictions))
    records = (
        dict(predictions)
        if isinstance(predictions, Mapping)
        else {record.doc_id: record for record in predictions}
    )
    for doc_id, record in records.items():
        if not isinstance(record, DocumentExtraction):
            raise InputError(
                f"{doc_id}: expected a DocumentExtraction, got {type(record).__name__}"
            )
    failures = dict(getattr(predictions, "failures", {}) or {})
    return Run(Path("<memory>"), {}, records, failures)


def as_gold(gold: Gold) -> dict[str, GoldDocument]:
    """Gold documents from a gold folder or a dict by document id."""
    if isinstance(gold, str | Path):
        return load_gold(Path(gold))
    return dict(gold)


def score(predictions: Predictions, gold: Gold) -> Scores:
    """Score predictions against gold: P/R/F1 and support per record type, field and document
    (`Scores.overall`, `.by_type`, `.by_field`, `.by_doc` are pandas DataFrames)."""
    return evaluate(as_run(predictions), as_gold(gold))


def compare(a: Predictions, b: Predictions, gold: Gold) -> Comparison:
    """Compare run B with run A on the same gold: F1 deltas with paired-bootstrap intervals
    (`Comparison.deltas`) and the records that changed (`Comparison.changes`)."""
    golds = as_gold(gold)
    return compare_scores(evaluate(as_run(a), golds), evaluate(as_run(b), golds))
