"""gold/consolidated.json: load it, and check it against the per-article gold it clusters.

The checks: every mention key names an existing per-article gold record of its section's kind;
every per-article gold record is in exactly one cluster; a deal's timeline lists exactly its
mentions, and each entry restates its record's status, amount, stake and valuation; conflicts
name only the deal's own mentions; the parties of `current` are entity cluster names; an
optional per-article deal sits in an optional cluster.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pipeline.store.run_files import JsonFileError, read_json_file
from schemas.consolidated import GoldConsolidation, GoldDealCluster, parse_mention_key
from schemas.errors import InputError
from schemas.gold import GoldDocument
from schemas.normalize import money_agrees, percent_agrees
from schemas.records import Money

Problem = tuple[str, str]  # (field, message)
_SECTIONS = ("companies", "people", "deals")


def parse_consolidated_gold(path: Path) -> tuple[GoldConsolidation | None, list[Problem]]:
    """The consolidated gold, or None and what is wrong with the file."""
    try:
        data = read_json_file(path)
    except JsonFileError as exc:
        return None, [(exc.where, exc.problem)]
    try:
        return GoldConsolidation.model_validate(data), []
    except ValidationError as exc:
        return None, [
            (".".join(str(p) for p in error["loc"]) or "(file)", error["msg"])
            for error in exc.errors(include_url=False)
        ]


def load_consolidated_gold(path: Path) -> GoldConsolidation:
    """The consolidated gold; an input error naming the file when it is missing or invalid."""
    if not path.exists():
        raise InputError(f"{path}: no consolidated gold")
    gold, problems = parse_consolidated_gold(path)
    if gold is None:
        field, message = problems[0]
        raise InputError(f"{path}: {field}: {message}")
    return gold


def check_consolidated_gold(path: Path, golds: dict[str, GoldDocument]) -> list[Problem]:
    """Every problem of the consolidated gold against the per-article gold `golds`."""
    gold, problems = parse_consolidated_gold(path)
    if gold is None:
        return problems
    for section in _SECTIONS:
        seen: dict[str, str] = {}
        for index, cluster in enumerate(getattr(gold, section)):
            where = f"{section}[{index}]"
            for key in cluster.mentions:
                problem = _missing_record(key, section, golds)
                if problem:
                    problems.append((f"{where}.mentions", problem))
                elif key in seen:
                    problems.append((f"{where}.mentions", f"{key} is also in {seen[key]}"))
                seen[key] = where
        for doc_id, document in sorted(golds.items()):
            for index in range(len(getattr(document, section))):
                key = f"{doc_id}:{section}[{index}]"
                if key not in seen:
                    problems.append((section, f"{key} is in no cluster"))
    entity_names = {c.name for c in (*gold.companies, *gold.people)}
    for index, cluster in enumerate(gold.deals):
        problems.extend(
            (f"deals[{index}].{field}", message)
            for field, message in _check_deal(cluster, golds, entity_names)
        )
    return problems


def _missing_record(key: str, section: str, golds: dict[str, GoldDocument]) -> str | None:
    doc_id, record_list, index = parse_mention_key(key)
    if record_list != section:
        return f"{key} is not a record of {section}"
    if doc_id not in golds:
        return f"{key}: no per-article gold file for {doc_id}"
    if index >= len(getattr(golds[doc_id], section)):
        return f"{key}: {doc_id} has {len(getattr(golds[doc_id], section))} {section}"
    return None


def _check_deal(
    cluster: GoldDealCluster, golds: dict[str, GoldDocument], entity_names: set[str]
) -> list[Problem]:
    problems: list[Problem] = []
    mentions = set(cluster.mentions)
    listed = [entry.source for entry in cluster.timeline]
    if sorted(listed) != sorted(mentions):
        problems.append(("timeline", "must list each mention once"))
    for position, entry in enumerate(cluster.timeline):
        if _missing_record(entry.source, "deals", golds):
            continue
        doc_id, _, index = parse_mention_key(entry.source)
        record = golds[doc_id].deals[index]
        if record.optional and not cluster.optional:
            problems.append(("optional", f"{entry.source} is optional in its article's gold"))
        for field in ("status", "amount", "stake_percent", "valuation"):
            if not _same(getattr(entry, field), getattr(record, field)):
                problems.append(
                    (
                        f"timeline[{position}].{field}",
                        f"{getattr(entry, field)!r} but {entry.source} says "
                        f"{getattr(record, field)!r}",
                    )
                )
    for position, conflict in enumerate(cluster.conflicts):
        for value in conflict.values:
            for source in value.sources:
                if source not in mentions:
                    problems.append((f"conflicts[{position}]", f"{source} is not a mention"))
    for party in cluster.current.parties:
        if party.name not in entity_names:
            problems.append(("current.parties", f"{party.name!r} is no entity cluster's name"))
    return problems


def _same(written: object, record: object) -> bool:
    if isinstance(written, Money) and isinstance(record, Money):
        return (
            written.currency == record.currency
            and written.qualifier == record.qualifier
            and money_agrees(written.value, record.value)
        )
    if isinstance(written, float | int) and isinstance(record, float | int):
        return percent_agrees(float(written), float(record))
    return written == record
