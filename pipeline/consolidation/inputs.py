"""What consolidation reads: the per-article records of a run (or in memory), the failed
documents, and the article texts (for the date each source was written).

A failed document, a record file that does not validate or cannot be read, and a document
whose article cannot be read are left out, each named with its reason; the rest is
consolidated. An errors.jsonl that cannot be read stops it (InputError), as it stops the eval:
its failed documents would otherwise pass for absent ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.extraction.documents import Document, UnreadableDocument, read_article
from pipeline.store.run_files import (
    JsonFileError,
    read_errors,
    read_json_file,
    read_record_file,
    recorded_inputs,
)
from schemas.errors import InputError
from schemas.records import DocumentExtraction

Records = str | Path | Mapping[str, DocumentExtraction] | Iterable[DocumentExtraction]
Articles = str | Path | Mapping[str, Path] | Iterable[Document] | None


@dataclass
class Inputs:
    """The usable records by document id (sorted), the article texts found, and what was left
    out: failed documents with their reasons, and notes."""

    extractions: dict[str, DocumentExtraction]
    texts: dict[str, str] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def read_inputs(records: Records, articles: Articles = None) -> Inputs:
    """Records from a run directory or in memory; article texts from `articles` (a folder,
    {doc_id: path}, or Documents), else from a run's manifest `inputs`."""
    if isinstance(records, str | Path):
        inputs = _read_run_dir(Path(records))
        if articles is None:
            articles = _manifest_inputs(Path(records), inputs)
    else:
        items = records.values() if isinstance(records, Mapping) else records
        extractions = {}
        for record in items:
            if not isinstance(record, DocumentExtraction):
                raise InputError(
                    f"expected DocumentExtraction records, got {type(record).__name__}"
                )
            extractions[record.doc_id] = record
        failures = dict(getattr(records, "failures", {}) or {})
        inputs = Inputs(dict(sorted(extractions.items())), failures=failures)
    inputs.texts = _read_articles(articles, inputs)
    missing = sorted(set(inputs.extractions) - set(inputs.texts))
    if missing:
        inputs.notes.append(
            f"no article text for {len(missing)} document(s) ({_first(missing)}): their "
            "sources are dated by the deal's own date only"
        )
    return inputs


def _read_run_dir(run_dir: Path) -> Inputs:
    """RUN_DIR/records/*.json and errors.jsonl; a record file that cannot be used counts as
    failed."""
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run directory")
    records_dir, errors = run_dir / "records", run_dir / "errors.jsonl"
    if not records_dir.is_dir() and not errors.is_file():
        raise InputError(f"{run_dir}: not a run directory (no records/ and no errors.jsonl)")
    inputs = Inputs({}, failures=read_errors(errors))
    for path in sorted(records_dir.glob("*.json")):
        record, problem = read_record_file(path)
        if record is None:
            inputs.failures[path.stem] = f"{path}: {problem}"
            continue
        inputs.extractions[path.stem] = record
        inputs.failures.pop(path.stem, None)
    return inputs


def _manifest_inputs(run_dir: Path, inputs: Inputs) -> dict[str, Path]:
    """The article paths a run's manifest recorded, by document id."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        return {}
    try:
        manifest = read_json_file(path)
    except JsonFileError as exc:
        inputs.notes.append(f"{path}: {exc}; article texts not read")
        return {}
    if not isinstance(manifest, dict):
        return {}
    return {doc_id: entry.path for doc_id, entry in recorded_inputs(manifest).items()}


def _read_articles(articles: Articles, inputs: Inputs) -> dict[str, str]:
    """Texts of the articles of the consolidated documents. A document whose article is there
    but cannot be read is left out, as the pipeline fails it: its sources could not be dated
    and would place it wrongly in its deals' timelines."""
    wanted = inputs.extractions
    if articles is None:
        return {}
    if isinstance(articles, str | Path):
        folder = Path(articles)
        paths = {p.stem: p for p in sorted(folder.glob("*.txt"))}
        paths.update({p.stem: p for p in sorted(folder.glob("*.md"))})
        articles = paths
    if not isinstance(articles, Mapping):
        return {doc.doc_id: doc.text for doc in articles if doc.doc_id in wanted}
    texts: dict[str, str] = {}
    for doc_id, source in articles.items():
        if doc_id not in wanted:
            continue
        try:
            texts[doc_id] = read_article(Path(source)).text
        except (UnreadableDocument, InputError) as exc:
            del wanted[doc_id]
            inputs.failures[doc_id] = f"article not read: {exc}"
    return texts


def _first(names: list[str], shown: int = 3) -> str:
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
