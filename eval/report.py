"""The HTML report of a run: the eval tables, then per document the article with every grounded
evidence span highlighted by its record's outcome against gold, each value's own span marked
and labeled with its field inside it, and the gold records missed.

One self-contained file built with the standard library: inline CSS and JS, nothing fetched (a
Content-Security-Policy forbids fetches and runs only the page's own script, by hash). Every
article character and every model or gold value goes through html.escape; the records the
side panel shows travel as JSON with `<`, `>` and `&` escaped, so no value can close its
<script> element, and the page's script only ever sets them as textContent.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from eval.align import FIELDS, RECORD_LISTS, RECORD_TYPES, RecordMatch
from eval.load import Run, load_run
from eval.report_consolidated import consolidated_section, read_consolidation
from eval.scoring import Scores, evaluate
from eval.tables import cell, vertical
from pipeline.extraction.documents import (
    UnreadableDocument,
    find_document_paths,
    read_article,
    text_sha256,
)
from pipeline.store.run_files import recorded_inputs
from schemas.gold import GoldDocument
from schemas.records import Company, Deal, Money, Party, Person, Role, record_label

# Outcome of a predicted record; "unscored" is a record of a document without gold.
OUTCOME_LABELS = {
    "correct": "correct",
    "wrong_value": "wrong value",
    "spurious": "spurious",
    "optional": "optional (not scored)",
    "unscored": "no gold (not scored)",
}
# A record's displayed fields: the scored ones, with amount.currency etc. folded into amount.
DISPLAY_FIELDS = {t: tuple(dict.fromkeys(f.split(".")[0] for f in FIELDS[t])) for t in FIELDS}
# When a displayed field folds several scored ones, the worst verdict shows.
_VERDICT_ORDER = ("wrong", "missing", "spurious", "correct", "optional", "true_negative")
# Later documents start collapsed: a closed <details> is not laid out, so a report of thousands
# of articles still opens quickly.
OPEN_DOCUMENTS = 50
MANIFEST_KEYS = ("model", "prompt", "strategy", "grounding", "started_at", "git_commit")

AnyRecord = Company | Person | Deal


@dataclass(frozen=True, slots=True)
class Highlight:
    """One grounded evidence span and the record it supports."""

    start: int
    end: int
    key: str
    outcome: str
    label: str


@dataclass(frozen=True, slots=True)
class ValueMark:
    """Where one value of a record is written (a `ValueSpan`), and the record's key; `flagged`
    when --grounding flag kept the value although the record's evidence does not state it."""

    start: int
    end: int
    key: str
    field: str
    text: str
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class _DocRecords:
    """A document's predicted records as the page shows them, and its missed gold records."""

    highlights: list[Highlight]
    values: list[ValueMark]
    panel: dict[str, dict[str, Any]]
    missed: list[RecordMatch]


def write_report(
    run_dir: Path,
    golds: dict[str, GoldDocument],
    out_path: Path,
    *,
    documents_dir: Path | None = None,
) -> Path:
    """Score the run in `run_dir` against `golds` and write the HTML report to `out_path`.

    The article texts are read from the input paths the run's manifest recorded, or from
    `documents_dir` when given (for a run whose articles have moved).
    """
    run = load_run(run_dir)
    paths = recorded_articles(run) if documents_dir is None else articles(documents_dir)
    consolidated = consolidated_section(*read_consolidation(run_dir))
    page = render_report(run, evaluate(run, golds), paths, consolidated=consolidated)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(page, encoding="utf-8")
    return out_path


def recorded_articles(run: Run) -> dict[str, Path]:
    """The article files the run read, by document id, from its manifest's `inputs`."""
    return {doc_id: entry.path for doc_id, entry in recorded_inputs(run.manifest).items()}


def articles(documents_dir: Path) -> dict[str, Path]:
    """The article files under `documents_dir` by document id (the file stem)."""
    paths: dict[str, Path] = {}
    for path in find_document_paths([documents_dir]):
        paths.setdefault(path.stem, path)
    return paths


