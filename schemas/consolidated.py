"""The consolidated view across articles (one record per real-world entity and deal, with its
sources, timeline, current values and conflicts) and its hand-labeled gold.

A per-article record is named by a *mention key*: `<doc_id>:<list>[<index>]`, e.g.
`004_be305ebc2eef9ae7:deals[0]`, the record at that index of `companies`, `people` or `deals`
in that document's record file (or gold file). Document ids are safe file names (no `:`), so
the key is unambiguous.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator

from schemas.records import DealStatus, DealType, Evidence, Money, Party, Record

RecordList = Literal["companies", "people", "deals"]
_KEY = re.compile(r"^(?P<doc>[^:]+):(?P<list>companies|people|deals)\[(?P<index>\d+)\]$")
# The order a deal moves through; a later stage may revise the terms of an earlier one.
STAGES: tuple[DealStatus, ...] = ("rumored", "in_talks", "agreed", "completed", "terminated")


def mention_key(doc_id: str, record_list: RecordList, index: int) -> str:
    """The stable name of one per-article record: "doc:deals[0]"."""
    return f"{doc_id}:{record_list}[{index}]"


def parse_mention_key(key: str) -> tuple[str, RecordList, int]:
    """(doc_id, list, index) of a mention key; ValueError when it is not one."""
    found = _KEY.match(key)
    if not found:
        raise ValueError(f"{key!r} is not a mention key like 'doc_id:deals[0]'")
    return found["doc"], found["list"], int(found["index"])  # type: ignore[return-value]


def stage_rank(status: DealStatus | None) -> int:
    """The position of a status in STAGES; -1 for no status."""
    return STAGES.index(status) if status else -1


class Decision(Record):
    """Why two per-article records (or groups of them) were joined or kept apart."""

    a: str
    b: str
    verdict: Literal["merge", "keep_apart"]
    score: float | None = None
    features: dict[str, float] = Field(default_factory=dict)
    reason: str


class EntityMention(Record):
    """One per-article record of an entity: where it appears and how it was written there."""

    source: str
    doc_id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)


class ConsolidatedEntity(Record):
    """A company or person resolved across documents."""

    id: str
    kind: Literal["company", "person"]
    name: str
    aliases: list[str] = Field(default_factory=list)
    mentions: list[EntityMention]
    decisions: list[Decision] = Field(default_factory=list)


class TimelineEntry(Record):
    """What one source reported about a deal. `date` is the date of the article (or of its
    section, e.g. an update note) that reported it; `date_source` says where it came from."""

    source: str
    doc_id: str
    date: str | None = None
    date_source: Literal["article", "deal"] | None = None
    deal_type: DealType
    status: DealStatus | None = None
    amount: Money | None = None
    stake_percent: float | None = None
    valuation: Money | None = None
    deal_date: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)


class SourcedValue(Record):
    """A value and the sources that reported it."""

    value: Any
    sources: list[str]


class CurrentValue(Record):
    """The value a consolidated deal holds now, the rule that chose it and the ties it beat."""

    value: Any
    rule: str
    sources: list[str] = Field(default_factory=list)
    ties: list[SourcedValue] = Field(default_factory=list)


class Conflict(Record):
    """Sources that disagree on one field; `status` is the stage they disagree at (amounts,
    stakes and valuations are compared within a stage, since talks revise terms)."""

    field: str
    status: DealStatus | None = None
    values: list[SourcedValue]


class ConsolidatedDeal(Record):
    """One real-world deal: its parties (resolved entity names), its sources, timeline, current
    values and conflicts, and why its records were joined."""

    id: str
    deal_type: DealType
    parties: list[Party]
    mentions: list[str]
    timeline: list[TimelineEntry]
    current: dict[str, CurrentValue]
    conflicts: list[Conflict] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)


class Consolidation(Record):
    """The consolidated view of a run: `documents` consolidated, `failures` left out (with the
    reason), `notes` on what could not be used (e.g. an article whose date is unknown)."""

    documents: list[str]
    failures: dict[str, str] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    companies: list[ConsolidatedEntity] = Field(default_factory=list)
    people: list[ConsolidatedEntity] = Field(default_factory=list)
    deals: list[ConsolidatedDeal] = Field(default_factory=list)


# --- Gold -------------------------------------------------------------------------------------


def _check_keys(keys: list[str]) -> list[str]:
    for key in keys:
        parse_mention_key(key)
    if len(set(keys)) != len(keys):
        raise ValueError("a mention key is listed twice")
    return keys


def _check_key(key: str) -> str:
    parse_mention_key(key)
    return key


class GoldEntityCluster(Record):
    """Per-article records that name the same real-world entity."""

    name: str
    mentions: list[str] = Field(min_length=1)
    note: str | None = None

    _keys = field_validator("mentions")(_check_keys)


class GoldTimelineEntry(Record):
    """One expected timeline entry: its source and article date (hand-read from the article);
    its values restate the per-article gold record, and validate-gold checks that they do."""

    source: str
    date: str | None
    status: DealStatus | None
    amount: Money | None = None
    stake_percent: float | None = None
    valuation: Money | None = None

    _key = field_validator("source")(_check_key)


class GoldCurrent(Record):
    """The expected current values of a consolidated deal."""

    deal_type: DealType
    parties: list[Party]
    status: DealStatus | None
    amount: Money | None = None
    stake_percent: float | None = None
    valuation: Money | None = None
    date: str | None = None


class GoldDealCluster(Record):
    """Per-article deal records that are the same real-world deal, with the expected timeline
    (in order), current values and conflicts. `optional` clusters and `optional_fields` are not
    scored (see gold/GUIDELINES.md, section 9)."""

    name: str
    mentions: list[str] = Field(min_length=1)
    timeline: list[GoldTimelineEntry]
    current: GoldCurrent
    conflicts: list[Conflict] = Field(default_factory=list)
    optional: bool = False
    optional_fields: list[str] = Field(default_factory=list)
    note: str | None = None

    _keys = field_validator("mentions")(_check_keys)


class GoldConsolidation(Record):
    """gold/consolidated.json: every per-article gold record in exactly one cluster."""

    companies: list[GoldEntityCluster]
    people: list[GoldEntityCluster]
    deals: list[GoldDealCluster]
