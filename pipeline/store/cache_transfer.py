"""Move cache entries between SQLite and reviewable JSON files, one file per entry."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.extraction.documents import check_doc_id
from pipeline.store.cache import CacheEntry, ResponseCache
from pipeline.store.run_dir import write_atomic
from schemas.errors import InputError

_KEY = re.compile(r"^[0-9a-f]{64}$")


def check_entry(entry: CacheEntry, source: Path | str) -> CacheEntry:
    """An entry's document id and key become a file name: a SHA-256 key and a safe id only,
    so no entry, imported or found in a cache file, can write outside the export folder."""
    check_doc_id(entry.doc_id, source)
    if not _KEY.match(entry.key):
        raise InputError(f"{source}: cache key {entry.key[:80]!r} is not a SHA-256 hex digest")
    return entry


def entry_filename(entry: CacheEntry) -> str:
    """`<doc_id>.<key prefix>.json`: sorted by document in a listing, unique by key."""
    check_entry(entry, f"cache entry {entry.key[:16]}")
    return f"{entry.doc_id}.{entry.key[:16]}.json"


def export_entries(cache: ResponseCache, folder: Path) -> list[Path]:
    """Write every cache entry as pretty JSON under `folder`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in cache.entries():
        path = folder / entry_filename(entry)
        text = json.dumps(entry.to_json(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        write_atomic(path, text)
        written.append(path)
    return written


def read_entry(path: Path) -> CacheEntry:
    """Read one exported entry; a broken file is an InputError naming it."""
    try:
        return check_entry(CacheEntry.from_json(json.loads(path.read_text(encoding="utf-8"))), path)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from exc
    except (KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a dealx cache entry ({exc})") from exc


@dataclass(frozen=True)
class Imported:
    """What an import did: entries read, and how many of them the cache did not hold yet."""

    read: int
    new: int


def import_entries(cache: ResponseCache, folder: Path) -> Imported:
    """Load every `*.json` entry under `folder` into the cache (an entry already there is
    overwritten with the file's version)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    paths = sorted(folder.glob("*.json"))
    new = 0
    for path in paths:
        entry = read_entry(path)
        new += entry.key not in cache
        cache.put(entry)
    return Imported(read=len(paths), new=new)