def render_report(
    run: Run, evaluation: Scores, article_paths: dict[str, Path], *, consolidated: str = ""
) -> str:
    """The whole page as one string; `consolidated` is the consolidated section's HTML (after
    the tables), empty for a run without a consolidation."""
    doc_ids = sorted(run.doc_ids | set(evaluation.alignments))
    statuses = dict(zip(evaluation.by_doc["doc_id"], evaluation.by_doc["status"], strict=True))
    reasons = dict(zip(evaluation.by_doc["doc_id"], evaluation.by_doc["reason"], strict=True))
    recorded = recorded_inputs(run.manifest)
    panel: dict[str, dict[str, Any]] = {}
    sections = []
    tally = dict.fromkeys(OUTCOME_LABELS, 0)
    value_count = flagged_count = 0
    for index, doc_id in enumerate(doc_ids):
        records = _doc_records(doc_id, run, evaluation)
        panel |= records.panel
        for highlight in records.highlights:
            tally[highlight.outcome] += 1
        value_count += len(records.values)
        flagged_count += sum(value.flagged for value in records.values)
        sections.append(
            _doc_section(
                doc_id,
                statuses[doc_id],
                reasons[doc_id],
                run.failures.get(doc_id),
                article_paths.get(doc_id),
                records,
                expected_sha256=recorded[doc_id].sha256 if doc_id in recorded else None,
                is_open=index < OPEN_DOCUMENTS,
            )
        )
    data = _script_json(panel)
    return _PAGE.format(
        csp=_content_security_policy(),
        title=_e(f"dealx report: {run.path.name}"),
        style=_STYLE,
        header=_header(run, evaluation, tally, value_count, flagged_count),
        tables=_tables(evaluation) + consolidated,
        documents="\n".join(sections),
        data=data,
        script=_SCRIPT,
    )


def _doc_records(doc_id: str, run: Run, evaluation: Scores) -> _DocRecords:
    """Pair every predicted record with its outcome (from the alignment when there is gold)."""
    alignment = evaluation.alignments.get(doc_id)
    pred = run.predictions.get(doc_id)
    matches: list[RecordMatch]
    if alignment is not None:
        matches = list(alignment.matches)
    elif pred is not None:
        matches = [
            RecordMatch(record_type, record, None, index, None, 0.0, False, {})
            for record_type in RECORD_TYPES
            for index, record in enumerate(getattr(pred, RECORD_LISTS[record_type]))
        ]
    else:
        matches = []
    highlights: list[Highlight] = []
    values: list[ValueMark] = []
    panel: dict[str, dict[str, Any]] = {}
    missed = []
    for match in matches:
        if match.pred is None:
            if match.outcome == "missed":
                missed.append(match)
            continue
        outcome = match.outcome if alignment is not None else "unscored"
        key = f"{doc_id}/{match.record_type}/{match.pred_index}"
        label = record_label(match.pred)
        panel[key] = _panel_entry(doc_id, match, match.pred, outcome)
        for evidence in match.pred.evidence:
            if evidence.start is not None and evidence.end is not None:
                highlights.append(Highlight(evidence.start, evidence.end, key, outcome, label))
        values.extend(
            ValueMark(s.start, s.end, key, s.field, s.text, not s.grounded)
            for s in match.pred.spans
        )
    return _DocRecords(highlights, values, panel, missed)


def _panel_entry(doc_id: str, match: RecordMatch, pred: AnyRecord, outcome: str) -> dict[str, Any]:
    """What the side panel shows for one predicted record: fields beside gold, with verdicts."""
    gold = match.gold
    verdicts = _verdicts(match)
    rows = []
    for name in DISPLAY_FIELDS[match.record_type]:
        predicted = format_value(getattr(pred, name))
        expected = format_value(getattr(gold, name)) if gold is not None else ""
        if predicted or expected:
            rows.append([name, predicted, expected, verdicts.get(name, "")])
    return {
        "doc": doc_id,
        "type": match.record_type,
        "label": record_label(pred),
        "outcome": OUTCOME_LABELS[outcome],
        "cls": outcome,
        "grounded": "" if pred.grounded is None else str(pred.grounded).lower(),
        "fields": rows,
        "evidence": [_evidence_text(e.quote, e.start, e.end) for e in pred.evidence],
        "spans": [[s.field, s.text, f"[{s.start}:{s.end}]", not s.grounded] for s in pred.spans],
    }


