"""The batch ledger: RUN_DIR/batch/ledger.sqlite, where every request of a batch run is
accounted for, on disk (so memory stays flat however many requests a run sends).

Each request (`custom_id` = its cache key) has one status:
  pending    written to an input file, not yet part of a created batch
  submitted  in a batch the provider is running
  answered   its answer is downloaded, not yet validated
  ok         answered and valid (via batch, live or cache: already in the cache)
  failed     in the error file (or its batch failed or was cancelled), with the reason
  expired    the batch expired before it ran (error code batch_expired); retryable
  invalid    the answer did not validate against the request's schema
  missing    its batch ended and it is in neither the output nor the error file
A document is done when all its requests are ok. Each change is one SQLite transaction, so
an interrupted command leaves the ledger as it was before that step.

A ledger file that SQLite cannot read, or whose tables are not a ledger's, is an InputError
naming it, raised before anything is written to it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.store.sqlite_files import database_error, missing_columns, table_columns
from schemas.errors import InputError

STATUSES = (
    "pending",
    "submitted",
    "answered",
    "ok",
    "failed",
    "expired",
    "invalid",
    "missing",
)
# What a request can end as once its batch is over; all but ok can be retried.
RETRYABLE = ("failed", "expired", "invalid", "missing")
WAITING = ("pending", "submitted", "answered")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    part INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    requests INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    input_file_id TEXT,
    batch_id TEXT,
    status TEXT,
    output_file_id TEXT,
    error_file_id TEXT,
    collected INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS docs (
    doc_id TEXT PRIMARY KEY,
    path TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS requests (
    custom_id TEXT PRIMARY KEY,
    part INTEGER,
    status TEXT NOT NULL,
    via TEXT,
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    estimate_in INTEGER NOT NULL DEFAULT 0,
    estimate_out INTEGER NOT NULL DEFAULT 0,
    answer TEXT
);
CREATE TABLE IF NOT EXISTS doc_requests (
    doc_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    PRIMARY KEY (doc_id, custom_id)
);
CREATE INDEX IF NOT EXISTS requests_by_status ON requests (status);
CREATE INDEX IF NOT EXISTS requests_by_part ON requests (part, status);
CREATE INDEX IF NOT EXISTS docs_of_request ON doc_requests (custom_id);
"""


@dataclass(frozen=True)
class Part:
    """One input file of the run and the provider batch that runs it."""

    part: int
    path: str
    requests: int
    bytes: int
    input_file_id: str | None
    batch_id: str | None
    status: str | None
    output_file_id: str | None
    error_file_id: str | None
    collected: bool


def _tables(db: sqlite3.Connection) -> list[str]:
    """The file's tables, SQLite's own (sqlite_sequence, sqlite_stat1) left out."""
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' "
        "ESCAPE '!' ORDER BY name"
    )
    return [name for (name,) in rows]


def _schema_layout() -> dict[str, tuple[str, ...]]:
    """The columns of each table of a ledger, read from _SCHEMA itself."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(_SCHEMA)
        return {table: table_columns(db, table) for table in _tables(db)}
    finally:
        db.close()


_LAYOUT = _schema_layout()
LEDGER_FILE = "ledger.sqlite"
BUSY_TIMEOUT_S = 60.0


def _layout_problem(db: sqlite3.Connection) -> str | None:
    """How the file's tables differ from a ledger's, or None. A file with none of them (new,
    or interrupted while they were created) is a ledger still to be filled in; a table of
    another name is another program's, and the file is left to it."""
    for table in _tables(db):
        if table not in _LAYOUT:
            return f"it has a table {table!r}, which a ledger has not"
        if (problem := missing_columns(db, table, _LAYOUT[table])) is not None:
            return problem
    return None


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to the ledger file at `path`, its tables checked before anything is
    written to it; read-only (and never creating the file) with `read_only`."""
    try:
        if read_only:
            db = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S
            )
        else:
            # One thread at a time, but not always the one that opened it (run_sync may run
            # the engine on a thread of its own).
            db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        try:
            if (problem := _layout_problem(db)) is not None:
                raise InputError(f"{path}: not a dealx batch ledger ({problem})")
        except BaseException:
            db.close()
            raise
    except sqlite3.DatabaseError as exc:
        raise database_error(path, exc, "batch ledger") from exc
    return db


def _records_a_batch(db: sqlite3.Connection) -> bool:
    """Whether the ledger holds a batch run's settings, its first record."""
    if "meta" not in _tables(db):
        return False
    return db.execute("SELECT 1 FROM meta WHERE key = 'settings'").fetchone() is not None


