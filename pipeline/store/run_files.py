"""Read back what a run directory holds besides its records (errors.jsonl, the inputs its
manifest recorded), and any file dealx reads back only when it is a regular file: a FIFO in its
place would block the reader and a device never end."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.errors import InputError
from schemas.records import DocumentExtraction


def read_regular_file(path: Path) -> bytes:
    """The bytes of `path`, read only when it is a regular file: a FIFO in its place would
    block and a device never end. OSError when it is not one or cannot be read."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise OSError(0, "not a regular file", str(path))
    return path.read_bytes()


def os_problem(exc: OSError) -> str:
    """What went wrong reading a file, in one line, without the path."""
    return exc.strerror or type(exc).__name__


class JsonFileError(ValueError):
    """Why a JSON file cannot be read, in one line without its path: `problem`, and `line`
    where the JSON breaks (None when it is the whole file)."""

    def __init__(self, problem: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {problem}" if line is not None else problem)
        self.problem = problem
        self.line = line

    @property
    def where(self) -> str:
        """`line N`, or `(file)` for a problem of the whole file."""
        return f"line {self.line}" if self.line is not None else "(file)"


def read_json_file(path: Path) -> Any:
    """The JSON value in `path` (a regular file of UTF-8 JSON); JsonFileError when it cannot be
    read, is not UTF-8 or not JSON, or nests deeper than the parser goes."""
    try:
        data = read_regular_file(path)
    except OSError as exc:
        raise JsonFileError(f"cannot read ({os_problem(exc)})") from exc
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise JsonFileError(f"not UTF-8 (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise JsonFileError(f"invalid JSON: {exc.msg}", exc.lineno) from exc
    except RecursionError as exc:  # not a ValueError: json gives up on deep nesting
        raise JsonFileError("invalid JSON: nested too deeply") from exc


def error_location(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as a path: ("deals", 0, "amount") -> deals[0].amount."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def read_record_file(path: Path) -> tuple[DocumentExtraction | None, str]:
    """One RUN_DIR/records/<doc_id>.json, or None and why it cannot be used (without the
    path): not a regular file or not readable, not a valid record, or the record of another
    document than its file name says."""
    try:
        record = DocumentExtraction.model_validate_json(read_regular_file(path))
    except OSError as exc:
        return None, f"record file not read ({os_problem(exc)})"
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        return None, f"invalid record file: {error_location(error['loc'])}: {error['msg']}"
    if record.doc_id != path.stem:
        # Keyed by its doc_id it would replace another document's record, or name a path.
        return None, f"record file doc_id {record.doc_id!r} differs from its file name"
    return record, ""


def read_errors(path: Path) -> dict[str, str]:
    """RUN_DIR/errors.jsonl as {doc_id: reason}; {} without the file, blank lines skipped. A
    line that is not a {"doc_id": ..., "reason": ...} object, or a file that cannot be read, is
    an InputError naming it (a folder or a FIFO in its place included): its failed documents
    would otherwise pass for absent ones."""
    if not os.path.lexists(path):
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
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested past the stack
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