def _verdicts(match: RecordMatch) -> dict[str, str]:
    """Per displayed field, the worst verdict of the scored fields it folds (amount.currency
    into amount); fields both sides leave empty get none."""
    statuses: dict[str, set[str]] = {}
    for field, outcome in match.fields.items():
        statuses.setdefault(field.split(".")[0], set()).add(outcome.status)
    verdicts = {}
    for name, found in statuses.items():
        worst = next(status for status in _VERDICT_ORDER if status in found)
        if worst != "true_negative":
            verdicts[name] = worst
    return verdicts


def _evidence_text(quote: str, start: int | None, end: int | None) -> str:
    where = f"[{start}:{end}] " if start is not None else "[not in the article] "
    return where + quote


def format_value(value: Any) -> str:
    """A field value as one short line of text; empty for None and empty lists."""
    if value is None:
        return ""
    if isinstance(value, Money):
        amount = f"{value.value:,.2f}".removesuffix(".00")
        hedge = "" if value.qualifier == "exact" else f"{value.qualifier} "
        return f"{hedge}{amount} {value.currency}"
    if isinstance(value, list):
        return "; ".join(format_value(item) for item in value)
    if isinstance(value, Party):
        return f"{value.name} ({value.role})"
    if isinstance(value, Role):
        return f"{value.title} @ {value.organization}" if value.organization else value.title
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_article(
    text: str, highlights: Sequence[Highlight], values: Sequence[ValueMark] = ()
) -> str:
    """The article as escaped HTML with exactly one `.hl` element per highlight and one
    `mark.value` per value span, each value's field label (an empty `.vl`) ending its last piece.

    Spans overlap freely, so the text is cut at every span boundary and each piece wrapped in
    the elements of the spans covering it, in one nesting order: evidence outside values (so a
    value's label sits within its record's colors), then by start, longer first. Where a span
    ends, or one starts that nests outside a span already open, the elements from there inward
    are closed and those that go on reopen as continuations (`.hlc`, `mark.valuec`); the first
    piece alone carries the offsets. One pass over the sorted boundaries: O(n log n) plus the
    nesting depth per cut.
    """
    marks: list[Highlight | ValueMark] = [*highlights, *values]
    ranks = [(isinstance(m, ValueMark), m.start, -m.end, i) for i, m in enumerate(marks)]
    starting: dict[int, list[int]] = {}
    for index in sorted(range(len(marks)), key=ranks.__getitem__):
        starting.setdefault(marks[index].start, []).append(index)
    points = sorted(starting.keys() | {m.end for m in marks})
    out: list[str] = []
    stack: list[int] = []  # indexes into marks, outermost first
    position = 0
    for point in points:
        out.append(_e(text[position:point]))
        position = point
        new = starting.get(point, [])
        going_on = [i for i in stack if marks[i].end != point]
        wanted = sorted(going_on + [i for i in new if marks[i].end != point], key=ranks.__getitem__)
        # Keep what stays open at the same depth; close the rest, innermost first, and reopen.
        same = 0
        while same < min(len(stack), len(wanted)) and stack[same] == wanted[same]:
            same += 1
        out.extend(_close_tag(marks[i], point) for i in reversed(stack[same:]))
        out.extend(_open_tag(marks[i], first=marks[i].start == point) for i in wanted[same:])
        stack = wanted
        for index in new:
            if marks[index].end == point:  # an empty span still gets its (empty) element
                out.append(_open_tag(marks[index], first=True) + _close_tag(marks[index], point))
    out.append(_e(text[position:]))
    return "".join(out)


