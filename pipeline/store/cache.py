"""The content-addressed response cache: SQLite in WAL mode, one row per validated answer.

instructor's own `cache=` hook stores only the parsed model and the raw completion and has no
replay-only mode, so dealx keeps its own store around the instructor call: keys still come from
instructor's make_cache_key (see pipeline.extraction.request), and each row adds provenance
(token usage, latency, the model the server reported, re-asks). Values are JSON, never pickles.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import NoneType
from typing import Any

from pipeline.store.sqlite_files import database_error, missing_columns
from schemas.errors import InputError

_COLUMNS = (
    "key",
    "doc_id",
    "request",
    "raw_response",
    "record",
    "prompt_tokens",
    "completion_tokens",
    "latency_s",
    "created_at",
    "server_model",
    "reasks",
    "transport_retries",
    "provenance",
)
_JSON_COLUMNS = ("request", "raw_response", "record", "provenance")
# How a JSON column is stored (json.dumps with these options, without building an encoder
# per value).
_encode = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    request TEXT NOT NULL,
    raw_response TEXT NOT NULL,
    record TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created_at TEXT NOT NULL,
    server_model TEXT,
    reasks INTEGER NOT NULL,
    transport_retries INTEGER NOT NULL,
    provenance TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS set_aside (
    {", ".join(f"{column} TEXT" for column in _COLUMNS)},
    reason TEXT,
    set_aside_at TEXT DEFAULT CURRENT_TIMESTAMP
);
"""
# The columns each table must have: a table of the same name without them is another
# program's (or another version's), and every read or write of it would fail.
_LAYOUT = {
    "responses": _COLUMNS,
    "set_aside": (*_COLUMNS, "reason", "set_aside_at"),
}

# What each field holds, JSON columns decoded, and how to say so: checked when an entry comes
# from outside (an import) and, cheaply, on every read, so that a row written by hand or by an
# older version is set aside instead of failing documents with a TypeError.
_OBJECT = ((dict,), "a JSON object")
_STRING = ((str,), "a string")
_COUNT = ((int,), "a non-negative integer")
_SECONDS = ((float, int), "a finite number")
_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "key": _STRING,
    "doc_id": _STRING,
    "request": _OBJECT,
    "raw_response": _OBJECT,
    "record": _OBJECT,
    "prompt_tokens": _COUNT,
    "completion_tokens": _COUNT,
    "latency_s": _SECONDS,
    "created_at": _STRING,
    "server_model": ((str, NoneType), "a string or null"),
    "reasks": _COUNT,
    "transport_retries": _COUNT,
    "provenance": _OBJECT,
}
_ROW_TYPES = tuple(_FIELDS[column][0] for column in _COLUMNS)
_JSON_KINDS = {
    dict: "a JSON object",
    list: "an array",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    NoneType: "null",
}
# What json.loads raises for a stored value that is no JSON text: invalid JSON (ValueError),
# a BLOB of bytes that are not UTF-8 (UnicodeDecodeError, a ValueError too), NULL (TypeError),
# nesting deeper than the interpreter's stack.
_UNREADABLE = (ValueError, TypeError, RecursionError)
# SQLite's INTEGER is 64-bit signed.
_MAX_COUNT = 2**63 - 1


def _kind(value: object) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _entry_problem(values: Mapping[str, Any]) -> str | None:
    """What keeps these field values from being a cache entry (a field missing or of the
    wrong type, a count that is negative or too large, a latency that is not finite), or None."""
    for column in _FIELDS:
        if column not in values:
            return f"no {column}"
        if (problem := _field_problem(column, values[column])) is not None:
            return problem
    return None


def _field_problem(column: str, value: object) -> str | None:
    types, wanted = _FIELDS[column]
    # bool is an int to isinstance, never to a reader of the entry.
    if isinstance(value, bool) or not isinstance(value, types):
        return f"{column} is {_kind(value)}, not {wanted}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{column} is {value!r}, not {wanted}"
    if _FIELDS[column] is _COUNT and isinstance(value, int) and not 0 <= value <= _MAX_COUNT:
        return f"{column} is {value!r}, not {wanted}"
    return None


@dataclass(frozen=True)
class CachedAnswer:
    """The part of an entry a run needs: the validated record and what it cost."""

    record: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    server_model: str | None
    reasks: int
    transport_retries: int


_ANSWER_COLUMNS = tuple(CachedAnswer.__dataclass_fields__)
_ANSWER_TYPES = tuple(_FIELDS[column][0] for column in _ANSWER_COLUMNS[1:])
# The columns in field order, `record` (the one stored as JSON) first.
_SELECT_ANSWER = f"SELECT {', '.join(_ANSWER_COLUMNS)} FROM responses WHERE key = ?"


@dataclass(frozen=True)
class CacheEntry:
    """One validated model answer and how it was obtained. Never holds a credential."""

    key: str
    doc_id: str
    request: dict[str, Any]
    raw_response: dict[str, Any]
    record: dict[str, Any]
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    created_at: str
    server_model: str | None
    reasks: int
    transport_retries: int
    provenance: dict[str, Any]

    @property
    def answer(self) -> CachedAnswer:
        return CachedAnswer(**{column: getattr(self, column) for column in _ANSWER_COLUMNS})

    def to_json(self) -> dict[str, Any]:
        """The entry as one reviewable JSON object (the export format). Its values are shared
        with the entry, not copied (dataclasses.asdict's deep copy was most of a put)."""
        return {column: getattr(self, column) for column in _COLUMNS}

    @classmethod
    def from_json(cls, data: object) -> CacheEntry:
        """Read an exported entry; anything but an object with every field of its type is a
        ValueError saying what is wrong (fields of later versions are ignored)."""
        if not isinstance(data, dict):
            raise ValueError(f"it is {_kind(data)}, not a JSON object")
        if (problem := _entry_problem(data)) is not None:
            raise ValueError(problem)
        return cls(**{column: data[column] for column in _COLUMNS})


