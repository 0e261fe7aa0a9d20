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

from schemas.errors import InputError


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
