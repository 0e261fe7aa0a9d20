"""Gold drafts from a run: each extracted document as a gold file an annotator corrects instead
of typing it from scratch (gold/GUIDELINES.md section 10).

A draft keeps the records with their evidence quotes and offsets, drops what only a run has
(grounding flags, value spans, support counts), sets every `optional` flag to false and
`optional_fields` to [], and is marked `"reviewed": false`, which the gold checks refuse until
the annotator has reviewed it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.load import load_run
from pipeline.store.run_dir import write_atomic
from schemas.records import DocumentExtraction

_LISTS = ("companies", "people", "deals")
# What a run adds to a record that gold does not have.
_RUN_ONLY = {"grounded": True, "spans": True, "evidence": {"__all__": {"grounded"}}}


@dataclass(frozen=True)
class Drafts:
    """The draft files written, the documents left alone because a file was there, and the
    documents with no record to draft (failed in the run, or a damaged record file) with their
    reasons."""

    written: list[Path]
    kept: list[Path]
    skipped: dict[str, str]


def gold_draft(record: DocumentExtraction) -> dict[str, Any]:
    """One document's gold draft, with the keys in the order of the gold files."""
    draft: dict[str, Any] = {"doc_id": record.doc_id, "reviewed": False}
    for name in _LISTS:
        draft[name] = [
            {**_whole(item.model_dump(mode="json", exclude=_RUN_ONLY)), "optional": False}
            | {"optional_fields": []}
            for item in getattr(record, name)
        ]
    return draft


def _whole(value: Any) -> Any:
    """Whole numbers without a decimal part (14000000000, not 14000000000.0), as the gold
    files write them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole(item) for item in value]
    return value


def write_gold_drafts(run_dir: Path, out_dir: Path) -> Drafts:
    """Write `<doc_id>.json` drafts into `out_dir` for every extracted document of the run. An
    existing file is never overwritten: it may hold an annotator's work. A document with no
    usable record (failed, or a damaged record file) is left out and named in `Drafts.skipped`."""
    run = load_run(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for doc_id, record in sorted(run.predictions.items()):
        path = out_dir / f"{doc_id}.json"
        if path.exists():
            kept.append(path)
            continue
        text = json.dumps(gold_draft(record), indent=2, ensure_ascii=False) + "\n"
        write_atomic(path, text)
        written.append(path)
    return Drafts(written, kept, dict(sorted(run.failures.items())))