def row_of(entry: CacheEntry) -> tuple[Any, ...]:
    """An entry as its row is stored: the JSON columns encoded. A batch of entries waiting
    for their transaction is kept as rows: strings, which the garbage collector does not walk
    (thousands of entries' dicts made every full collection slower)."""
    return tuple(
        _encode(getattr(entry, column)) if column in _JSON_COLUMNS else getattr(entry, column)
        for column in _COLUMNS
    )


_UPSERT = (
    f"INSERT INTO responses ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS if column != "key")
)
BUSY_TIMEOUT_S = 60.0


def _enable_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL mode (it stays so). When processes open a new cache at the same
    moment, SQLite answers the switch with "database is locked" at once, without waiting on the
    busy timeout, so the switch itself is retried for as long."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _layout_problem(db: sqlite3.Connection) -> str | None:
    """How the file's tables differ from a dealx cache's, or None (a new file has none)."""
    for table, columns in _LAYOUT.items():
        if (problem := missing_columns(db, table, columns)) is not None:
            return problem
    return None


def _prepare(db: sqlite3.Connection, path: Path) -> None:
    """Check the file's tables, switch it to WAL and create what is missing. The layout is
    checked once here, before anything is written to another program's file, so that no read
    of the hot path has to expect a missing column."""
    if (problem := _layout_problem(db)) is not None:
        raise InputError(f"{path}: not a dealx cache ({problem})")
    _enable_wal(db)
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)


class ResponseCache:
    """SQLite-backed store of CacheEntry rows, safe for concurrent processes (WAL, busy timeout).
    A file SQLite cannot use, at opening or later, is an InputError naming it."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        """Open the cache at `path`; with create=False a missing file is an InputError (a
        mistyped --cache for replay or export must not silently be a new, empty cache)."""
        self.path = path
        if not create and not path.is_file():
            raise InputError(f"{path}: no such cache file (check --cache)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            try:
                _prepare(self._db, path)
            except BaseException:
                self._db.close()
                raise
        except sqlite3.DatabaseError as exc:
            raise database_error(path, exc, "cache") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, with SQLite's errors made InputErrors."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.DatabaseError as exc:
                raise database_error(self.path, exc, "cache") from exc

    def get(self, key: str) -> CacheEntry | None:
        """The entry for `key`, or None; an unreadable row is set aside and counts as a miss."""
        with self._using() as db:
            row = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        values = dict(zip(_COLUMNS, row, strict=True))
        try:
            for column in _JSON_COLUMNS:
                values[column] = json.loads(values[column])
        except _UNREADABLE as exc:
            self._set_aside(key, f"unreadable entry: {exc}")
            return None
        if not all(map(isinstance, values.values(), _ROW_TYPES)):
            self._set_aside(key, f"unreadable entry: {_entry_problem(values)}")
            return None
        return CacheEntry(**values)

    def get_answer(self, key: str) -> CachedAnswer | None:
        """Just the answer for `key` (the hot path of a replay: no request or raw response is
        parsed); an unreadable row is set aside and counts as a miss."""
        # Inline, not _using(): a context manager per read is measurable in a replay.
        with self._lock:
            try:
                row = self._db.execute(_SELECT_ANSWER, (key,)).fetchone()
            except sqlite3.DatabaseError as exc:
                raise database_error(self.path, exc, "cache") from exc
        if row is None:
            return None
        text, *rest = row
        try:
            record = json.loads(text)
        except _UNREADABLE as exc:
            self._set_aside(key, f"unreadable entry: {exc}")
            return None
        if type(record) is not dict or not all(map(isinstance, rest, _ANSWER_TYPES)):
            problem = next(
                problem
                for column, value in zip(_ANSWER_COLUMNS, (record, *rest), strict=True)
                if (problem := _field_problem(column, value)) is not None
            )
            self._set_aside(key, f"unreadable entry: {problem}")
            return None
        return CachedAnswer(record, *rest)

    def __contains__(self, key: object) -> bool:
        """Whether an entry for `key` is stored."""
        with self._using() as db:
            row = db.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone()
        return row is not None

    def put(self, entry: CacheEntry) -> None:
        """Store (or overwrite) an entry; one row per key however many writers race."""
        self.put_rows([row_of(entry)])

    def put_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Store (or overwrite) entries, as `row_of` encodes them, in one transaction (a
        collected batch's answers, an import): all of them or, on an error, none."""
        with self._using() as db, db:
            db.executemany(_UPSERT, rows)

    def _set_aside(self, key: str, reason: str) -> None:
        columns = ", ".join(_COLUMNS)
        with self._using() as db, db:
            db.execute(
                f"INSERT INTO set_aside ({columns}, reason) "
                f"SELECT {columns}, ? FROM responses WHERE key = ?",
                (reason, key),
            )
            db.execute("DELETE FROM responses WHERE key = ?", (key,))

    def entries(self) -> list[CacheEntry]:
        """Every readable entry, ordered by document and key (for export)."""
        with self._using() as db:
            keys = [key for (key,) in db.execute("SELECT key FROM responses ORDER BY doc_id, key")]
        return [entry for key in keys if (entry := self.get(key)) is not None]

    def __len__(self) -> int:
        with self._using() as db:
            return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
