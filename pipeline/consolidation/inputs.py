"""What consolidation reads: the per-article records of a run (or in memory), the failed
documents, and the article texts (for the date each source was written).

A failed document, a record file that does not validate or cannot be read, and a document
whose article cannot be read are left out, each named with its reason; the rest is
consolidated. An errors.jsonl that cannot be read stops it (InputError), as it stops the eval:
its failed documents would otherwise pass for absent ones.

The readers of a run's files shared with the eval (eval/load.py) live here: errors.jsonl, the
manifest's recorded inputs, and files read only when they are regular files.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.extraction.documents import Document, UnreadableDocument, read_document
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
        try:
            record = DocumentExtraction.model_validate_json(read_regular_file(path))
        except OSError as exc:
            inputs.failures[path.stem] = f"{path}: record file not read ({os_problem(exc)})"
            continue
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = ".".join(str(part) for part in error["loc"]) or "(document)"
            inputs.failures[path.stem] = f"{path}: invalid record file: {where}: {error['msg']}"
            continue
        inputs.extractions[record.doc_id] = record
        inputs.failures.pop(record.doc_id, None)
    return inputs


def read_regular_file(path: Path) -> bytes:
    """The bytes of `path`, read only when it is a regular file: a FIFO in its place would
    block and a device never end. OSError when it is not one or cannot be read."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise OSError(0, "not a regular file", str(path))
    return path.read_bytes()


def os_problem(exc: OSError) -> str:
    """What went wrong reading a file, in one line, without the path."""
    return exc.strerror or type(exc).__name__


def read_errors(path: Path) -> dict[str, str]:
    """RUN_DIR/errors.jsonl as {doc_id: reason}; {} without the file, blank lines skipped. A
    line that is not a {"doc_id": ..., "reason": ...} object, or a file that cannot be read, is
    an InputError naming it: its failed documents would otherwise pass for absent ones."""
    if not path.is_file():
        return {}
    try:
        data = read_regular_file(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({os_problem(exc)})") from exc
    failures: dict[str, str] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}:{number}: not UTF-8 (byte {exc.start})") from exc
        except json.JSONDecodeError:
            row = None
        if not isinstance(row, dict) or "doc_id" not in row:
            raise InputError(f"{path}:{number}: expected {{'doc_id': ..., 'reason': ...}}")
        failures[str(row["doc_id"])] = str(row.get("reason", ""))
    return failures


@dataclass(frozen=True)
class RecordedInput:
    """An article file a run read, as its manifest recorded it: the path and the hash of the
    text (None when not recorded)."""

    path: Path
    sha256: str | None


def recorded_inputs(manifest: Mapping[str, Any]) -> dict[str, RecordedInput]:
    """The manifest's `inputs` by document id; an entry of the wrong type, or a path that
    cannot name a file, is ignored (the article is then not found)."""
    entries = manifest.get("inputs")
    if not isinstance(entries, dict):
        return {}
    recorded: dict[str, RecordedInput] = {}
    for doc_id, entry in entries.items():
        path = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(path, str) and path and "\0" not in path:
            sha256 = entry.get("sha256")
            digest = sha256 if isinstance(sha256, str) else None
            recorded[doc_id] = RecordedInput(Path(path), digest)
    return recorded


def read_article(path: Path) -> Document:
    """An article read as the pipeline reads one (UTF-8 only, its size limited), and only from
    a regular file: a FIFO or a device where a run's input was would block or never end."""
    if path.exists() and not path.is_file():
        raise UnreadableDocument(path, "not a regular file")
    return read_document(path)


def _manifest_inputs(run_dir: Path, inputs: Inputs) -> dict[str, Path]:
    """The article paths a run's manifest recorded, by document id."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(read_regular_file(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        inputs.notes.append(f"{path}: not valid JSON; article texts not read")
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