def _open_tag(mark: Highlight | ValueMark, *, first: bool) -> str:
    if isinstance(mark, ValueMark):
        flagged = " flagged" if mark.flagged else ""
        title = f"{mark.field}: {mark.text}"
        if mark.flagged:
            title += " (flagged: its record's evidence does not state it)"
        common = f'data-rec="{_e(mark.key)}" data-field="{_e(mark.field)}" title="{_e(title)}"'
        if not first:
            return f'<mark class="valuec{flagged}" {common}>'
        return (
            f'<mark class="value{flagged}" {common} data-start="{mark.start}" '
            f'data-end="{mark.end}">'
        )
    if not first:
        return f'<span class="hlc o-{_e(mark.outcome)}" data-rec="{_e(mark.key)}">'
    title = f"{mark.label} ({OUTCOME_LABELS[mark.outcome]})"
    return (
        f'<span class="hl o-{_e(mark.outcome)}" data-rec="{_e(mark.key)}" '
        f'data-start="{mark.start}" data-end="{mark.end}" title="{_e(title)}">'
    )


def _close_tag(mark: Highlight | ValueMark, point: int) -> str:
    if not isinstance(mark, ValueMark):
        return "</span>"
    if mark.end != point:
        return "</mark>"
    # The label is CSS generated content of an empty element: shown, but no part of the
    # article's text (textContent, copying, searching).
    return f'<span class="vl" data-field="{_e(mark.field)}"></span></mark>'


def _doc_section(
    doc_id: str,
    status: str,
    reason: str,
    failure: str | None,
    article_path: Path | None,
    records: _DocRecords,
    *,
    expected_sha256: str | None,
    is_open: bool,
) -> str:
    """One document: status line, notices, the highlighted article, the missed gold records."""
    notices = []
    # A document without gold is "no_gold" in the tables even when the run failed on it.
    if failure is not None:
        notices.append(f"failed in the run: {failure}")
    if reason and reason != failure:
        notices.append(f"{status}: {reason}")
    text = None
    if article_path is None:
        notices.append("article text not found (no input path in the manifest; try --seeds)")
    else:
        try:
            text = read_article(article_path).text
        except UnreadableDocument as exc:
            notices.append(str(exc))
        else:
            if expected_sha256 and text_sha256(text) != expected_sha256:
                notices.append(f"{article_path} changed since the run; offsets may not match")
    placed = [h for h in records.highlights if text is not None and h.end <= len(text)]
    # A value span promises text[start:end] == its text; one that does not hold would label
    # the wrong words.
    values = [
        v
        for v in records.values
        if text is not None and v.end <= len(text) and text[v.start : v.end] == v.text
    ]
    if text is not None and len(placed) < len(records.highlights):
        outside = len(records.highlights) - len(placed)
        notices.append(
            f"{outside} evidence span(s) lie outside this article's text: is --seeds the folder"
            " the run read?"
        )
    if text is not None and len(values) < len(records.values):
        notices.append(
            f"{len(records.values) - len(values)} value span(s) do not match this article's"
            " text: is --seeds the folder the run read?"
        )
    if text is None and (records.highlights or records.values):
        notices.append(
            f"{len(records.highlights)} evidence span(s) and {len(records.values)} value"
            " span(s) not shown"
        )
    flagged = sum(value.flagged for value in values)
    parts = [
        f'<section class="doc" id="doc-{_e(doc_id)}">',
        f"<details{' open' if is_open else ''}>",
        f'<summary><h2>{_e(doc_id)}</h2> <span class="status s-{_e(status)}">{_e(status)}'
        f"</span> {len(placed)} highlighted span(s), {len(values)} value span(s)"
        f"{f' ({flagged} flagged)' if flagged else ''}, {len(records.missed)} missed gold "
        "record(s)</summary>",
        *(f'<p class="notice">{_e(notice)}</p>' for notice in notices),
    ]
    if text is not None:
        parts.append(f'<div class="article">{render_article(text, placed, values)}</div>')
    if records.missed:
        parts.append(f"<h3>Missed gold records ({len(records.missed)})</h3>")
        parts.extend(_missed_record(match) for match in records.missed)
    parts.append("</details></section>")
    return "\n".join(parts)


