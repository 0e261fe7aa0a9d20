"""`consolidate`: one record per real-world entity and deal across the articles of a run."""

from __future__ import annotations

from collections import Counter, defaultdict

from pipeline.consolidation.dates import find_stamps
from pipeline.consolidation.deals import DealMention, cluster_deals
from pipeline.consolidation.entities import EntityIndex, resolve_entities
from pipeline.consolidation.inputs import Articles, Records, read_inputs
from pipeline.consolidation.timeline import conflicts, current_values, entry, order
from schemas.consolidated import ConsolidatedDeal, Consolidation, mention_key
from schemas.normalize import fold
from schemas.records import Party

# The parties' order of gold/GUIDELINES.md 5.4: who pays or acts first.
ROLE_ORDER = (
    "investor",
    "acquirer",
    "customer",
    "licensor",
    "partner",
    "target",
    "seller",
    "supplier",
    "licensee",
)


def consolidate(records: Records, *, articles: Articles = None) -> Consolidation:
    """Resolve the companies and people of `records` (a run directory, or
    `DocumentExtraction`s) across documents and cluster their deals into real-world deals,
    each with its timeline, current values, conflicts and the reason for every merge.

    The article texts date each source; they come from `articles` (a folder, {doc_id: path}
    or `Document`s) or, for a run directory, from the input paths its manifest recorded.
    Failed documents and record files that do not validate are left out and named in
    `failures`; what could not be used is in `notes`. Deterministic: no model is called.
    """
    inputs = read_inputs(records, articles)
    extractions = inputs.extractions
    if not extractions:
        inputs.notes.append("no valid per-article records: nothing to consolidate")
    index = resolve_entities(extractions)
    mentions = [
        DealMention(
            source=mention_key(doc_id, "deals", position),
            doc_id=doc_id,
            deal=deal,
            roles={index.party(doc_id, party.name): party.role for party in deal.parties},
        )
        for doc_id, extraction in extractions.items()
        for position, deal in enumerate(extraction.deals)
    ]
    clusters, decisions = cluster_deals(mentions)
    stamps = {doc_id: find_stamps(text) for doc_id, text in inputs.texts.items()}
    deals: list[ConsolidatedDeal] = []
    used: Counter[str] = Counter()
    for members, reasons in zip(clusters, decisions, strict=True):
        group = [mentions[i] for i in members]
        timeline = order(
            [entry(m, stamps.get(m.doc_id), inputs.texts.get(m.doc_id)) for m in group]
        )
        current = current_values(timeline)
        parties = _parties(group, index)
        slug = f"{current['deal_type'].value}:" + "+".join(
            "-".join(fold(p.name).split()) for p in parties
        )
        used[slug] += 1
        deals.append(
            ConsolidatedDeal(
                id=slug if used[slug] == 1 else f"{slug}-{used[slug]}",
                deal_type=current["deal_type"].value,
                parties=parties,
                mentions=[m.source for m in group],
                timeline=timeline,
                current=current,
                conflicts=conflicts(timeline),
                decisions=reasons,
            )
        )
    return Consolidation(
        documents=list(extractions),
        failures=dict(sorted(inputs.failures.items())),
        notes=inputs.notes,
        companies=index.companies,
        people=index.people,
        deals=deals,
    )


def _parties(group: list[DealMention], index: EntityIndex) -> list[Party]:
    """Each resolved party once, with the role most of its sources give, in role order."""
    roles: dict[str, Counter[str]] = defaultdict(Counter)
    written: dict[str, str] = {}
    for mention in group:
        for party in mention.deal.parties:
            entity = index.party(mention.doc_id, party.name)
            roles[entity][party.role] += 1
            written.setdefault(entity, party.name)
    parties = [
        Party(name=index.name(entity, written[entity]), role=counts.most_common(1)[0][0])
        for entity, counts in roles.items()
    ]
    return sorted(parties, key=lambda p: ROLE_ORDER.index(p.role))
