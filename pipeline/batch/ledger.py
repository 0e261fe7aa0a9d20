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
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class Ledger:
    """The ledger of one run directory (created on first use)."""

    def __init__(self, run_dir: Path) -> None:
        self.folder = run_dir / "batch"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "ledger.sqlite"
        # One thread at a time, but not always the one that opened it (run_sync may run the
        # engine on a thread of its own).
        self.db = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    @staticmethod
    def exists(run_dir: Path) -> bool:
        return (run_dir / "batch" / "ledger.sqlite").is_file()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
