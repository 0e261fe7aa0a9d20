"""Score a consolidation against gold/consolidated.json.

Each predicted per-article record is first paired with a per-article gold record by the
eval's own alignment (`eval.align`), so a predicted mention stands for a gold mention or is
spurious. Then:

- **Clusters** (deals, companies, people): pairwise precision/recall/F1 over the pairs of
  mentions that share a cluster, and B-cubed (Bagga and Baldwin 1998) per mention, in the
  variant for predicted mentions of Cai and Strube (2010): a spurious mention is its own gold
  cluster, a missed gold mention its own predicted cluster. Both are reported because they
  fail differently: one giant cluster keeps pairwise recall, many singletons keep B-cubed
  precision.
- **Fields**: each gold deal is paired with the predicted deal that shares most of its
  mentions (one to one), and its current values (type, parties, status, amount, stake,
  valuation, date), its timeline (the sources in order, with their dates) and its conflicts
  are judged like per-article fields: a wrong value is one false positive and one false
  negative, a gold null with a predicted value a false positive; an unpaired gold deal counts
  its values missed, an unpaired predicted deal its values spurious. Entities are judged by
  their name.

Optional gold records and clusters, optional fields and documents without gold are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eval.align import align_document, assign
from eval.consolidated_gold import load_consolidated_gold
from eval.gold import CONSOLIDATED_GOLD
from eval.load import load_gold, load_run
from pipeline.consolidation import consolidate
from pipeline.consolidation.inputs import Articles
from schemas.consolidated import (
    Conflict,
    Consolidation,
    GoldConsolidation,
    GoldDealCluster,
    mention_key,
    parse_mention_key,
)
from schemas.gold import GoldDocument
from schemas.normalize import (
    date_agrees,
    money_agrees,
    normalize_company,
    normalize_person,
    percent_agrees,
)
from schemas.records import DocumentExtraction, Money

KINDS = {"deal": "deals", "company": "companies", "person": "people"}
DEAL_FIELDS = (
    "deal_type",
    "parties",
    "status",
    "amount",
    "stake_percent",
    "valuation",
    "date",
    "timeline",
    "conflicts",
)


@dataclass(frozen=True)
class ConsolidationScores:
    """`clusters`: P/R/F1 per kind and metric (pairwise, bcubed); `fields`: tp/fp/fn and
    P/R/F1 per kind and field; `deals`: per gold deal, the predicted deal paired with it and
    the fields it got wrong; `consolidation`: what was scored."""

    clusters: pd.DataFrame
    fields: pd.DataFrame
    deals: pd.DataFrame
    consolidation: Consolidation

    @property
    def headline(self) -> dict[str, float]:
        """The lowest cluster F1 and the micro F1 over every field: 1.0 and 1.0 is perfect."""
        totals = self.fields[["tp", "fp", "fn"]].sum()
        return {
            "cluster_f1_min": float(self.clusters["f1"].min()),
            "field_f1": _f1(int(totals["tp"]), int(totals["fp"]), int(totals["fn"]))[2],
        }


def score_consolidated(
    predictions: str | Path | Mapping[str, DocumentExtraction] | Iterable[DocumentExtraction],
    gold: str | Path = "gold",
    *,
    articles: Articles = None,
) -> ConsolidationScores:
    """Consolidate a run (a run directory or records in memory) and score it against the gold
    folder's per-article files and its consolidated.json."""
    gold_dir = Path(gold)
    golds = load_gold(gold_dir)
    gold_consolidation = load_consolidated_gold(gold_dir / CONSOLIDATED_GOLD)
    if isinstance(predictions, str | Path):
        run = load_run(Path(predictions))
        consolidation = consolidate(Path(predictions), articles=articles)
        records = run.predictions
    else:
        items = predictions.values() if isinstance(predictions, Mapping) else predictions
        records = {record.doc_id: record for record in items}
        consolidation = consolidate(records, articles=articles)
    return evaluate_consolidation(consolidation, records, golds, gold_consolidation)


