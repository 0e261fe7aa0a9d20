"""The consolidated section of the HTML report: each real-world deal with its timeline, its
sources (linking to the per-article sections) and its conflicts.

Every value goes through html.escape; the section is plain HTML, no script.
"""

from __future__ import annotations

import html
from pathlib import Path

from pydantic import ValidationError

from pipeline.consolidation.deals import money_text
from schemas.consolidated import ConsolidatedDeal, Consolidation, SourcedValue
from schemas.records import Money

CONSOLIDATED_FILE = Path("consolidated") / "consolidated.json"


def read_consolidation(run_dir: Path) -> tuple[Consolidation | None, str | None]:
    """RUN_DIR/consolidated/consolidated.json, or None and why it could not be read (None
    and None when the run has no consolidation)."""
    path = run_dir / CONSOLIDATED_FILE
    if not path.is_file():
        return None, None
    try:
        return Consolidation.model_validate_json(path.read_bytes()), None
    except ValidationError as exc:
        return None, f"{path}: not a consolidation ({exc.errors(include_url=False)[0]['msg']})"


def consolidated_section(consolidation: Consolidation | None, problem: str | None) -> str:
    """The section; empty when the run has no consolidation."""
    if problem:
        return f'<section class="consolidated"><p class="notice">{_e(problem)}</p></section>'
    if consolidation is None:
        return ""
    multi = sum(len({e.doc_id for e in d.timeline}) > 1 for d in consolidation.deals)
    parts = [
        '<section class="consolidated" id="consolidated">',
        f"<h2>Consolidated deals ({len(consolidation.deals)}, {multi} reported by more than one "
        f"article; {len(consolidation.companies)} companies, {len(consolidation.people)} "
        "people)</h2>",
        *(f'<p class="notice">{_e(note)}</p>' for note in consolidation.notes),
        *(
            f'<p class="notice">{_e(doc_id)} left out: {_e(reason)}</p>'
            for doc_id, reason in consolidation.failures.items()
        ),
    ]
    parts.extend(_deal(deal) for deal in consolidation.deals)
    parts.append("</section>")
    return "\n".join(parts)


def _deal(deal: ConsolidatedDeal) -> str:
    parties = ", ".join(f"{p.name} ({p.role})" for p in deal.parties)
    current = "; ".join(
        f"{field}: {_value(value.value)}"
        for field, value in deal.current.items()
        if value.value is not None and field not in ("deal_type",)
    )
    rows = "".join(
        "<tr>"
        f"<td>{_e(entry.date or 'undated')}</td>"
        f'<td><a href="#doc-{_e(entry.doc_id)}">{_e(entry.source)}</a></td>'
        f"<td>{_e(entry.deal_type)}</td>"
        f"<td>{_e(entry.status or '')}</td>"
        f"<td>{_e(_value(entry.amount))}</td>"
        f"<td>{_e(_value(entry.stake_percent))}</td>"
        f"<td>{_e(_value(entry.valuation))}</td>"
        f"<td>{_e(' '.join(e.quote for e in entry.evidence))}</td>"
        "</tr>"
        for entry in deal.timeline
    )
    conflicts = "".join(
        f"<li>{_e(c.field)}{_e(f' ({c.status})' if c.status else '')}: "
        + "; ".join(_sourced(v) for v in c.values)
        + "</li>"
        for c in deal.conflicts
    )
    return (
        f'<details class="deal" id="{_e(deal.id)}"><summary><b>{_e(deal.deal_type)}</b> '
        f"{_e(parties)}: {_e(current)} ({len(deal.timeline)} source(s))</summary>"
        '<table class="scores"><caption>Timeline</caption><thead><tr><th>date</th>'
        "<th>source</th><th>type</th><th>status</th><th>amount</th><th>stake</th>"
        f"<th>valuation</th><th>evidence</th></tr></thead><tbody>{rows}</tbody></table>"
        + (f"<p>Conflicts:</p><ul>{conflicts}</ul>" if conflicts else "<p>No conflicts.</p>")
        + "</details>"
    )


def _sourced(value: SourcedValue) -> str:
    sources = ", ".join(
        f'<a href="#doc-{_e(s.split(":", 1)[0])}">{_e(s)}</a>' for s in value.sources
    )
    return f"{_e(_value(value.value))} ({sources})"


def _value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and "value" in value:
        value = Money.model_validate(value)
    if isinstance(value, Money):
        return money_text(value)
    if isinstance(value, float):
        return f"{value:g}%"
    return str(value)


def _e(text: str) -> str:
    return html.escape(text, quote=True)