def _missed_record(match: RecordMatch) -> str:
    """A gold record the run did not find, with its fields and evidence."""
    gold = match.gold
    rows = "".join(
        f"<tr><th>{_e(name)}</th><td>{_e(format_value(getattr(gold, name)))}</td></tr>"
        for name in DISPLAY_FIELDS[match.record_type]
        if format_value(getattr(gold, name))
    )
    quotes = "".join(
        f"<li>{_e(_evidence_text(e.quote, e.start, e.end))}</li>" for e in gold.evidence
    )
    return (
        f'<div class="missed"><h4>{_e(match.record_type)}: {_e(record_label(gold))}</h4>'
        f'<table class="fields">{rows}</table><ul class="evidence">{quotes}</ul></div>'
    )


def _header(
    run: Run, evaluation: Scores, tally: dict[str, int], value_count: int, flagged_count: int
) -> str:
    """Run facts, the support rates, and the legend with span counts."""
    manifest = run.manifest
    facts = "".join(
        f"<tr><th>{_e(key)}</th><td>{_e(str(manifest[key]))}</td></tr>"
        for key in MANIFEST_KEYS
        if manifest.get(key) is not None
    )
    # Column by column: a row of the mixed-type frame would turn the counts into floats.
    overall = {column: values.iloc[0] for column, values in evaluation.overall.items()}

    def shown(column: str) -> str:
        # .get: eval tables of other versions lack some columns; NaN (nothing checked) is blank.
        return _e(cell(overall.get(column)) or "n/a")

    support = (
        f"<p>Support rate: <b>{shown('support_rate')}</b> ({shown('records_supported')} of "
        f"{shown('records_checked')} records; value support "
        f"<b>{shown('value_support_rate')}</b>)."
    )
    rejected = manifest.get("rejected")
    if isinstance(rejected, dict):
        support += (
            f" Grounding dropped {_e(str(rejected.get('dropped', 0)))} and flagged "
            f"{_e(str(rejected.get('flagged', 0)))} unsupported values (rejected.jsonl)."
        )
    legend = "".join(
        f'<span class="key o-{outcome}">{_e(label)}: {tally[outcome]}</span> '
        for outcome, label in OUTCOME_LABELS.items()
    )
    value_legend = (
        '<mark class="value sample">value<span class="vl" data-field="field"></span></mark> '
        f"in its record's evidence: {value_count - flagged_count}, "
        '<mark class="value flagged sample">value<span class="vl" data-field="field"></span>'
        f"</mark> flagged: {flagged_count} (kept by --grounding flag; not in its record's "
        "evidence)"
    )
    return (
        f"<h1>{_e(f'dealx report: {run.path.name}')}</h1>"
        f'<table class="facts">{facts}</table>{support}</p>'
        f'<p class="legend">Highlighted evidence spans by outcome: {legend}</p>'
        f'<p class="legend">Value spans, labeled with their field: {value_legend}. '
        '<label><input type="checkbox" id="value-labels" checked> show field labels</label></p>'
        "<p>Hover over a highlight or a value to see its record beside the gold one; click to "
        "pin it.</p>"
    )


def _tables(evaluation: Scores) -> str:
    """The four eval tables; the two short ones side by side."""
    return "\n".join(
        [
            '<div class="row">',
            html_table(vertical(evaluation.overall), "Overall"),
            html_table(evaluation.by_type, "By record type"),
            "</div>",
            html_table(evaluation.by_field, "By field"),
            html_table(evaluation.by_doc, "By document", link_column="doc_id"),
        ]
    )