def gold_extractions(golds: Mapping[str, GoldDocument]) -> list[DocumentExtraction]:
    """The per-article gold as plain extraction records (without the optional marks), the
    run that a perfect extractor would produce: its consolidation must score 1.0."""
    flags = {"optional", "optional_fields"}
    return [
        DocumentExtraction.model_validate(
            gold.model_dump(exclude={kind: {"__all__": flags} for kind in KINDS.values()})
        )
        for gold in golds.values()
    ]


class _Mapping:
    """Predicted mention key -> gold mention key (or a spurious key); ignored mentions
    (optional gold, documents without gold) are left out."""

    def __init__(
        self, records: Mapping[str, DocumentExtraction], golds: Mapping[str, GoldDocument]
    ):
        self.to_gold: dict[str, str] = {}
        self.ignored: set[str] = set()
        self.optional_gold: set[str] = set()
        for doc_id, gold in golds.items():
            alignment = align_document(records.get(doc_id), gold)
            for match in alignment.matches:
                record_list = KINDS[match.record_type]
                gold_key = (
                    mention_key(doc_id, record_list, match.gold_index)  # type: ignore[arg-type]
                    if match.gold_index is not None
                    else None
                )
                pred_key = (
                    mention_key(doc_id, record_list, match.pred_index)  # type: ignore[arg-type]
                    if match.pred_index is not None
                    else None
                )
                if match.optional:
                    self.optional_gold.add(gold_key)  # type: ignore[arg-type]
                    if pred_key:
                        self.ignored.add(pred_key)
                elif pred_key:
                    self.to_gold[pred_key] = gold_key or f"spurious:{pred_key}"
        for doc_id, record in records.items():
            if doc_id not in golds:
                for record_list in KINDS.values():
                    for index in range(len(getattr(record, record_list))):
                        self.ignored.add(mention_key(doc_id, record_list, index))  # type: ignore[arg-type]

    def cluster(self, keys: Iterable[str]) -> set[str]:
        """A predicted cluster in gold keys, ignored mentions dropped."""
        return {self.to_gold[key] for key in keys if key in self.to_gold}


def evaluate_consolidation(
    consolidation: Consolidation,
    records: Mapping[str, DocumentExtraction],
    golds: Mapping[str, GoldDocument],
    gold: GoldConsolidation,
) -> ConsolidationScores:
    """Score `consolidation` of `records` against the per-article and consolidated gold."""
    mapping = _Mapping(records, golds)
    optional_deals = {k for c in gold.deals if c.optional for k in c.mentions}
    skip = mapping.optional_gold | optional_deals
    cluster_rows, field_rows, deal_rows = [], [], []
    predicted = {
        "deal": [d.mentions for d in consolidation.deals],
        "company": [[m.source for m in e.mentions] for e in consolidation.companies],
        "person": [[m.source for m in e.mentions] for e in consolidation.people],
    }
    canon = _canonical_names(gold, golds)
    for kind, record_list in KINDS.items():
        gold_clusters = [
            set(c.mentions) - skip
            for c in getattr(gold, record_list)
            if not getattr(c, "optional", False)
        ]
        gold_clusters = [c for c in gold_clusters if c]
        pred_clusters = [mapping.cluster(c) - skip for c in predicted[kind]]
        pred_clusters = [c for c in pred_clusters if c]
        for metric, (precision, recall) in (
            ("pairwise", pairwise(pred_clusters, gold_clusters)),
            ("bcubed", bcubed(pred_clusters, gold_clusters)),
        ):
            cluster_rows.append(
                {
                    "record_type": kind,
                    "metric": metric,
                    "precision": precision,
                    "recall": recall,
                    "f1": _harmonic(precision, recall),
                    "gold_clusters": len(gold_clusters),
                    "predicted_clusters": len(pred_clusters),
                }
            )
    counts: dict[tuple[str, str], list[int]] = {}
    deal_rows = _score_deals(consolidation, gold, mapping, skip, canon, counts)
    for kind, entities, clusters in (
        ("company", consolidation.companies, gold.companies),
        ("person", consolidation.people, gold.people),
    ):
        normalize = normalize_company if kind == "company" else normalize_person
        pred_sets = [mapping.cluster(m.source for m in e.mentions) - skip for e in entities]
        pairs = _pair(pred_sets, [set(c.mentions) - skip for c in clusters])
        paired_pred = set()
        for pred_index, gold_index in pairs:
            paired_pred.add(pred_index)
            name = entities[pred_index].name
            got = canon.get(normalize(name), name)
            _count(counts, kind, "name", got, clusters[gold_index].name)
        for gold_index in set(range(len(clusters))) - {g for _, g in pairs}:
            _count(counts, kind, "name", None, clusters[gold_index].name)
        for pred_index, entity in enumerate(entities):
            if pred_index not in paired_pred and pred_sets[pred_index]:
                _count(counts, kind, "name", entity.name, None)
    for (kind, field), (tp, fp, fn) in counts.items():
        precision, recall, f1 = _f1(tp, fp, fn)
        field_rows.append(
            {
                "record_type": kind,
                "field": field,
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "precision": precision,
                "recall": recall,
                "f1": f1,
            }
        )
    return ConsolidationScores(
        pd.DataFrame(cluster_rows), pd.DataFrame(field_rows), pd.DataFrame(deal_rows), consolidation
    )


