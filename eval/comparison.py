"""Compare two scored runs on the same gold: deltas, a paired bootstrap, the records that changed.

The bootstrap resamples documents, not records, because the records of one article are
correlated (Koehn 2004; Berg-Kirkpatrick et al. 2012): each resample draws n documents with
replacement, sums both runs' counts over them and recomputes micro F1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eval.align import RECORD_TYPES, DocumentAlignment
from eval.scoring import FIELD_KEYS, Counts, Scores, field_sums
from schemas.errors import InputError
from schemas.normalize import fold
from schemas.records import record_label

RESAMPLES = 10_000
SEED = 20250611
CONFIDENCE = 0.95
# Below this many documents the interval is wide; the output says so.
FEW_DOCS = 30
# Resamples per matrix product, so that memory stays ~ this many (resample, document) cells.
_CHUNK_CELLS = 4_000_000

Scope = tuple[str, str, str]  # ("overall" | "all_fields" | "type" | "field", type, field)


@dataclass(frozen=True)
class Comparison:
    """Run B against run A: one row per scope in `deltas`, the changed records in `changes`."""

    n_docs: int
    deltas: pd.DataFrame
    changes: pd.DataFrame
    # Gold documents only one run has an outcome for (extracted or failed); left out of the
    # comparison, since a document a run never saw would count against it as all missed.
    only_a: tuple[str, ...] = ()
    only_b: tuple[str, ...] = ()

    @property
    def b_significantly_worse(self) -> bool:
        """True when the interval of F1(B) - F1(A) lies wholly below 0 for the records
        (a deal lost) or for all their fields together (a value gone wrong)."""
        headline = self.deltas[self.deltas["scope"].isin(["overall", "all_fields"])]
        return bool((headline["ci_high"] < 0).any())

    @property
    def note(self) -> str:
        """How to read the intervals for this many documents."""
        text = (
            f"{self.n_docs} documents, {RESAMPLES:,} paired bootstrap resamples of documents "
            f"(seed {SEED}); an interval that excludes 0 marks a significant difference."
        )
        if self.only_a or self.only_b:
            text += (
                f" The runs cover different documents: only the {self.n_docs} both have are"
                f" compared ({_listed('only in A', self.only_a)}{_listed('only in B', self.only_b)}"
                "left out)."
            )
        if self.n_docs < FEW_DOCS:
            text += (
                f" With only n = {self.n_docs} documents only large differences can be"
                " significant: an interval that includes 0 does not show that nothing changed."
            )
        return text


def compare(a: Scores, b: Scores) -> Comparison:
    """Deltas with bootstrap intervals per overall/type/field, and the records that changed,
    over the gold documents both runs have an outcome for.

    A scope with nothing to find and nothing predicted has no F1 in a run (it is not a 1.0
    that a spurious prediction elsewhere could "lose"), so it has no delta either; a scope
    empty in both runs is left out.
    """
    if a.counts.doc_ids != b.counts.doc_ids:
        raise InputError("the two runs were scored against different gold documents")
    shared, only_a, only_b = shared_documents(a, b)
    if not shared:
        raise InputError(
            "the two runs have no gold document in common "
            f"({_listed('only in A', only_a)}{_listed('only in B', only_b)}"
            "nothing to compare)"
        )
    scopes, a_counts, b_counts = _scope_counts(_subset(a.counts, shared), _subset(b.counts, shared))
    low, high = paired_bootstrap(a_counts, b_counts)
    a_sums, b_sums = a_counts.sum(axis=0), b_counts.sum(axis=0)
    a_f1 = defined_f1(*a_sums.T)
    b_f1 = defined_f1(*b_sums.T)
    deltas = pd.DataFrame(scopes, columns=["scope", "record_type", "field"])
    for side, sums, f1 in (("a", a_sums, a_f1), ("b", b_sums, b_f1)):
        for k, name in enumerate(("tp", "fp", "fn")):
            deltas[f"{side}_{name}"] = sums[:, k]
        deltas[f"{side}_f1"] = f1
    deltas["delta"] = b_f1 - a_f1
    deltas["ci_low"], deltas["ci_high"] = low, high
    deltas["significant"] = (low > 0) | (high < 0)
    headline = deltas["scope"].isin(["overall", "all_fields"])
    deltas = deltas[headline | ~(np.isnan(a_f1) & np.isnan(b_f1))].reset_index(drop=True)
    kept = set(shared)
    changes = changed_records(
        {d: alignment for d, alignment in a.alignments.items() if d in kept},
        {d: alignment for d, alignment in b.alignments.items() if d in kept},
    )
    return Comparison(len(shared), deltas, changes, tuple(only_a), tuple(only_b))


def shared_documents(a: Scores, b: Scores) -> tuple[list[str], list[str], list[str]]:
    """Gold documents both runs have an outcome for, and those only A or only B has. A failed
    document is an outcome (all its records missed); one the run never had is not."""
    present = []
    for scores in (a, b):
        by_doc = scores.by_doc
        present.append(set(by_doc.loc[by_doc["status"].isin(["ok", "failed"]), "doc_id"]))
    in_a, in_b = present
    doc_ids = a.counts.doc_ids
    return (
        [d for d in doc_ids if d in in_a and d in in_b],
        [d for d in doc_ids if d in in_a and d not in in_b],
        [d for d in doc_ids if d in in_b and d not in in_a],
    )


def defined_f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """F1 = 2tp / (2tp + fp + fn), NaN where there was nothing to find and nothing predicted."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(
        2 * tp, denominator, out=np.full_like(denominator, np.nan), where=denominator > 0
    )


