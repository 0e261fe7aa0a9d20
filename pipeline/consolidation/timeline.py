"""A consolidated deal's timeline, current values and conflicts.

- **Entries** are one per source (per-article record), dated by the article: the date stamp of
  the section its evidence sits in (`dates.py`: an update note dates what follows it), else the
  deal's own date, else undated.
- **Order**: by date, then stage (rumored, in talks, agreed, completed, terminated), then
  document. An undated entry's stage is the only clue to when it was written: it goes after
  the dated entries of the same or an earlier stage and before the later stages.
- **Current values**: status is the latest status (the last entry with one); amount, stake and
  valuation come from the latest stage that reports them, the most specific value of that
  stage (an exact amount before a hedged one, "about" before a bound, then the most significant
  digits); deal date is the most precise one; deal type the one most sources give (ties: the
  more specific type). Values as specific as the chosen one but different are listed as ties.
- **Conflicts**: amounts, stakes and valuations that differ within one stage (talks revise
  terms, so different stages are a timeline, not a conflict), deal types or deal dates that
  differ, and statuses that go backwards in time or differ on the same date.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from pipeline.consolidation.dates import Stamps
from pipeline.consolidation.deals import DealMention
from schemas.consolidated import (
    Conflict,
    CurrentValue,
    SourcedValue,
    TimelineEntry,
    stage_rank,
)
from schemas.normalize import date_agrees, money_agrees, percent_agrees
from schemas.records import Deal, Money

# Most specific first: a funding round is a kind of investment, an acquisition a kind of deal.
TYPE_SPECIFICITY = (
    "funding_round",
    "acquisition",
    "merger",
    "licensing",
    "contract",
    "partnership",
    "investment",
    "other",
)
_HEDGE_RANK = {"exact": 0, "about": 1, "over": 2, "under": 2, "up_to": 2}


def entry(mention: DealMention, stamps: Stamps | None, text: str | None) -> TimelineEntry:
    """What one source reported, dated by its article section (or the deal's own date)."""
    deal = mention.deal
    date = stamps.date_at(_first_offset(deal, text)) if stamps else None
    source = "article" if date else ("deal" if deal.date else None)
    return TimelineEntry(
        source=mention.source,
        doc_id=mention.doc_id,
        date=date or deal.date,
        date_source=source,
        deal_type=deal.deal_type,
        status=deal.status,
        amount=deal.amount,
        stake_percent=deal.stake_percent,
        valuation=deal.valuation,
        deal_date=deal.date,
        evidence=deal.evidence,
    )


def _first_offset(deal: Deal, text: str | None) -> int | None:
    offsets = [e.start for e in deal.evidence if e.start is not None]
    if not offsets and text is not None:
        offsets = [found for e in deal.evidence if (found := text.find(e.quote)) >= 0]
    return min(offsets) if offsets else None


def order(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Entries by date, stage and document; undated ones placed by their stage (see above)."""
    dated = [(e.date, stage_rank(e.status)) for e in entries if e.date]

    def key(e: TimelineEntry) -> tuple[str, int, int, str, str]:
        rank = stage_rank(e.status)
        if e.date:
            return (e.date, rank, 0, e.doc_id, e.source)
        before = [date for date, other in dated if other <= rank]
        return (max(before, default=""), rank, 1, e.doc_id, e.source)

    return sorted(entries, key=key)


def current_values(timeline: list[TimelineEntry]) -> dict[str, CurrentValue]:
    """The current deal type, status, amount, stake, valuation and deal date of an ordered
    timeline, each with the rule that chose it and the ties."""
    current = {"deal_type": _current_type(timeline), "status": _current_status(timeline)}
    for field in ("amount", "stake_percent", "valuation"):
        current[field] = _current_term(timeline, field)
    dates = [(e.deal_date, e.source) for e in timeline if e.deal_date]
    current["date"] = _most_specific(
        dates,
        specificity=lambda d: -len(d),
        same=lambda x, y: x == y,
        rule="the most precise deal date",
    )
    return current


def _current_type(timeline: list[TimelineEntry]) -> CurrentValue:
    counts = Counter(e.deal_type for e in timeline)
    best = min(counts, key=lambda t: (-counts[t], TYPE_SPECIFICITY.index(t)))
    others = [t for t in counts if t != best and counts[t] == counts[best]]
    return CurrentValue(
        value=best,
        rule="the type most sources give (ties: the more specific)",
        sources=[e.source for e in timeline if e.deal_type == best],
        ties=[_sourced(timeline, "deal_type", t) for t in others],
    )


def _current_status(timeline: list[TimelineEntry]) -> CurrentValue:
    with_status = [e for e in timeline if e.status]
    if not with_status:
        return CurrentValue(value=None, rule="no source gives a status")
    last = with_status[-1]
    same_time = [e for e in with_status if e.date == last.date and e.status != last.status]
    return CurrentValue(
        value=last.status,
        rule="the latest status (the last source in the timeline that gives one)",
        sources=[e.source for e in with_status if e.status == last.status],
        ties=[
            _sourced(same_time, "status", status)
            for status in dict.fromkeys(e.status for e in same_time)
        ],
    )


def _current_term(timeline: list[TimelineEntry], field: str) -> CurrentValue:
    """Amount, stake or valuation: from the latest stage that reports it, the most specific."""
    reported = [e for e in timeline if getattr(e, field) is not None]
    if not reported:
        return CurrentValue(value=None, rule=f"no source gives a {field}")
    stage = reported[-1].status
    values = [(getattr(e, field), e.source) for e in reported if e.status == stage]
    if field == "stake_percent":
        return _most_specific(
            values,
            specificity=lambda _: 0,
            same=percent_agrees,
            rule=f"the stake of the latest stage that gives one ({stage})",
        )
    return _most_specific(
        values,
        specificity=_money_specificity,
        same=money_same,
        rule=f"the most specific {field} of the latest stage that gives one ({stage})",
    )


def _money_specificity(money: Money) -> tuple[int, int]:
    digits = len(f"{money.value:.6e}".split("e")[0].replace(".", "").rstrip("0"))
    return (_HEDGE_RANK[money.qualifier], -digits)


def money_same(a: Money, b: Money) -> bool:
    """The same statement of an amount: value within tolerance, same hedge and currency."""
    return (
        a.currency == b.currency and a.qualifier == b.qualifier and money_agrees(a.value, b.value)
    )


def _most_specific(
    values: list[tuple[Any, str]],
    *,
    specificity: Callable[[Any], Any],
    same: Callable[[Any, Any], bool],
    rule: str,
) -> CurrentValue:
    """The most specific value (the latest among equally specific ones) and its ties."""
    if not values:
        return CurrentValue(value=None, rule=rule)
    best_rank = min(specificity(v) for v, _ in values)
    tops = [(v, s) for v, s in values if specificity(v) == best_rank]
    chosen = tops[-1][0]
    return CurrentValue(
        value=_plain(chosen),
        rule=rule,
        sources=[s for v, s in values if same(v, chosen)],
        ties=_groups([(v, s) for v, s in tops if not same(v, chosen)], same),
    )


def conflicts(timeline: list[TimelineEntry]) -> list[Conflict]:
    """Where the sources of one deal disagree (see the module docstring)."""
    found: list[Conflict] = []
    types = [(e.deal_type, e.source) for e in timeline]
    if len({t for t, _ in types}) > 1:
        found.append(Conflict(field="deal_type", values=_groups(types, lambda a, b: a == b)))
    stages = list(dict.fromkeys(e.status for e in timeline))
    for field in ("amount", "stake_percent", "valuation"):
        same = percent_agrees if field == "stake_percent" else money_same
        for stage in stages:
            values = [
                (getattr(e, field), e.source)
                for e in timeline
                if e.status == stage and getattr(e, field) is not None
            ]
            groups = _groups(values, same)
            if len(groups) > 1:
                found.append(Conflict(field=field, status=stage, values=groups))
    dates = [(e.deal_date, e.source) for e in timeline if e.deal_date]
    date_groups = _groups(dates, lambda a, b: date_agrees(a, b) or date_agrees(b, a))
    if len(date_groups) > 1:
        found.append(Conflict(field="date", values=date_groups))
    backwards = _status_disagreements(timeline)
    if backwards:
        found.append(Conflict(field="status", values=_groups(backwards, lambda a, b: a == b)))
    return found


def _status_disagreements(timeline: list[TimelineEntry]) -> list[tuple[str, str]]:
    """(status, source) of dated entries that disagree: another status on the same date, or a
    later date reporting an earlier stage."""
    dated = [e for e in timeline if e.date and e.status]
    involved: dict[str, TimelineEntry] = {}
    for i, earlier in enumerate(dated):
        for later in dated[i + 1 :]:
            same_day = later.date == earlier.date and later.status != earlier.status
            backwards = stage_rank(later.status) < stage_rank(earlier.status)
            if same_day or backwards:
                involved[earlier.source] = earlier
                involved[later.source] = later
    return [(e.status, e.source) for e in dated if e.source in involved]  # type: ignore[misc]


def _groups(values: list[tuple[Any, str]], same: Callable[[Any, Any], bool]) -> list[SourcedValue]:
    """Values grouped by `same`, in order of first report, each with its sources."""
    groups: list[tuple[Any, list[str]]] = []
    for value, source in values:
        for first, sources in groups:
            if same(first, value):
                sources.append(source)
                break
        else:
            groups.append((value, [source]))
    return [SourcedValue(value=_plain(v), sources=s) for v, s in groups]


def _sourced(entries: list[TimelineEntry], field: str, value: Any) -> SourcedValue:
    return SourcedValue(
        value=value, sources=[e.source for e in entries if getattr(e, field) == value]
    )


def _plain(value: Any) -> Any:
    """A JSON-ready value: an amount as its dict."""
    return value.model_dump() if isinstance(value, Money) else value
