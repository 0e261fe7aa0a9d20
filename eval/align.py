"""Align predicted with gold records one-to-one, per document and record type, and judge each field.

`align_document` is the one entry point: the scorer sums its outcomes into tables, `compare` diffs
them between runs, and a report can show, per predicted record, whether it is correct, has a
wrong value or is spurious, plus the gold records nobody found.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from rapidfuzz import fuzz, process
from scipy.optimize import linear_sum_assignment

from schemas.gold import GoldDocument, GoldFlags
from schemas.normalize import (
    date_agrees,
    money_agrees,
    normalize_company,
    normalize_person,
    normalize_place,
    normalize_title,
    percent_agrees,
)
from schemas.records import Company, Deal, DocumentExtraction, Person

RecordType = Literal["company", "person", "deal"]
RECORD_TYPES: tuple[RecordType, ...] = ("company", "person", "deal")
RECORD_LISTS: dict[RecordType, str] = {"company": "companies", "person": "people", "deal": "deals"}

FieldStatus = Literal["correct", "wrong", "missing", "spurious", "true_negative", "optional"]
Outcome = Literal["correct", "wrong_value", "spurious", "missed", "optional"]

# How a field's normalized values are compared; "name" checks the predicted name against the gold
# name and aliases, "set" scores element by element.
_KINDS: dict[RecordType, dict[str, str]] = {
    "company": {
        "name": "name",
        "aliases": "set",
        "org_type": "exact",
        "founded_year": "exact",
        "headquarters": "exact",
    },
    "person": {"name": "name", "roles": "set"},
    "deal": {
        "deal_type": "exact",
        "parties": "set",
        "amount": "money",
        "amount.currency": "exact",
        "amount.qualifier": "exact",
        "stake_percent": "percent",
        "valuation": "money",
        "valuation.currency": "exact",
        "valuation.qualifier": "exact",
        "status": "exact",
        "date": "date",
    },
}
FIELDS: dict[RecordType, tuple[str, ...]] = {kind: tuple(f) for kind, f in _KINDS.items()}

# Similarity floors: a pair below its floor stays unmatched, so an invented record counts as one
# spurious plus one missed instead of one wrong. Names: normalized Indel similarity, which keeps
# "Meta" (0.62 to "Metaculus") apart while "OpenAI"/"Open AI" (0.92) still pair.
FLOORS: dict[RecordType, float] = {"company": 0.8, "person": 0.8, "deal": 0.5}
# Deal similarity: the (party, role) pairs carry most weight, then the deal type, the party names
# regardless of role (so a swapped investor/target still pairs with its deal as a wrong
# `parties` value) and the amount. Sums to 1.
DEAL_WEIGHTS = {"pairs": 0.45, "type": 0.25, "names": 0.2, "amount": 0.1}
_EXACT = 1.0 - 1e-9
# Earlier records win ties, so of two identical predictions the second is the spurious one.
_TIE_BREAK = 1e-9


# The result types are NamedTuples: immutable, and cheap enough to build for millions of fields.
class FieldOutcome(NamedTuple):
    """The verdict on one field, with its MUC counts (set fields count elements)."""

    status: FieldStatus
    tp: int = 0
    fp: int = 0
    fn: int = 0


# Scalar verdicts are shared: a wrong value is one false positive plus one false negative.
CORRECT = FieldOutcome("correct", tp=1)
WRONG = FieldOutcome("wrong", fp=1, fn=1)
MISSING = FieldOutcome("missing", fn=1)
SPURIOUS = FieldOutcome("spurious", fp=1)
TRUE_NEGATIVE = FieldOutcome("true_negative")
OPTIONAL = FieldOutcome("optional")


class RecordMatch(NamedTuple):
    """A predicted and a gold record paired by the alignment, or one of them left unmatched.

    `fields` holds every field of a matched pair; for an unmatched record only its non-null,
    non-optional fields, which all count as missing (gold) or spurious (prediction).
    """

    record_type: RecordType
    pred: Company | Person | Deal | None
    gold: Company | Person | Deal | None
    pred_index: int | None
    gold_index: int | None
    similarity: float
    optional: bool  # the gold record is optional: it neither rewards nor penalises
    fields: dict[str, FieldOutcome]

    @property
    def outcome(self) -> Outcome:
        """correct / wrong_value / spurious / missed for the record as a whole, or optional."""
        if self.optional:
            return "optional"
        if self.gold is None:
            return "spurious"
        if self.pred is None:
            return "missed"
        bad = any(f.status in ("wrong", "missing", "spurious") for f in self.fields.values())
        return "wrong_value" if bad else "correct"

    @property
    def wrong_fields(self) -> list[str]:
        """The fields of a matched pair that were not right."""
        return [
            name
            for name, field in self.fields.items()
            if field.status in ("wrong", "missing", "spurious")
        ]


@dataclass(frozen=True, slots=True)
class DocumentAlignment:
    """Every record of one document, paired or unmatched, in record-type order."""

    doc_id: str
    matches: tuple[RecordMatch, ...]


class _View(NamedTuple):
    """A record's normalized form: its exact-match keys, the names it answers to (for fuzzy
    matching), its comparable field values and, for gold, which fields are optional."""

    record: Company | Person | Deal
    primary: str
    keys: tuple[Hashable, ...]
    names: tuple[str, ...]
    values: dict[str, Any]
    optional: bool
    optional_fields: frozenset[str]


def align_document(pred: DocumentExtraction | None, gold: GoldDocument) -> DocumentAlignment:
    """Pair the predicted records of one document with its gold records and judge every field.

    `pred` None (a failed or missing document) leaves every gold record missed.
    """
    canon = _canonical_names(gold)
    matches: list[RecordMatch] = []
    for record_type in RECORD_TYPES:
        attr = RECORD_LISTS[record_type]
        make_view = _VIEW_MAKERS[record_type]
        preds = [make_view(r, canon, None) for r in (getattr(pred, attr) if pred else ())]
        golds = [make_view(r, canon, r) for r in getattr(gold, attr)]
        pairs = _pair(record_type, preds, golds)
        matches.extend(_judge(record_type, preds, golds, pairs))
    return DocumentAlignment(gold.doc_id, tuple(matches))


def _pair(
    record_type: RecordType, preds: list[_View], golds: list[_View]
) -> list[tuple[int, int, float]]:
    """(pred, gold, similarity) pairs: exact key matches first, the rest by optimal assignment."""
    exact = _exact_pairs(preds, golds)
    if record_type == "deal":
        # A deal's key is its type and (party, role) pairs; it is exact only if the amount agrees.
        exact = [(i, j) for i, j in exact if _amounts_agree(preds[i], golds[j])]
    pairs = [(i, j, 1.0) for i, j in exact]
    rest_pred = sorted(set(range(len(preds))) - {i for i, _ in exact})
    rest_gold = sorted(set(range(len(golds))) - {j for _, j in exact})
    if rest_pred and rest_gold:
        similarity = _SIMILARITIES[record_type](
            [preds[i] for i in rest_pred], [golds[j] for j in rest_gold]
        )
        for r, c in assign(similarity, FLOORS[record_type]):
            pairs.append((rest_pred[r], rest_gold[c], float(similarity[r, c])))
    return pairs


def _exact_pairs(preds: list[_View], golds: list[_View]) -> list[tuple[int, int]]:
    """Pairs that share a key with each other and with no other record.

    Any optimal assignment contains them (an exact pair outweighs everything else), so taking
    them first only saves work; duplicates and ambiguous keys are left to the assignment.
    """
    pred_by_key: dict[Hashable, list[int]] = {}
    gold_by_key: dict[Hashable, list[int]] = {}
    for index, view in enumerate(preds):
        for key in view.keys:
            pred_by_key.setdefault(key, []).append(index)
    for index, view in enumerate(golds):
        for key in view.keys:
            gold_by_key.setdefault(key, []).append(index)
    pairs = []
    for i, view in enumerate(preds):
        found = {j for key in view.keys for j in gold_by_key.get(key, ())}
        if len(found) == 1:
            j = found.pop()
            back = {k for key in golds[j].keys for k in pred_by_key.get(key, ())}
            if len(back) == 1:
                pairs.append((i, j))
    return pairs


def assign(similarity: np.ndarray, floor: float) -> list[tuple[int, int]]:
    """One-to-one (pred, gold) pairs maximising total similarity; pairs below `floor` are dropped.

    Exact pairs (similarity 1) are taken first: a bonus larger than any sum of partial
    similarities makes the solver maximise their number before anything else.
    """
    n_pred, n_gold = similarity.shape
    if n_pred == 0 or n_gold == 0:
        return []
    if n_pred == 1 or n_gold == 1:
        # One record on a side: the best pair is the assignment (argmax takes the earliest tie).
        best = int(np.argmax(similarity))
        r, c = divmod(best, n_gold)
        return [(r, c)] if similarity[r, c] >= floor else []
    gated = np.where(similarity >= floor, similarity, 0.0)
    score = gated + (gated >= _EXACT) * (min(n_pred, n_gold) + 1.0)
    score -= _TIE_BREAK * (np.arange(n_pred)[:, None] + np.arange(n_gold)[None, :])
    rows, cols = linear_sum_assignment(score, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if gated[r, c] > 0]


def _canonical_names(gold: GoldDocument) -> dict[str, str]:
    """Map every normalized gold company name and alias to the company's normalized name.

    Party names and role organizations on both sides go through it, so "Meta Platforms" as a
    party equals the gold's "Meta".
    """
    canon: dict[str, str] = {}
    for company in gold.companies:
        primary = normalize_company(company.name)
        for name in (company.name, *company.aliases):
            canon.setdefault(normalize_company(name), primary)
    return canon


def _company_view(company: Company, canon: dict[str, str], flags: GoldFlags | None) -> _View:
    primary = normalize_company(company.name)
    names = tuple(dict.fromkeys([primary, *map(normalize_company, company.aliases)]))
    return _View(
        record=company,
        primary=primary,
        keys=names,
        names=names,
        values={
            "name": primary,
            "aliases": frozenset(names[1:]) or None,
            "org_type": company.org_type,
            "founded_year": company.founded_year,
            "headquarters": normalize_place(company.headquarters) if company.headquarters else None,
        },
        optional=flags.optional if flags else False,
        optional_fields=_optional_fields(flags),
    )


def _person_view(person: Person, canon: dict[str, str], flags: GoldFlags | None) -> _View:
    primary = normalize_person(person.name)
    roles = frozenset(
        (
            normalize_title(role.title),
            _canon(role.organization, canon) if role.organization else "",
        )
        for role in person.roles
    )
    return _View(
        record=person,
        primary=primary,
        keys=(primary,),
        names=(primary,),
        values={"name": primary, "roles": roles or None},
        optional=flags.optional if flags else False,
        optional_fields=_optional_fields(flags),
    )


def _deal_view(deal: Deal, canon: dict[str, str], flags: GoldFlags | None) -> _View:
    pairs = frozenset((_canon(party.name, canon), party.role) for party in deal.parties)
    amount, valuation = deal.amount, deal.valuation
    return _View(
        record=deal,
        primary="",
        keys=((deal.deal_type, pairs),),
        names=(),
        values={
            "deal_type": deal.deal_type,
            "parties": pairs,
            "amount": amount.value if amount else None,
            "amount.currency": amount.currency if amount else None,
            "amount.qualifier": amount.qualifier if amount else None,
            "stake_percent": deal.stake_percent,
            "valuation": valuation.value if valuation else None,
            "valuation.currency": valuation.currency if valuation else None,
            "valuation.qualifier": valuation.qualifier if valuation else None,
            "status": deal.status,
            "date": deal.date,
        },
        optional=flags.optional if flags else False,
        optional_fields=_optional_fields(flags),
    )


def _optional_fields(flags: GoldFlags | None) -> frozenset[str]:
    """The scored fields a gold record marks optional; "amount" covers amount.currency too."""
    if not flags or not flags.optional_fields:
        return frozenset()
    marked = set(flags.optional_fields)
    return frozenset(
        field for fields in FIELDS.values() for field in fields if field.split(".")[0] in marked
    )


def _canon(name: str, canon: dict[str, str]) -> str:
    key = normalize_company(name)
    return canon.get(key, key)


def _name_similarity(preds: Sequence[_View], golds: Sequence[_View]) -> np.ndarray:
    """Best Indel similarity between any name of a prediction and any name of a gold record."""
    if not preds or not golds:
        return np.zeros((len(preds), len(golds)))
    flat_pred = [name for view in preds for name in view.names]
    flat_gold = [name for view in golds for name in view.names]
    scores = process.cdist(flat_pred, flat_gold, scorer=fuzz.ratio, dtype=np.float64) / 100.0
    if len(flat_pred) > len(preds):
        scores = np.maximum.reduceat(scores, _group_starts(preds), axis=0)
    if len(flat_gold) > len(golds):
        scores = np.maximum.reduceat(scores, _group_starts(golds), axis=1)
    return scores


def _group_starts(views: Sequence[_View]) -> np.ndarray:
    sizes = np.fromiter((len(view.names) for view in views), dtype=np.intp, count=len(views))
    return np.concatenate(([0], np.cumsum(sizes[:-1])))


def _deal_similarity(preds: Sequence[_View], golds: Sequence[_View]) -> np.ndarray:
    """Weighted agreement of deal type, (party, role) pairs, party names and amount."""
    scores = np.zeros((len(preds), len(golds)))
    weights = DEAL_WEIGHTS
    gold_names = [_party_names(g) for g in golds]
    for i, p in enumerate(preds):
        p_pairs, p_names = p.values["parties"], _party_names(p)
        for j, g in enumerate(golds):
            g_pairs, g_names = g.values["parties"], gold_names[j]
            scores[i, j] = (
                weights["pairs"] * len(p_pairs & g_pairs) / len(p_pairs | g_pairs)
                + weights["names"] * len(p_names & g_names) / len(p_names | g_names)
                + weights["type"] * (p.values["deal_type"] == g.values["deal_type"])
                + weights["amount"] * _amounts_agree(p, g)
            )
    return scores


def _party_names(deal: _View) -> frozenset[str]:
    return frozenset(name for name, _ in deal.values["parties"])


def _amounts_agree(p: _View, g: _View) -> bool:
    """Both amounts absent, or both present and within the money tolerance."""
    p_amount, g_amount = p.values["amount"], g.values["amount"]
    if p_amount is None or g_amount is None:
        return p_amount is None and g_amount is None
    return money_agrees(p_amount, g_amount)


def _judge(
    record_type: RecordType,
    preds: Sequence[_View],
    golds: Sequence[_View],
    pairs: list[tuple[int, int, float]],
) -> list[RecordMatch]:
    """Turn the pairs into matches: paired records field by field, then the leftovers."""
    kinds = _KINDS[record_type]
    matches = []
    for i, j, similarity in sorted(pairs, key=lambda pair: pair[1]):
        p, g = preds[i], golds[j]
        fields = {} if g.optional else {n: _compare(kind, n, p, g) for n, kind in kinds.items()}
        matches.append(
            RecordMatch(record_type, p.record, g.record, i, j, similarity, g.optional, fields)
        )
    matched_pred = {i for i, _, _ in pairs}
    matched_gold = {j for _, j, _ in pairs}
    for j, g in enumerate(golds):
        if j not in matched_gold:
            fields = {} if g.optional else _unmatched_fields(kinds, g, gold_side=True)
            matches.append(
                RecordMatch(record_type, None, g.record, None, j, 0.0, g.optional, fields)
            )
    for i, p in enumerate(preds):
        if i not in matched_pred:
            fields = _unmatched_fields(kinds, p, gold_side=False)
            matches.append(RecordMatch(record_type, p.record, None, i, None, 0.0, False, fields))
    return matches


def _unmatched_fields(
    kinds: dict[str, str], view: _View, *, gold_side: bool
) -> dict[str, FieldOutcome]:
    """Every non-null, non-optional field of an unmatched record counts against the run:
    missing for a gold record, spurious for a prediction."""
    fields = {}
    for name, kind in kinds.items():
        value = view.values[name]
        if value is None or name in view.optional_fields:
            continue
        if kind != "set":
            fields[name] = MISSING if gold_side else SPURIOUS
        elif gold_side:
            fields[name] = FieldOutcome("missing", fn=len(value))
        else:
            fields[name] = FieldOutcome("spurious", fp=len(value))
    return fields


def _compare(kind: str, name: str, p: _View, g: _View) -> FieldOutcome:
    """MUC counting of one field of a matched pair; both null is a true negative."""
    if name in g.optional_fields:
        return OPTIONAL
    pv, gv = p.values[name], g.values[name]
    if pv == gv and kind != "set":  # the common case, decided without the general path
        return TRUE_NEGATIVE if pv is None else CORRECT
    if name == "aliases":
        # An alias that is the other side's name is no disagreement: gold "Alphabet" with alias
        # "Google" and a prediction "Google" with alias "Alphabet" say the same thing.
        pv = _without(pv, g.primary)
        gv = _without(gv, p.primary)
    if pv is None and gv is None:
        return TRUE_NEGATIVE
    if gv is None:
        return FieldOutcome("spurious", fp=len(pv)) if kind == "set" else SPURIOUS
    if pv is None:
        return FieldOutcome("missing", fn=len(gv)) if kind == "set" else MISSING
    if kind == "set":
        tp = len(pv & gv)
        status: FieldStatus = "correct" if pv == gv else "wrong"
        return FieldOutcome(status, tp=tp, fp=len(pv) - tp, fn=len(gv) - tp)
    return CORRECT if _AGREES[kind](pv, gv, g) else WRONG


def _without(names: frozenset[str] | None, name: str) -> frozenset[str] | None:
    rest = names - {name} if names else None
    return rest or None


_AGREES: dict[str, Callable[[Any, Any, _View], bool]] = {
    "exact": lambda p, g, _: p == g,
    "name": lambda p, _, gold: p in gold.names,
    "money": lambda p, g, _: money_agrees(p, g),
    "percent": lambda p, g, _: percent_agrees(p, g),
    "date": lambda p, g, _: date_agrees(p, g),
}
_VIEW_MAKERS: dict[RecordType, Callable[[Any, dict[str, str], Any], _View]] = {
    "company": _company_view,
    "person": _person_view,
    "deal": _deal_view,
}
_SIMILARITIES: dict[RecordType, Callable[[Sequence[_View], Sequence[_View]], np.ndarray]] = {
    "company": _name_similarity,
    "person": _name_similarity,
    "deal": _deal_similarity,
}