def html_table(frame: pd.DataFrame, caption: str, link_column: str | None = None) -> str:
    """A DataFrame as an escaped HTML table; numbers right-aligned, `link_column` cells link to
    their document section."""
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    head = "".join(f"<th>{_e(str(column))}</th>" for column in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for column, value, is_number in zip(frame.columns, row, numeric, strict=True):
            text = _e(cell(value))
            if column == link_column:
                text = f'<a href="#doc-{text}">{text}</a>'
            cells.append(f'<td class="num">{text}</td>' if is_number else f"<td>{text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="scores"><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _script_json(value: Any) -> str:
    """JSON safe inside <script>: `</script>` or `<!--` in a value cannot end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    # < > & occur in JSON only inside strings, where their \\u escapes mean the same thing.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _content_security_policy() -> str:
    """No fetches of any kind, inline styles, and only the page's own script (by its hash)."""
    digest = base64.b64encode(hashlib.sha256(_SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


_STYLE = """
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: #1f2328; }
main { margin-right: 340px; padding: 1rem 2rem 4rem; }
#panel { position: fixed; top: 0; right: 0; width: 340px; height: 100vh; overflow: auto;
  box-sizing: border-box; padding: 1rem; border-left: 1px solid #d0d7de; background: #f6f8fa; }
h1 { font-size: 1.4rem; } h2 { display: inline; font-size: 1.1rem; } h4 { margin: .3rem 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 13px; }
table.scores { display: block; max-width: 100%; overflow-x: auto; }
.row { display: flex; flex-wrap: wrap; gap: 0 2rem; align-items: flex-start; }
th, td { border: 1px solid #d0d7de; padding: 1px 5px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
.doc { border-top: 2px solid #d0d7de; padding-top: .5rem; margin-top: 1rem; }
summary { cursor: pointer; }
.status { padding: 0 6px; border-radius: 8px; background: #eaeef2; }
.s-failed, .s-missing { background: #ffd8d3; }
.notice { color: #9a6700; }
.article { white-space: pre-wrap; font: 15px/1.7 Georgia, serif; max-width: 60rem;
  padding: .5rem 1rem; border: 1px solid #d0d7de; background: #fff; }
.hl, .hlc { cursor: pointer; border-radius: 2px; }
.hl { box-shadow: inset 2px 0 0 #444; }
.o-correct { background: rgba(46, 160, 67, .28); }
.o-wrong_value { background: rgba(230, 160, 0, .38); }
.o-spurious { background: rgba(220, 50, 47, .30); }
.o-optional, .o-unscored { background: rgba(128, 128, 128, .30); }
/* A value: a box inside its record's evidence color, its field as a badge after it. */
mark.value, mark.valuec { cursor: pointer; color: inherit; background: none; padding: 0 1px;
  border: 1px solid #0550ae; border-radius: 3px; }
mark.flagged { border: 1px dashed #cf222e; background: rgba(207, 34, 46, .08); }
.vl::after { content: attr(data-field); margin-left: 2px; padding: 0 3px; border-radius: 3px;
  font: 600 10px/1.3 system-ui, sans-serif; vertical-align: 2px; white-space: nowrap;
  color: #fff; background: #0550ae; }
.flagged > .vl::after { content: attr(data-field) " · flagged"; background: #cf222e; }
body.no-labels .article .vl::after { content: none; }
.active { outline: 2px solid #0969da; }
.key { padding: 1px 6px; margin-right: .4rem; }
.missed { border-left: 4px solid #8250df; padding-left: .6rem; margin: .6rem 0; }
.card { border-left: 4px solid #888; padding-left: .6rem; margin-bottom: 1rem; }
.card.o-correct { border-color: #2ea043; } .card.o-wrong_value { border-color: #e6a000; }
.card.o-spurious { border-color: #dc322f; }
.card .meta { color: #57606a; font-size: .85rem; }
.card td.v-wrong, .card td.v-missing, .card td.v-spurious { color: #cf222e; font-weight: 600; }
.card td.v-correct { color: #1a7f37; }
ul.evidence { padding-left: 1.2rem; font-size: .9rem; }
/* Narrow enough for the panel; only a long value as written breaks anywhere. */
.card table.spans { font-size: 12px; } .card table.spans td.text { overflow-wrap: anywhere; }
.card table.spans td.flagged { color: #cf222e; font-weight: 600; }
.card table.spans tr.picked { background: #ddf4ff; }
"""

# Sets only textContent, never innerHTML: the values are the model's and the article's.
_SCRIPT = """
(() => {
  const records = JSON.parse(document.getElementById("dealx-records").textContent);
  const body = document.body;
  // What the browser rendered, for headless checks (chromium --dump-dom).
  body.dataset.highlights = String(document.querySelectorAll(".hl").length);
  body.dataset.values = String(document.querySelectorAll(".article mark.value").length);
  body.dataset.records = String(Object.keys(records).length);
  // Only the articles': the legend's sample values are no record's.
  const VALUES = ".article :is(.value, .valuec)";
  const SPANS = ".article :is(.hl, .hlc, .value, .valuec)";
  const panel = document.getElementById("panel-records");
  let pinned = null;
  let active = [];
  function add(parent, tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    parent.appendChild(node);
    return node;
  }
  function card(key, fields) {
    const r = records[key];
    const div = document.createElement("div");
    div.className = "card o-" + r.cls;
    add(div, "h4", r.type + ": " + r.label);
    const grounded = r.grounded ? ", grounded: " + r.grounded : "";
    add(div, "div", r.outcome + grounded + " (" + r.doc + ")", "meta");
    const table = add(div, "table");
    const head = add(table, "tr");
    for (const title of ["field", "predicted", "gold", "verdict"]) add(head, "th", title);
    for (const [field, predicted, gold, verdict] of r.fields) {
      const row = add(table, "tr");
      add(row, "th", field);
      add(row, "td", predicted);
      add(row, "td", gold);
      add(row, "td", verdict, "v-" + verdict);
    }
    const list = add(div, "ul", undefined, "evidence");
    for (const quote of r.evidence) add(list, "li", quote);
    if (r.spans.length) {
      const spans = add(div, "table", undefined, "spans");
      const top = add(spans, "tr");
      for (const title of ["value", "as written", "at"]) add(top, "th", title);
      for (const [field, text, at, flagged] of r.spans) {
        const row = add(spans, "tr", undefined, fields.has(field) ? "picked" : "");
        add(row, "th", field);
        add(row, "td", text, "text");
        add(row, "td", flagged ? at + " flagged" : at, flagged ? "flagged" : "");
      }
    }
    return div;
  }
  function show(element) {
    // A value selects the records of the values there, evidence those of the evidence there.
    const kind = element.matches(VALUES) ? VALUES : SPANS;
    const keys = [];
    const fields = new Map();
    for (let node = element; node && node !== body; node = node.parentElement) {
      const key = node.dataset.rec;
      if (!key || !node.matches(kind)) continue;
      if (!keys.includes(key)) keys.push(key);
      if (!fields.has(key)) fields.set(key, new Set());
      if (node.dataset.field) fields.get(key).add(node.dataset.field);
    }
    for (const node of active) node.classList.remove("active");
    active = [];
    for (const key of keys) {
      for (const node of document.querySelectorAll('[data-rec="' + CSS.escape(key) + '"]')) {
        node.classList.add("active");
        active.push(node);
      }
    }
    panel.replaceChildren(...keys.map((key) => card(key, fields.get(key))));
  }
  document.addEventListener("mouseover", (event) => {
    const element = event.target.closest(SPANS);
    if (element && !pinned) show(element);
  });
  document.addEventListener("click", (event) => {
    const element = event.target.closest(SPANS);
    if (!element) return;
    pinned = pinned === element ? null : element;
    show(element);
  });
  document.getElementById("value-labels").addEventListener("change", (event) => {
    body.classList.toggle("no-labels", !event.target.checked);
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<main>
{header}
{tables}
{documents}
</main>
<aside id="panel"><h3>Record</h3>
<div id="panel-records"><p>Hover over a highlighted span to see its record.</p></div></aside>
<script type="application/json" id="dealx-records">{data}</script>
<script>{script}</script>
</body>
</html>
"""