def _subset(counts: Counts, doc_ids: list[str]) -> Counts:
    """The counts of some documents only."""
    rows = [counts.doc_ids.index(d) for d in doc_ids]
    return Counts(doc_ids, counts.records[rows], counts.fields[rows])


def _listed(label: str, doc_ids: Sequence[str]) -> str:
    """`label: a, b; ` for a note, or nothing when there are none."""
    return f"{label}: {', '.join(doc_ids)}; " if doc_ids else ""


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """The CONFIDENCE interval of F1(b) - F1(a) for every scope, resampling documents in pairs.

    `a` and `b` are (documents, scopes, 3) tp/fp/fn counts. A resample is a vector of how often
    each document was drawn (multinomial), so summing the counts is one matrix product.
    """
    n_docs, n_scopes, _ = a.shape
    flat = np.concatenate([a.reshape(n_docs, -1), b.reshape(n_docs, -1)], axis=1)
    flat = flat.astype(np.float64)
    rng = np.random.default_rng(seed)
    deltas = np.empty((resamples, n_scopes))
    chunk = max(1, _CHUNK_CELLS // max(n_docs, 1))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draws = rng.multinomial(n_docs, np.full(n_docs, 1.0 / n_docs), size=size)
        sums = (draws @ flat).reshape(size, 2, n_scopes, 3)
        f1 = defined_f1(sums[..., 0], sums[..., 1], sums[..., 2])
        deltas[start : start + size] = f1[:, 1] - f1[:, 0]
    tail = (1 - CONFIDENCE) / 2 * 100
    # A resample in which a scope is empty for a run has no delta for it and is left out.
    low, high = np.full(n_scopes, np.nan), np.full(n_scopes, np.nan)
    some = ~np.isnan(deltas).all(axis=0)
    low[some], high[some] = np.nanpercentile(deltas[:, some], [tail, 100 - tail], axis=0)
    return low, high


def changed_records(
    a: dict[str, DocumentAlignment], b: dict[str, DocumentAlignment]
) -> pd.DataFrame:
    """Records right in A and wrong in B (regressions) and the reverse (improvements).

    A gold record is right when matched with every field correct; it goes wrong when B gets a
    value wrong or misses it (`detail` names the wrong fields, or "missed"). Spurious predictions
    are told apart across runs by their label.
    """
    rows = []
    for doc_id, a_doc in a.items():
        b_doc = b[doc_id]
        a_gold, b_gold = _gold_outcomes(a_doc), _gold_outcomes(b_doc)
        for key, (a_outcome, a_wrong, label) in a_gold.items():
            b_outcome, b_wrong, _ = b_gold[key]
            if (a_outcome == "correct") != (b_outcome == "correct"):
                change = "regression" if a_outcome == "correct" else "improvement"
                detail = b_wrong if change == "regression" else a_wrong
                rows.append((doc_id, key[0], label, change, a_outcome, b_outcome, detail))
        (a_spurious, a_labels), (b_spurious, b_labels) = _spurious(a_doc), _spurious(b_doc)
        for key, times in (b_spurious - a_spurious).items():
            row = (doc_id, key[0], b_labels[key], "regression", "absent", "spurious", "")
            rows.extend([row] * times)
        for key, times in (a_spurious - b_spurious).items():
            row = (doc_id, key[0], a_labels[key], "improvement", "spurious", "absent", "")
            rows.extend([row] * times)
    columns = ["doc_id", "record_type", "record", "change", "a", "b", "detail"]
    return pd.DataFrame(rows, columns=columns)


def _scope_counts(a: Counts, b: Counts) -> tuple[list[Scope], np.ndarray, np.ndarray]:
    """tp/fp/fn per document for overall, each record type and each field both runs saw."""
    scopes: list[Scope] = [("overall", "", ""), ("all_fields", "", "")]
    a_parts = [a.records[:, :, :3].sum(axis=1), field_sums(a.fields)]
    b_parts = [b.records[:, :, :3].sum(axis=1), field_sums(b.fields)]
    for t, record_type in enumerate(RECORD_TYPES):
        scopes.append(("type", record_type, ""))
        a_parts.append(a.records[:, t, :3])
        b_parts.append(b.records[:, t, :3])
    seen = (a.fields[:, :, :3].sum(axis=(0, 2)) + b.fields[:, :, :3].sum(axis=(0, 2))) > 0
    for k, (record_type, field) in enumerate(FIELD_KEYS):
        if seen[k]:
            scopes.append(("field", record_type, field))
            a_parts.append(a.fields[:, k, :3])
            b_parts.append(b.fields[:, k, :3])
    return scopes, np.stack(a_parts, axis=1), np.stack(b_parts, axis=1)


def _gold_outcomes(alignment: DocumentAlignment) -> dict[tuple[str, int], tuple[str, str, str]]:
    """(record type, gold index) -> (outcome, wrong fields, label) for every non-optional gold."""
    return {
        (match.record_type, match.gold_index): (
            match.outcome,
            ", ".join(match.wrong_fields) if match.pred is not None else "missed",
            record_label(match.gold),
        )
        for match in alignment.matches
        if match.gold is not None and match.gold_index is not None and not match.optional
    }


def _spurious(
    alignment: DocumentAlignment,
) -> tuple[Counter[tuple[str, str]], dict[tuple[str, str], str]]:
    """Spurious predictions counted by (record type, folded label), and a label to show for each."""
    found: Counter[tuple[str, str]] = Counter()
    labels: dict[tuple[str, str], str] = {}
    for match in alignment.matches:
        if match.outcome == "spurious" and match.pred is not None:
            label = record_label(match.pred)
            key = (match.record_type, fold(label))
            found[key] += 1
            labels.setdefault(key, label)
    return found, labels
