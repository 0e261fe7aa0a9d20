"""What a run keeps of each document until it writes its tables and manifest (the rows of the
CSV tables and of documents.csv, and the input's path and hash), held in a temporary SQLite
database rather than in memory, so that a run's memory does not grow with its documents."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

# Rows read back at a time when the tables are written.
CHUNK_ROWS = 2000
# Documents added before they are moved into the database together.
PENDING_DOCUMENTS = 256
_SCHEMA = """
CREATE TABLE table_rows (seq INTEGER PRIMARY KEY, name TEXT, doc_id TEXT, row TEXT);
CREATE TABLE document_rows (seq INTEGER PRIMARY KEY, earlier INTEGER, doc_id TEXT, row TEXT);
CREATE TABLE inputs (doc_id TEXT PRIMARY KEY, path TEXT, sha256 TEXT);
CREATE TABLE schemas (sha256 TEXT PRIMARY KEY);
"""


class RowSpool:
    """Rows in arrival order, read back in document order (ids compared by code point, as
    Python compares strings; within a document, in the order they came).

    One thread at a time may use it, not necessarily the one that made it."""

    def __init__(self) -> None:
        # "": SQLite's private temporary database; it stays in SQLite's bounded page cache
        # while small, moves to a file in TMPDIR as it grows, and is deleted on close.
        self._db = sqlite3.connect("", check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")  # nothing to recover: it dies with the run
        self._db.executescript(_SCHEMA)
        # documents.csv's columns, in the order they were first seen.
        self._document_columns: dict[str, None] = {}
        # Documents not yet in the database: one transaction per document cost half of what
        # the spool costs a run.
        self._pending = 0
        self._pending_rows: list[tuple[str, str, str]] = []
        self._pending_documents: list[tuple[str, str]] = []
        self._pending_inputs: list[tuple[str, str | None, str | None]] = []
        self._pending_schemas: list[tuple[str]] = []

    def close(self) -> None:
        """Drop the database (and its file)."""
        self._db.close()

    def add_document(
        self,
        doc_id: str,
        tables: dict[str, list[tuple[Any, ...]]],
        document_row: dict[str, Any] | None = None,
        path: str | None = None,
        sha256: str | None = None,
        schemas: Iterable[str] = (),
    ) -> None:
        """One document: its rows of each table, its documents.csv row, its input, and the
        hashes of the response schemas its requests used."""
        for name, rows in tables.items():
            self._pending_rows.extend((name, doc_id, json.dumps(row)) for row in rows)
        if document_row is not None:
            self._document_columns.update(dict.fromkeys(document_row))
            self._pending_documents.append((doc_id, json.dumps(document_row)))
        if path is not None or sha256 is not None:
            self._pending_inputs.append((doc_id, path, sha256))
        self._pending_schemas.extend((schema,) for schema in schemas)
        self._pending += 1
        if self._pending >= PENDING_DOCUMENTS:
            self._flush()

    def _flush(self) -> None:
        """Move the pending documents into the database, in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT INTO table_rows (name, doc_id, row) VALUES (?, ?, ?)", self._pending_rows
            )
            self._db.executemany(
                "INSERT INTO document_rows (earlier, doc_id, row) VALUES (0, ?, ?)",
                self._pending_documents,
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO inputs VALUES (?, ?, ?)", self._pending_inputs
            )
            self._db.executemany("INSERT OR IGNORE INTO schemas VALUES (?)", self._pending_schemas)
        self._pending_schemas.clear()
        self._pending_rows.clear()
        self._pending_documents.clear()
        self._pending_inputs.clear()
        self._pending = 0

    def add_earlier_documents(self, columns: list[str], rows: Iterable[dict[str, str]]) -> None:
        """documents.csv rows an earlier invocation wrote (as text), kept for the documents
        this one has no row of; their columns come first."""
        self._document_columns = dict.fromkeys([*columns, *self._document_columns])
        self._flush()
        with self._db:
            self._db.executemany(
                "INSERT INTO document_rows (earlier, doc_id, row) VALUES (1, ?, ?)",
                ((row["doc_id"], json.dumps(row)) for row in rows),
            )

    def table_rows(self, name: str) -> Iterator[list[Any]]:
        """The rows of one table, in document order."""
        self._flush()
        cursor = self._db.execute(
            "SELECT row FROM table_rows WHERE name = ? ORDER BY doc_id, seq", (name,)
        )
        while chunk := cursor.fetchmany(CHUNK_ROWS):
            yield from (json.loads(row) for (row,) in chunk)

    def count_rows(self, name: str) -> int:
        """How many rows one table has."""
        self._flush()
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM table_rows WHERE name = ?", (name,)
        ).fetchone()
        return int(count)

    @property
    def document_columns(self) -> list[str]:
        """documents.csv's columns: an earlier invocation's, then any new ones."""
        return list(self._document_columns)

    def document_rows(self) -> Iterator[dict[str, Any]]:
        """documents.csv's rows in document order: this invocation's, and an earlier one's for
        the documents this one did not touch."""
        self._flush()
        cursor = self._db.execute(
            "SELECT row FROM document_rows WHERE earlier = 0 OR doc_id NOT IN "
            "(SELECT doc_id FROM document_rows WHERE earlier = 0) ORDER BY doc_id, seq"
        )
        while chunk := cursor.fetchmany(CHUNK_ROWS):
            yield from (json.loads(row) for (row,) in chunk)

    def schemas(self) -> Iterator[str]:
        """The distinct schema hashes, sorted."""
        self._flush()
        for (schema,) in self._db.execute("SELECT sha256 FROM schemas ORDER BY sha256"):
            yield schema

    def inputs(self) -> dict[str, dict[str, str | None]]:
        """Each document's input path and text hash, by document id."""
        self._flush()
        return {
            doc_id: {"path": path, "sha256": sha256}
            for doc_id, path, sha256 in self._db.execute("SELECT * FROM inputs ORDER BY doc_id")
        }
