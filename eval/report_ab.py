"""The A/B/gold page of `dealx report A --against B`: per document, every gold record beside
what run A and run B made of it, and each run's spurious records, marked by what changed from
A to B (fixed, broken, still wrong, right in both).

The records are paired through the eval's alignment: A's and B's records stand beside the gold
record each was aligned with; spurious records of the two runs are paired by their folded
label, as `compare` does. One self-contained HTML file, no script; article text and model
output are escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from eval.align import FIELDS, DocumentAlignment, RecordMatch
from eval.comparison import shared_documents
from eval.error_analysis import field_text, quotes
from eval.load import load_run
from eval.scoring import Scores, evaluate
from pipeline.store.run_dir import write_atomic
from schemas.gold import GoldDocument
from schemas.normalize import fold
from schemas.records import record_label

# A -> B, for a gold record: (A right, B right) -> change.
_CHANGES = {
    (True, True): "right in both",
    (False, True): "fixed",
    (True, False): "broken",
    (False, False): "still wrong",
}
CHANGE_ORDER = ("broken", "fixed", "still wrong", "right in both", "optional")


@dataclass(frozen=True)
class Row:
    """One line of a document's table: the gold record (None for a spurious one) and what A and
    B made of it (None: nothing), with the change from A to B."""

    record_type: str
    gold: RecordMatch | None
    a: RecordMatch | None
    b: RecordMatch | None
    change: str


def ab_rows(a: DocumentAlignment, b: DocumentAlignment) -> list[Row]:
    """The rows of one document: gold records in order, then spurious records."""
    rows = []
    b_by_gold = {(m.record_type, m.gold_index): m for m in b.matches if m.gold is not None}
    for match in a.matches:
        if match.gold is None:
            continue
        other = b_by_gold[(match.record_type, match.gold_index)]
        if match.optional:
            change = "optional"
        else:
            change = _CHANGES[(match.outcome == "correct", other.outcome == "correct")]
        rows.append(Row(match.record_type, match, match, other, change))
    spurious_b: dict[tuple[str, str], list[RecordMatch]] = {}
    for match in b.matches:
        if match.gold is None:
            spurious_b.setdefault(_key(match), []).append(match)
    for match in a.matches:
        if match.gold is None:
            same = spurious_b.get(_key(match))
            other = same.pop(0) if same else None
            change = "still wrong" if other is not None else "fixed"
            rows.append(Row(match.record_type, None, match, other, change))
    for left in spurious_b.values():
        rows.extend(Row(m.record_type, None, None, m, "broken") for m in left)
    return rows


def _key(match: RecordMatch) -> tuple[str, str]:
    return match.record_type, fold(record_label(match.pred))  # type: ignore[arg-type]


def write_ab_report(run_a: Path, run_b: Path, golds: dict[str, GoldDocument], out: Path) -> Path:
    """Score both runs and write the page over the documents both have; returns its path."""
    a, b = evaluate(load_run(run_a), golds), evaluate(load_run(run_b), golds)
    write_atomic(out, render_ab_report(a, b, str(run_a), str(run_b)))
    return out


def render_ab_report(a: Scores, b: Scores, name_a: str, name_b: str) -> str:
    """The whole page."""
    shared, only_a, only_b = shared_documents(a, b)
    counts = {change: 0 for change in CHANGE_ORDER}
    sections = []
    for doc_id in shared:
        rows = ab_rows(a.alignments[doc_id], b.alignments[doc_id])
        for row in rows:
            counts[row.change] += 1
        sections.append(_document(doc_id, rows))
    summary = ", ".join(f"{count} {change}" for change, count in counts.items())
    left_out = [f"only in A: {', '.join(only_a)}"] * bool(only_a)
    left_out += [f"only in B: {', '.join(only_b)}"] * bool(only_b)
    note = f"<p>Left out: {_e('; '.join(left_out))}</p>" if left_out else ""
    return _PAGE.format(
        a=_e(name_a),
        b=_e(name_b),
        summary=_e(summary),
        note=note,
        sections="\n".join(sections),
    )


def _document(doc_id: str, rows: list[Row]) -> str:
    lines = [
        f"<section><h2>{_e(doc_id)}</h2><table>",
        "<tr><th>change</th><th>type</th><th>gold</th><th>A</th><th>B</th></tr>",
    ]
    for row in rows:
        gold = row.gold.gold if row.gold is not None else None
        lines.append(
            f'<tr class="{row.change.replace(" ", "-")}"><td>{_e(row.change)}</td>'
            f"<td>{_e(row.record_type)}</td><td>{_cell(gold, None, row.record_type)}</td>"
            f"<td>{_side(row.a, row.record_type)}</td><td>{_side(row.b, row.record_type)}</td></tr>"
        )
    lines.append("</table></section>")
    return "\n".join(lines)


def _side(match: RecordMatch | None, record_type: str) -> str:
    """What a run made of the row's record: its own record with the wrong fields marked."""
    if match is None or match.pred is None:
        return '<span class="none">missed</span>' if match is not None else ""
    return _cell(match.pred, set(match.wrong_fields), record_type)


def _cell(record: object, wrong: set[str] | None, record_type: str) -> str:
    if record is None:
        return '<span class="none">(no gold record)</span>'
    parts = [f"<b>{_e(record_label(record))}</b>"]  # type: ignore[arg-type]
    for name in FIELDS[record_type]:
        value = field_text(record, name)  # type: ignore[arg-type]
        if value and "." not in name:
            mark = ' class="wrong"' if wrong and name in wrong else ""
            parts.append(f"<span{mark}>{_e(name)}: {_e(value)}</span>")
    quote = quotes(record)  # type: ignore[arg-type]
    if quote:
        parts.append(f"<q>{_e(quote)}</q>")
    return "<br>".join(parts)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>dealx: A against B against gold</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: 4px 6px; vertical-align: top; text-align: left; }}
tr.broken td:first-child {{ background: #f8d0d0; }}
tr.fixed td:first-child {{ background: #cdeccd; }}
tr.still-wrong td:first-child {{ background: #f5e6b8; }}
.wrong {{ color: #b00000; font-weight: bold; }}
.none {{ color: #888; font-style: italic; }}
q {{ color: #555; font-size: 90%; }}
</style></head><body>
<h1>A: {a}<br>B: {b}</h1>
<p>Per gold record, from A to B: {summary}.</p>
{note}
{sections}
</body></html>
"""
