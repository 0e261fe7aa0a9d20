"""Timeline order, current values and conflicts (pipeline/consolidation/timeline.py)."""

from __future__ import annotations

from typing import Any

from pipeline.consolidation.timeline import conflicts, current_values, order
from schemas.consolidated import TimelineEntry


def entry(source: str, date: str | None, status: str | None, **fields: Any) -> TimelineEntry:
    return TimelineEntry.model_validate(
        {
            "source": source,
            "doc_id": source,
            "date": date,
            "deal_type": fields.pop("deal_type", "investment"),
            "status": status,
            **fields,
        }
    )


def money(value: float, qualifier: str = "exact") -> dict[str, Any]:
    return {"value": value, "currency": "USD", "qualifier": qualifier}


def test_undated_reports_sit_with_their_stage() -> None:
    entries = [
        entry("d4", "2025-06-11", "agreed"),
        entry("d3", None, "in_talks"),
        entry("d1", "2025-06-09", "in_talks"),
        entry("d0", "2025-06-11", "agreed"),
        entry("d9", None, "rumored"),
    ]
    assert [e.source for e in order(entries)] == ["d9", "d1", "d3", "d0", "d4"]


def test_current_values_follow_the_latest_stage_and_the_most_specific_amount() -> None:
    timeline = order(
        [
            entry("a", "2025-06-08", "in_talks", amount=money(10e9, "about")),
            entry("b", "2025-06-09", "in_talks", amount=money(10e9, "over")),
            entry("c", "2025-06-11", "agreed", amount=money(14e9, "about"), stake_percent=49),
            entry("d", "2025-06-11", "agreed", amount=money(14e9), stake_percent=49),
        ]
    )
    current = current_values(timeline)
    assert current["status"].value == "agreed"
    assert current["amount"].value == money(14e9)  # exact beats "about"
    assert current["amount"].sources == ["d"]
    assert "agreed" in current["amount"].rule
    assert current["stake_percent"].value == 49


def test_equally_specific_amounts_are_listed_as_ties() -> None:
    timeline = [
        entry("a", "2025-06-09", "agreed", amount=money(14e9)),
        entry("b", "2025-06-10", "agreed", amount=money(15e9)),
    ]
    amount = current_values(timeline)["amount"]
    assert amount.value == money(15e9)  # the later of the two
    assert [(t.value, t.sources) for t in amount.ties] == [(money(14e9), ["a"])]


def test_conflicts_within_a_stage_and_statuses_of_the_same_date() -> None:
    timeline = order(
        [
            entry("a", "2025-06-08", "in_talks", amount=money(10e9, "about")),
            entry("b", "2025-06-09", "in_talks", amount=money(10e9, "over")),
            entry("c", "2025-06-11", "agreed", amount=money(14e9)),
            entry("d", "2025-06-11", "in_talks"),
        ]
    )
    found = {
        (c.field, c.status): [(v.value, v.sources) for v in c.values] for c in conflicts(timeline)
    }
    assert found[("amount", "in_talks")] == [
        (money(10e9, "about"), ["a"]),
        (money(10e9, "over"), ["b"]),
    ]
    # Talks revising $10B to an agreed $14B is the timeline, not a conflict.
    assert ("amount", "agreed") not in found
    assert found[("status", None)] == [("in_talks", ["d"]), ("agreed", ["c"])]


def test_one_consistent_source_has_no_conflict() -> None:
    assert conflicts([entry("a", None, "completed", amount=money(1e9))]) == []
