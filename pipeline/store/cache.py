"""The content-addressed response cache: SQLite in WAL mode, one row per validated answer.

instructor's own `cache=` hook stores only the parsed model and the raw completion and has no
replay-only mode, so dealx keeps its own store around the instructor call: keys still come from
instructor's make_cache_key (see pipeline.extraction.request), and each row adds provenance
(token usage, latency, the model the server reported, re-asks). Values are JSON, never pickles.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    def from_json(cls, data: dict[str, Any]) -> CacheEntry:
        """Read an exported entry; a missing or unknown field is a KeyError/TypeError."""
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


class ResponseCache:
    """SQLite-backed store of CacheEntry rows, safe for concurrent processes (WAL, busy timeout)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        """Open the cache at `path`; with create=False a missing file is an InputError (a
        mistyped --cache for replay or export must not silently be a new, empty cache)."""
        self.path = path
        if not create and not path.is_file():
            raise InputError(f"{path}: no such cache file (check --cache)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            _enable_wal(self._db)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:
            raise InputError(f"{path}: cannot open the cache ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{path}: not a dealx cache ({exc})") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection (the WAL is checkpointed by SQLite)."""
        self._db.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get(self, key: str) -> CacheEntry | None:
        """The entry for `key`, or None; an unreadable row is set aside and counts as a miss."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM responses WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        values = dict(zip(_COLUMNS, row, strict=True))
        try:
            for column in _JSON_COLUMNS:
                values[column] = json.loads(values[column])
            return CacheEntry(**values)
        except (json.JSONDecodeError, TypeError) as exc:
            self._set_aside(key, f"unreadable entry: {exc}")
            return None

    def get_answer(self, key: str) -> CachedAnswer | None:
        """Just the answer for `key` (the hot path of a replay: no request or raw response is
        parsed); an unreadable row is set aside and counts as a miss."""
        with self._lock:
            row = self._db.execute(_SELECT_ANSWER, (key,)).fetchone()
        if row is None:
            return None
        record, *rest = row
        try:
            return CachedAnswer(json.loads(record), *rest)
        except json.JSONDecodeError as exc:
            self._set_aside(key, f"unreadable entry: {exc}")
            return None

    def __contains__(self, key: object) -> bool:
        """Whether an entry for `key` is stored."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM responses WHERE key = ?", (key,)).fetchone()
        return row is not None

    def put(self, entry: CacheEntry) -> None:
        """Store (or overwrite) an entry; one row per key however many writers race."""
        self.put_rows([row_of(entry)])

    def put_rows(self, rows: list[tuple[Any, ...]]) -> None:
        """Store (or overwrite) entries, as `row_of` encodes them, in one transaction (a
        collected batch's answers)."""
        with self._lock, self._db:
            self._db.executemany(_UPSERT, rows)

    def _set_aside(self, key: str, reason: str) -> None:
        columns = ", ".join(_COLUMNS)
        with self._lock, self._db:
            self._db.execute(
                f"INSERT INTO set_aside ({columns}, reason) "
                f"SELECT {columns}, ? FROM responses WHERE key = ?",
                (reason, key),
            )
            self._db.execute("DELETE FROM responses WHERE key = ?", (key,))

    def entries(self) -> list[CacheEntry]:
        """Every readable entry, ordered by document and key (for export)."""
        with self._lock:
            keys = [
                key for (key,) in self._db.execute("SELECT key FROM responses ORDER BY doc_id, key")
            ]
        return [entry for key in keys if (entry := self.get(key)) is not None]

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