def _score_deals(
    consolidation: Consolidation,
    gold: GoldConsolidation,
    mapping: _Mapping,
    skip: set[str],
    canon: dict[str, str],
    counts: dict[tuple[str, str], list[int]],
) -> list[dict[str, Any]]:
    scored = [c for c in gold.deals if not c.optional]
    pred_sets = [mapping.cluster(d.mentions) - skip for d in consolidation.deals]
    pairs = dict((g, p) for p, g in _pair(pred_sets, [set(c.mentions) - skip for c in scored]))
    rows = []
    for gold_index, cluster in enumerate(scored):
        expected = _gold_values(cluster, canon)
        pred_index = pairs.get(gold_index)
        got = (
            _pred_values(consolidation.deals[pred_index], mapping, skip, canon)
            if pred_index is not None
            else dict.fromkeys(DEAL_FIELDS)
        )
        wrong = []
        for field in DEAL_FIELDS:
            if field in cluster.optional_fields:
                continue
            if not _count(counts, "deal", field, got[field], expected[field]):
                wrong.append(field)
        rows.append(
            {
                "gold_deal": cluster.name,
                "predicted_deal": consolidation.deals[pred_index].id
                if pred_index is not None
                else None,
                "wrong_fields": ", ".join(wrong),
            }
        )
    paired = set(pairs.values())
    for pred_index, deal in enumerate(consolidation.deals):
        if pred_index not in paired and pred_sets[pred_index]:
            for field, value in _pred_values(deal, mapping, skip, canon).items():
                _count(counts, "deal", field, value, None)
    return rows


def _gold_values(cluster: GoldDealCluster, canon: dict[str, str]) -> dict[str, Any]:
    current = cluster.current
    return {
        "deal_type": current.deal_type,
        "parties": frozenset((_party(p.name, canon), p.role) for p in current.parties),
        "status": current.status,
        "amount": current.amount,
        "stake_percent": current.stake_percent,
        "valuation": current.valuation,
        "date": current.date,
        "timeline": tuple(
            (e.source, e.date) for e in cluster.timeline if e.source in cluster.mentions
        ),
        "conflicts": _conflict_set(cluster.conflicts, lambda key: key) or None,
    }


def _pred_values(
    deal: Any, mapping: _Mapping, skip: set[str], canon: dict[str, str]
) -> dict[str, Any]:
    current = deal.current

    def value(field: str) -> Any:
        found = current[field].value
        return Money.model_validate(found) if found and field in ("amount", "valuation") else found

    timeline = tuple(
        (mapping.to_gold[e.source], e.date)
        for e in deal.timeline
        if e.source in mapping.to_gold and mapping.to_gold[e.source] not in skip
    )
    return {
        "deal_type": deal.deal_type,
        "parties": frozenset((_party(p.name, canon), p.role) for p in deal.parties),
        "status": value("status"),
        "amount": value("amount"),
        "stake_percent": value("stake_percent"),
        "valuation": value("valuation"),
        "date": value("date"),
        "timeline": timeline or None,
        "conflicts": _conflict_set(deal.conflicts, lambda key: mapping.to_gold.get(key)) or None,
    }