def _unrecorded_inputs(folder: Path) -> str | None:
    """The input files a batch folder holds, said in a line, when its ledger records no batch:
    they were written for a batch that may have been submitted (the ledger lost or emptied
    since), so its requests may be running at the provider; None when there are none."""
    inputs = sorted(path.name for path in folder.glob("input-*.jsonl"))
    if not inputs:
        return None
    more = f" and {len(inputs) - 1} more" if len(inputs) > 1 else ""
    return (
        f"{folder / inputs[0]}{more} of a batch that {folder / LEDGER_FILE} does not record "
        "may still be running at the provider"
    )


def _refuse_unrecorded(folder: Path) -> None:
    if (unrecorded := _unrecorded_inputs(folder)) is not None:
        raise InputError(
            f"{unrecorded}; nothing is submitted again (it could be paid twice): cancel that "
            "batch at the provider if need be, and use another --out"
        )


class Ledger:
    """The ledger of one run directory. SQLite's errors in a `with Ledger(...)` block become
    InputErrors naming the ledger."""

    def __init__(self, run_dir: Path, *, create: bool = True) -> None:
        """Open the ledger of `run_dir`, made if need be, but never while the batch folder
        holds input files that it does not record; with create=False (the commands on a
        submitted batch) it must exist and record a batch."""
        self.folder = run_dir / "batch"
        self.path = self.folder / LEDGER_FILE
        if create:
            self.folder.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                _refuse_unrecorded(self.folder)
        elif not self.path.is_file():
            raise InputError(
                f"{run_dir}: not a batch run (no batch/{LEDGER_FILE}); see dealx extract --batch"
            )
        self.db = _connect(self.path, read_only=False)
        try:
            if not _records_a_batch(self.db):
                if not create:
                    raise InputError(f"{self.path}: not a dealx batch ledger (it records no batch)")
                _refuse_unrecorded(self.folder)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except BaseException as exc:
            self.db.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise database_error(self.path, exc, "batch ledger") from exc
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        self.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise database_error(self.path, exc, "batch ledger") from exc

    # -- meta -----------------------------------------------------------------------------

    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO meta VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    # -- parts ----------------------------------------------------------------------------

    def parts(self) -> list[Part]:
        rows = self.db.execute(f"SELECT {', '.join(Part.__dataclass_fields__)} FROM parts")
        return [Part(*row[:-1], bool(row[-1])) for row in rows]

    def next_part(self) -> int:
        (highest,) = self.db.execute("SELECT MAX(part) FROM parts").fetchone()
        return 0 if highest is None else highest + 1

    def update_part(self, part: int, **values: Any) -> None:
        sets = ", ".join(f"{name} = ?" for name in values)
        with self.db:
            self.db.execute(f"UPDATE parts SET {sets} WHERE part = ?", [*values.values(), part])

    def mark_submitted(self, part: int, batch_id: str) -> None:
        """The part's batch exists: record its id and move its requests to submitted."""
        with self.db:
            self.db.execute(
                "UPDATE parts SET batch_id = ?, status = 'validating' WHERE part = ?",
                (batch_id, part),
            )
            self.db.execute(
                "UPDATE requests SET status = 'submitted', attempts = attempts + 1 "
                "WHERE part = ? AND status = 'pending'",
                (part,),
            )

    # -- requests -------------------------------------------------------------------------

    def status_counts(self) -> dict[str, int]:
        """Requests by status (every status listed, zeros included)."""
        counts = dict.fromkeys(STATUSES, 0)
        for status, count in self.db.execute(
            "SELECT status, COUNT(*) FROM requests GROUP BY status"
        ):
            counts[status] = count
        return counts

    def tokens(self) -> tuple[int, int]:
        """Prompt and completion tokens of every batch answer received (valid or not)."""
        row = self.db.execute("SELECT SUM(tokens_in), SUM(tokens_out) FROM requests").fetchone()
        return row[0] or 0, row[1] or 0

    def estimate(self, statuses: Iterable[str] = ("pending",)) -> tuple[int, int]:
        """The estimated prompt and completion tokens of the requests in `statuses`."""
        wanted = tuple(statuses)
        marks = ", ".join("?" for _ in wanted)
        row = self.db.execute(
            f"SELECT SUM(estimate_in), SUM(estimate_out) FROM requests WHERE status IN ({marks})",
            wanted,
        ).fetchone()
        return row[0] or 0, row[1] or 0

    def doc_ids_with(self, statuses: Iterable[str]) -> list[str]:
        """Documents that have a request in one of `statuses`."""
        wanted = tuple(statuses)
        marks = ", ".join("?" for _ in wanted)
        rows = self.db.execute(
            "SELECT DISTINCT d.doc_id FROM doc_requests d JOIN requests r USING (custom_id) "
            f"WHERE r.status IN ({marks}) ORDER BY d.doc_id",
            wanted,
        )
        return [doc_id for (doc_id,) in rows]

    def docs(self) -> Iterator[tuple[str, str | None, str | None]]:
        """(doc_id, path, error) of every document of the run, in id order."""
        yield from self.db.execute("SELECT doc_id, path, error FROM docs ORDER BY doc_id")

    def doc_path(self, doc_id: str) -> str | None:
        row = self.db.execute("SELECT path FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None

    def doc_requests(self, doc_id: str) -> list[tuple[str, str, str | None, int, int]]:
        """(custom_id, status, reason, tokens_in, tokens_out) of each request of a document."""
        return self.db.execute(
            "SELECT custom_id, status, reason, tokens_in, tokens_out FROM requests "
            "JOIN doc_requests USING (custom_id) WHERE doc_id = ? ORDER BY custom_id",
            (doc_id,),
        ).fetchall()

    def answers(self, doc_id: str) -> dict[str, tuple[str, str | None]]:
        """The downloaded, not yet validated answers of a document's requests: the body (as
        JSON text) and the id of the batch that returned it, by custom_id; one query a
        document, not one an answer."""
        rows = self.db.execute(
            "SELECT r.custom_id, r.answer, p.batch_id FROM doc_requests d "
            "JOIN requests r USING (custom_id) LEFT JOIN parts p USING (part) "
            "WHERE d.doc_id = ? AND r.status = 'answered'",
            (doc_id,),
        )
        return {custom_id: (answer, batch_id) for custom_id, answer, batch_id in rows}

    def settle(self, updates: Iterable[tuple[str, str, str | None, str | None]]) -> None:
        """Set (custom_id, status, via, reason) of answered requests; drops the stored answer."""
        with self.db:
            self.db.executemany(
                "UPDATE requests SET status = ?, via = ?, reason = ?, answer = NULL "
                "WHERE custom_id = ?",
                [(status, via, reason, custom_id) for custom_id, status, via, reason in updates],
            )

    def requeue(self, statuses: Iterable[str]) -> int:
        """Put requests in `statuses` back to pending (for a follow-up batch); returns how
        many. They get a part when the next input files are written."""
        wanted = tuple(statuses)
        marks = ", ".join("?" for _ in wanted)
        with self.db:
            cursor = self.db.execute(
                f"UPDATE requests SET status = 'pending', part = NULL, reason = NULL "
                f"WHERE status IN ({marks})",
                wanted,
            )
        return cursor.rowcount


def unfinished_batch(run_dir: Path) -> str | None:
    """Whether `run_dir` has a batch whose requests have not all ended, in a short line (e.g.
    "3 request(s) of batch batch_abc not collected yet"), or None. Counted are the requests
    submitted in a batch that is running or whose results are not yet read, and those uploaded
    for a batch whose creation was not recorded; input files that no ledger records count too.
    Reads the ledger read-only and never creates it; a damaged ledger is an InputError."""
    folder = run_dir / "batch"
    path = folder / LEDGER_FILE
    if not path.is_file():
        return _unrecorded_inputs(folder) if folder.is_dir() else None
    db = _connect(path, read_only=True)
    try:
        if not _records_a_batch(db):
            return _unrecorded_inputs(folder)
        rows = db.execute(
            "SELECT p.batch_id, p.path, COUNT(*) FROM requests r JOIN parts p USING (part) "
            "WHERE r.status = 'submitted' "
            "OR (r.status = 'pending' AND p.input_file_id IS NOT NULL) "
            "GROUP BY p.part ORDER BY p.part"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise database_error(path, exc, "batch ledger") from exc
    finally:
        db.close()
    if not rows:
        return None
    batch_id, input_path, count = rows[0]
    first = (
        f"{count} request(s) of batch {batch_id} not collected yet"
        if batch_id is not None
        else f"{count} request(s) uploaded from {folder / input_path}, their batch not recorded"
    )
    return first + (f" (and {len(rows) - 1} more batch(es))" if len(rows) > 1 else "")
