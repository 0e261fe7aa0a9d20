"""Move cache entries between SQLite and reviewable JSON files, one file per entry."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.extraction.documents import check_doc_id
from pipeline.store.cache import CacheEntry, ResponseCache, row_of
from pipeline.store.run_dir import write_atomic
from pipeline.store.run_files import JsonFileError, read_json_file
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
    entries = cache.entries()  # first: a damaged cache leaves no folder behind
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in entries:
        path = folder / entry_filename(entry)
        text = json.dumps(entry.to_json(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        write_atomic(path, text)
        written.append(path)
    return written


def read_entry(path: Path) -> CacheEntry:
    """Read one exported entry; a file that cannot be read (a FIFO or a device is not read: it
    would block or never end), is not UTF-8 JSON or holds no entry (a field missing or of the
    wrong type) is an InputError naming it and the problem."""
    try:
        entry = CacheEntry.from_json(read_json_file(path))
    except JsonFileError as exc:
        raise InputError(f"{path}: {exc}") from exc
    except ValueError as exc:  # after its subclasses above
        raise InputError(f"{path}: not a dealx cache entry ({exc})") from exc
    return check_entry(entry, path)


def _storable_row(entry: CacheEntry, path: Path) -> tuple[Any, ...]:
    """The entry's row, refused when SQLite cannot store it: JSON lets a string hold half a
    surrogate pair ("\\ud800"), which is not text and has no UTF-8 form."""
    row = row_of(entry)
    for value in row:
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InputError(
                    f"{path}: not a dealx cache entry (a string holds the unpaired surrogate "
                    f"{exc.object[exc.start : exc.end]!r})"
                ) from exc
    return row


@dataclass(frozen=True)
class Imported:
    """What an import did: entries read, and how many of them the cache did not hold yet."""

    read: int
    new: int


@dataclass(frozen=True)
class EntryFiles:
    """The entry files of a folder, read and checked: their cache rows by key (of two files
    with one key, the later one wins) and how many files there were."""

    rows: dict[str, tuple[Any, ...]]
    files: int


def read_entries(folder: Path) -> EntryFiles:
    """Read and check every `*.json` entry under `folder`; InputError naming the first file
    that is not a dealx cache entry."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    paths = sorted(folder.glob("*.json"))
    rows: dict[str, tuple[Any, ...]] = {}
    for path in paths:
        entry = read_entry(path)
        rows[entry.key] = _storable_row(entry, path)
    return EntryFiles(rows, len(paths))


def store_entries(cache: ResponseCache, entries: EntryFiles) -> Imported:
    """Write checked entries into the cache in one transaction (an entry already there is
    overwritten with the file's version)."""
    new = sum(key not in cache for key in entries.rows)
    cache.put_rows(list(entries.rows.values()))
    return Imported(read=entries.files, new=new)


def import_entries(cache: ResponseCache, folder: Path) -> Imported:
    """Load every `*.json` entry under `folder` into the cache. Every file is read and checked
    first, so a refused file leaves the cache as it was."""
    return store_entries(cache, read_entries(folder))
