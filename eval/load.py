"""Read what an eval needs: a run directory (records, errors, manifest, candidates) and the gold
files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from eval.gold import load_gold_dir
from pipeline.store.run_files import (
    JsonFileError,
    error_location,
    read_errors,
    read_json_file,
    read_record_file,
)
from schemas.errors import InputError
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction


@dataclass(frozen=True)
class Run:
    """One run directory: its valid extractions and its failed documents with their reasons.

    `candidates` holds, for a constrained run, what the model was offered per document
    (RUN_DIR/candidates/<doc_id>.json as a dict); empty for other runs. `candidate_problems`
    names, per document, a candidates file that could not be used (left out of the ceiling).
    """

    path: Path
    manifest: dict[str, Any]
    predictions: dict[str, DocumentExtraction]
    failures: dict[str, str]
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    candidate_problems: dict[str, str] = field(default_factory=dict)

    @property
    def doc_ids(self) -> set[str]:
        """Every document the run has an outcome for, extracted or failed."""
        return set(self.predictions) | set(self.failures)


def load_run(run_dir: Path) -> Run:
    """Load RUN_DIR/records/*.json, errors.jsonl, manifest.json and candidates/*.json.

    A record file that cannot be read, parse or validate is a failed document (all its gold
    records missed), never dropped; a document with both a record and an error line counts as
    extracted.
    """
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run directory")
    records_dir, errors_path = run_dir / "records", run_dir / "errors.jsonl"
    if not records_dir.is_dir() and not errors_path.is_file():
        raise InputError(f"{run_dir}: not a run directory (no records/ and no errors.jsonl)")
    failures = read_errors(errors_path)
    predictions: dict[str, DocumentExtraction] = {}
    for path in sorted(records_dir.glob("*.json")):
        extraction, problem = read_record_file(path)
        if extraction is None:
            failures[path.stem] = problem
        else:
            predictions[path.stem] = extraction
            failures.pop(path.stem, None)
    candidates, problems = read_candidates(run_dir / "candidates")
    return Run(run_dir, read_manifest(run_dir), predictions, failures, candidates, problems)


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """RUN_DIR/manifest.json as a dict; {} when the run has none."""
    path = run_dir / "manifest.json"
    if not path.is_file():
        return {}
    manifest = _read_json(path)
    if not isinstance(manifest, dict):
        raise InputError(f"{path}: expected a JSON object")
    return manifest


class _CandidatePart(BaseModel):
    """Lenient on extra keys (the ceiling reads only some), strict on the types of the rest."""

    model_config = ConfigDict(extra="allow", strict=True)


class _Amount(_CandidatePart):
    value: float | None


class _DealCandidate(_CandidatePart):
    parties: list[str]
    people: list[str]


class _CandidateFile(_CandidatePart):
    """What the ceiling reads of a candidates file."""

    doc_id: str
    organizations: list[str]
    people: list[str]
    amounts: list[_Amount]
    deals: list[_DealCandidate]


def read_candidates(folder: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """RUN_DIR/candidates/*.json as {doc_id: the file's object}, and {doc_id: problem} for the
    files that cannot be used; both {} without the folder.

    Candidates feed only the ceiling, so a damaged file (not valid JSON, a key the ceiling reads
    missing or of the wrong type, another document named) leaves its document out of the
    ceiling instead of stopping every command that reads the run.
    """
    candidates: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    if not folder.is_dir():
        return candidates, problems
    for path in sorted(folder.glob("*.json")):
        try:
            candidates[path.stem] = _read_candidate_file(path)
        except InputError as exc:
            problems[path.stem] = str(exc)
    return candidates, problems


def _read_candidate_file(path: Path) -> dict[str, Any]:
    """One candidates file, checked so that a malformed one is named instead of silently
    lowering the ceiling; an InputError naming the file and the problem."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    try:
        _CandidateFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = error_location(error["loc"])
        raise InputError(f"{path}: not a candidates file: {where}: {error['msg']}") from exc
    if data["doc_id"] != path.stem:
        raise InputError(f"{path}: doc_id {data['doc_id']!r} differs from its file name")
    return data


def _read_json(path: Path) -> Any:
    """The JSON value in a file of a run; an InputError naming it when it cannot be read."""
    try:
        return read_json_file(path)
    except JsonFileError as exc:
        raise InputError(f"{path}: {exc}") from exc


def load_gold(gold_dir: Path) -> dict[str, GoldDocument]:
    """Every gold document in `gold_dir`; a missing or empty folder is an input error."""
    golds = load_gold_dir(gold_dir)
    if not golds:
        raise InputError(f"{gold_dir}: no gold files (*.json)")
    return golds