def _conflict_set(conflicts: list[Conflict], key: Any) -> frozenset[Any]:
    """Conflicts as comparable values: field, stage and the groups of sources (in gold keys)."""
    return frozenset(
        (
            c.field,
            c.status,
            frozenset(frozenset(filter(None, map(key, v.sources))) for v in c.values),
        )
        for c in conflicts
    )


def _party(name: str, canon: dict[str, str]) -> str:
    for key in (normalize_company(name), normalize_person(name)):
        if key in canon:
            return canon[key]
    return normalize_company(name)


def _canonical_names(gold: GoldConsolidation, golds: Mapping[str, GoldDocument]) -> dict[str, str]:
    """Every name and alias the gold gives an entity -> the entity's gold cluster name."""
    canon: dict[str, str] = {}
    for section, normalize in (("companies", normalize_company), ("people", normalize_person)):
        for cluster in getattr(gold, section):
            canon.setdefault(normalize(cluster.name), cluster.name)
            for key in cluster.mentions:
                doc_id, _, index = parse_mention_key(key)
                if doc_id in golds:
                    record = getattr(golds[doc_id], section)[index]
                    for name in (record.name, *getattr(record, "aliases", ())):
                        canon.setdefault(normalize(name), cluster.name)
    return canon


def _agree(got: Any, expected: Any) -> bool:
    if isinstance(got, Money) and isinstance(expected, Money):
        return (
            got.currency == expected.currency
            and got.qualifier == expected.qualifier
            and money_agrees(got.value, expected.value)
        )
    if isinstance(expected, float | int) and isinstance(got, float | int):
        return percent_agrees(float(got), float(expected))
    if isinstance(expected, str) and isinstance(got, str) and expected[:1].isdigit():
        return date_agrees(got, expected)
    return got == expected


def _count(
    counts: dict[tuple[str, str], list[int]], kind: str, field: str, got: Any, expected: Any
) -> bool:
    """Add one field's verdict to `counts` [tp, fp, fn]; True unless it was wrong."""
    tally = counts.setdefault((kind, field), [0, 0, 0])
    if got is None and expected is None:
        return True
    if expected is None:
        tally[1] += 1
        return False
    if got is None:
        tally[2] += 1
        return False
    if _agree(got, expected):
        tally[0] += 1
        return True
    tally[1] += 1
    tally[2] += 1
    return False


def _pair(pred: list[set[str]], gold: list[set[str]]) -> list[tuple[int, int]]:
    """One-to-one (pred, gold) pairs by the Jaccard overlap of their mentions (none: no pair)."""
    if not pred or not gold:
        return []
    overlap = np.array([[len(p & g) / len(p | g) if p & g else 0.0 for g in gold] for p in pred])
    return assign(overlap, floor=1e-9)


def pairwise(pred: list[set[str]], gold: list[set[str]]) -> tuple[float, float]:
    pred_pairs = {frozenset(p) for c in pred for p in combinations(sorted(c), 2)}
    gold_pairs = {frozenset(p) for c in gold for p in combinations(sorted(c), 2)}
    found = len(pred_pairs & gold_pairs)
    precision = found / len(pred_pairs) if pred_pairs else float(not gold_pairs)
    recall = found / len(gold_pairs) if gold_pairs else float(not pred_pairs)
    return precision, recall


def bcubed(pred: list[set[str]], gold: list[set[str]]) -> tuple[float, float]:
    pred_of = {m: c for c in pred for m in c}
    gold_of = {m: c for c in gold for m in c}
    if not pred_of and not gold_of:
        return 1.0, 1.0
    precision = [len(c & gold_of.get(m, {m})) / len(c) for m, c in pred_of.items()]
    recall = [len(c & pred_of.get(m, {m})) / len(c) for m, c in gold_of.items()]
    return (
        sum(precision) / len(precision) if precision else 0.0,
        sum(recall) / len(recall) if recall else 0.0,
    )


def _harmonic(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _f1(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, _harmonic(precision, recall)
