"""Cluster per-article deal records into real-world deals.

1. **Blocking**: a record is a candidate for another only when they share a pair of resolved
   parties (or their one party), so 100,000 records never meet all 5e9 pairs. A block larger
   than BLOCK_LIMIT compares each record with its BLOCK_LIMIT neighbors in (type, amount)
   order instead of all of them.
2. **Pairwise features**, each scored in [0, 1] and weighted (WEIGHTS): parties (Jaccard of
   the resolved entities), type (same 1, compatible 0.5), status (same 1, other stage 0.5),
   amount, stake, valuation (agree 1, same value with another hedge 0.75, unknown or
   compatible ranges 0.5, changed between a pre-agreement and a later stage 0), deal date.
   Some differences are contradictions and veto the pair: incompatible types, a party on
   opposite sides, amounts, stakes or valuations that differ at the same stage or at two
   settled stages (agreed, completed), two different deal dates. Amounts are only ever
   compared with amounts and valuations with valuations: Scale AI's ~$14 billion valuation is
   not Meta's $14 billion investment.
3. **Clustering**: pairs are taken best first; two clusters join when no pair between them is
   vetoed, they share no document (an article's records are already one per deal, so two
   records of one article are two deals) and the average score of their compared pairs
   reaches THRESHOLD. Average linkage over all cross pairs, not single links, keeps one good
   pair from chaining two deals together.

Every compared pair is a `Decision` with its features, score and reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from schemas.consolidated import Decision
from schemas.normalize import date_agrees, money_agrees, percent_agrees
from schemas.records import Deal, Money

WEIGHTS = {
    "parties": 0.3,
    "type": 0.2,
    "status": 0.1,
    "amount": 0.2,
    "stake": 0.1,
    "valuation": 0.05,
    "date": 0.05,
}
THRESHOLD = 0.7
BLOCK_LIMIT = 200
# Types that describe one deal in different words: a stake purchase is reported as an
# investment or an acquisition, a round participation as an investment.
COMPATIBLE_TYPES = frozenset(
    frozenset(pair)
    for pair in (
        ("investment", "funding_round"),
        ("investment", "acquisition"),
        ("acquisition", "merger"),
        ("partnership", "contract"),
        ("partnership", "licensing"),
        ("contract", "licensing"),
    )
)
# Stages whose terms are settled: two of them must agree on amount, stake and valuation.
SETTLED = frozenset({"agreed", "completed"})
# How far a hedged amount reaches, as a factor range around its value.
_REACH = {
    "exact": (0.99, 1.01),
    "about": (0.9, 1.1),
    "over": (1.0, float("inf")),
    "under": (0.0, 1.0),
    "up_to": (0.0, 1.0),
}
_SIDES = {"acquirer": "investor"}  # an investor reported as an acquirer is on the same side


@dataclass(frozen=True, slots=True)
class DealMention:
    """One per-article deal record with its parties resolved to entity ids."""

    source: str
    doc_id: str
    deal: Deal
    roles: dict[str, str]  # entity id -> role

    @property
    def entities(self) -> frozenset[str]:
        return frozenset(self.roles)


@dataclass(frozen=True, slots=True)
class PairScore:
    """The features of one candidate pair, its weighted score, and a veto (or None)."""

    features: dict[str, float]
    notes: dict[str, str]
    score: float
    veto: str | None


def cluster_deals(mentions: list[DealMention]) -> tuple[list[list[int]], list[list[Decision]]]:
    """Clusters of mention indices (each sorted, clusters in order of their first member),
    and for each cluster the decisions that concern its members."""
    pairs = {
        pair: score_pair(mentions[pair[0]], mentions[pair[1]]) for pair in candidates(mentions)
    }
    parent = list(range(len(mentions)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(mentions))}
    docs: dict[int, set[str]] = {i: {m.doc_id} for i, m in enumerate(mentions)}
    neighbors: dict[int, list[int]] = defaultdict(list)
    for a, b in pairs:
        neighbors[a].append(b)
        neighbors[b].append(a)

    def find(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def group_verdict(small: int, large: int) -> str | None:
        """Why two clusters must stay apart (None: they may join), from every compared pair
        between them: a shared article, a veto, or an average below THRESHOLD."""
        if docs[small] & docs[large]:
            shared = sorted(docs[small] & docs[large])[0]
            return (
                f"would join two records of article {shared} "
                "(an article's records are one per deal)"
            )
        total, count, veto = 0.0, 0, None
        for m in members[small]:
            for n in neighbors[m]:
                if find(n) == large:
                    cross = pairs[(min(m, n), max(m, n))]
                    if cross.veto and veto is None:
                        sources = f"{mentions[m].source} and {mentions[n].source}"
                        veto = f"{sources} contradict: {cross.veto}"
                    total, count = total + cross.score, count + 1
        if veto:
            return veto
        if total / count < THRESHOLD:
            average = f"{total / count:.2f}"
            return f"average over {count} pair(s) between the two groups {average} < {THRESHOLD}"
        return None

    # A cluster is known by its root and size (a root only grows), so a refusal between two
    # unchanged clusters is looked up, not recomputed for each of their pairs.
    refused: dict[tuple[int, int, int, int], str | None] = {}
    verdicts: dict[tuple[int, int], tuple[str, str]] = {}
    for a, b in sorted(pairs, key=lambda p: (-pairs[p].score, p)):
        ra, rb = find(a), find(b)
        explained = _explain(pairs[(a, b)])
        if ra == rb:
            verdicts[(a, b)] = ("merge", f"{explained}; already joined through other records")
            continue
        if pairs[(a, b)].veto:
            verdicts[(a, b)] = ("keep_apart", explained)
            continue
        small, large = (ra, rb) if len(members[ra]) <= len(members[rb]) else (rb, ra)
        state = (small, len(members[small]), large, len(members[large]))
        if state not in refused:
            refused[state] = group_verdict(small, large)
        if refused[state]:
            verdicts[(a, b)] = ("keep_apart", f"{explained}; {refused[state]}")
            continue
        joined = len(members[small]) * len(members[large]) > 1
        parent[small] = large
        members[large].extend(members.pop(small))
        docs[large] |= docs.pop(small)
        note = "; joined with its group on the average of their pairs" if joined else ""
        verdicts[(a, b)] = ("merge", f"{explained}{note}")
    clusters = sorted(sorted(group) for group in members.values())
    cluster_of = {i: index for index, group in enumerate(clusters) for i in group}
    decisions: list[list[Decision]] = [[] for _ in clusters]
    for (a, b), (verdict, reason) in sorted(verdicts.items()):
        pair = pairs[(a, b)]
        decision = Decision(
            a=mentions[a].source,
            b=mentions[b].source,
            verdict=verdict,  # type: ignore[arg-type]
            score=round(pair.score, 4),
            features=pair.features,
            reason=reason,
        )
        for index in {cluster_of[a], cluster_of[b]}:
            decisions[index].append(decision)
    return clusters, decisions


def candidates(mentions: list[DealMention]) -> set[tuple[int, int]]:
    """Index pairs (a < b) that share a block: a pair of resolved parties, or their one party."""
    blocks: dict[frozenset[str], list[int]] = defaultdict(list)
    for index, mention in enumerate(mentions):
        entities = sorted(mention.entities)
        keys = [frozenset(pair) for pair in combinations(entities, 2)] or [frozenset(entities)]
        for key in keys:
            blocks[key].append(index)
    found: set[tuple[int, int]] = set()
    for block in blocks.values():
        if len(block) <= BLOCK_LIMIT:
            found.update(combinations(block, 2))
            continue
        # Sorted neighborhood: records of one deal sort next to each other by type and amount.
        block = sorted(block, key=lambda i: _sort_key(mentions[i]))
        for position, a in enumerate(block):
            for b in block[position + 1 : position + 1 + BLOCK_LIMIT]:
                found.add((min(a, b), max(a, b)))
    return found


def _sort_key(mention: DealMention) -> tuple[str, float, str]:
    amount = mention.deal.amount
    return (mention.deal.deal_type, amount.value if amount else -1.0, mention.source)


def score_pair(a: DealMention, b: DealMention) -> PairScore:
    """The features of two deal records, their weighted score and any contradiction."""
    features: dict[str, float] = {}
    notes: dict[str, str] = {}
    vetoes: list[str] = []
    shared = a.entities & b.entities
    features["parties"] = len(shared) / len(a.entities | b.entities)
    notes["parties"] = "same parties" if a.entities == b.entities else "parties overlap"
    for entity in sorted(shared):
        role_a, role_b = (_SIDES.get(r, r) for r in (a.roles[entity], b.roles[entity]))
        if role_a != role_b and "partner" not in (role_a, role_b):
            vetoes.append(
                f"{entity} is {a.roles[entity]} in one and {b.roles[entity]} in the other"
            )
    da, db = a.deal, b.deal
    if da.deal_type == db.deal_type:
        features["type"], notes["type"] = 1.0, f"same type {da.deal_type}"
    elif frozenset((da.deal_type, db.deal_type)) in COMPATIBLE_TYPES or "other" in (
        da.deal_type,
        db.deal_type,
    ):
        features["type"], notes["type"] = 0.5, f"compatible types {da.deal_type}/{db.deal_type}"
    else:
        features["type"], notes["type"] = 0.0, f"types {da.deal_type}/{db.deal_type}"
        vetoes.append(f"types {da.deal_type} and {db.deal_type} are incompatible")
    features["status"] = 1.0 if da.status == db.status and da.status else 0.5
    notes["status"] = f"status {da.status or '?'}/{db.status or '?'}"
    comparable = da.status == db.status or {da.status, db.status} <= SETTLED
    for name, left, right in (
        ("amount", da.amount, db.amount),
        ("valuation", da.valuation, db.valuation),
    ):
        features[name], notes[name], veto = _money_feature(name, left, right, comparable)
        if veto:
            vetoes.append(veto)
    features["stake"], notes["stake"], veto = _stake_feature(
        da.stake_percent, db.stake_percent, comparable
    )
    if veto:
        vetoes.append(veto)
    if da.date and db.date:
        agree = date_agrees(da.date, db.date) or date_agrees(db.date, da.date)
        features["date"] = 1.0 if agree else 0.0
        notes["date"] = f"dates {da.date}/{db.date}"
        if not agree:
            vetoes.append(f"deal dates {da.date} and {db.date} differ")
    else:
        features["date"] = 0.5
        notes["date"] = "date on one side only" if da.date or db.date else "no date"
    score = sum(WEIGHTS[name] * value for name, value in features.items())
    return PairScore(features, notes, score, "; ".join(vetoes) or None)


def _money_feature(
    name: str, a: Money | None, b: Money | None, comparable: bool
) -> tuple[float, str, str | None]:
    if a is None or b is None:
        return 0.5, f"{name} on one side only" if a or b else f"no {name}", None
    shown = f"{name} {money_text(a)} vs {money_text(b)}"
    if a.currency != b.currency:
        return 0.0, f"{shown}: other currency", None
    if money_agrees(a.value, b.value) or money_agrees(b.value, a.value):
        return (1.0, f"same {name}", None) if a.qualifier == b.qualifier else (0.75, shown, None)
    low_a, high_a = (a.value * f for f in _REACH[a.qualifier])
    low_b, high_b = (b.value * f for f in _REACH[b.qualifier])
    if low_a <= high_b and low_b <= high_a:
        return 0.5, f"{shown}: ranges overlap", None
    if comparable:
        return 0.0, shown, f"{shown} at the same or a settled stage"
    return 0.0, f"{shown}: revised between stages", None


def _stake_feature(
    a: float | None, b: float | None, comparable: bool
) -> tuple[float, str, str | None]:
    if a is None or b is None:
        return 0.5, "stake on one side only" if a or b else "no stake", None
    if percent_agrees(a, b):
        return 1.0, f"same stake {a:g}%", None
    shown = f"stake {a:g}% vs {b:g}%"
    return 0.0, shown, (f"{shown} at the same or a settled stage" if comparable else None)


def money_text(money: Money) -> str:
    """ "about $14B"-style text of an amount, for reasons and reports."""
    hedge = "" if money.qualifier == "exact" else money.qualifier.replace("_", " ") + " "
    value = money.value
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= factor:
            return f"{hedge}{money.currency} {value / factor:g}{suffix}"
    return f"{hedge}{money.currency} {value:g}"


def _explain(pair: PairScore) -> str:
    parts = [f"{pair.notes[name]} ({pair.features[name]:.2f})" for name in WEIGHTS]
    verdict = f"veto: {pair.veto}" if pair.veto else f"score {pair.score:.2f}"
    return f"{', '.join(parts)}; {verdict}"
