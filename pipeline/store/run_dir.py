"""Write a run: records, errors, flat tables and the manifest, each file atomically; and read
back what an earlier invocation of it wrote, as far as it can be read."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import operator
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline.extraction.documents import check_doc_id, printable
from pipeline.store.row_spool import RowSpool
from pipeline.store.run_files import read_record_file
from schemas.errors import InputError
from schemas.records import DocumentExtraction, ValueSpan


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder plus rename, so no reader, and no rerun after a
    crash or kill -9, ever sees half a file. (No fsync: that guards against power loss, not
    process death, and costs milliseconds per record in a batch of thousands.) The folder
    must exist."""
    write_atomic_parts(path, [text])


def write_atomic_parts(path: Path, parts: Iterable[str]) -> None:
    """`write_atomic` of the concatenated parts, produced and written one at a time, so that a
    large file is never whole in memory."""
    # Plain os calls: a buffered text file adds an fstat, an isatty and a seek to the open,
    # write and close, and every system call lets go of the GIL and has to win it back.
    while True:
        number = next(_TEMP_NUMBERS) & 0xFFFFFFFF
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{number:08x}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue  # left by a killed process that had this pid
    try:
        try:
            for part in parts:
                data = part.encode("utf-8")
                written = 0
                while written < len(data):
                    written += os.write(fd, data[written:])
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# Temp file numbers, one per file from a random start (a random number per file cost a
# getrandom system call per record); a count is safe to share between threads.
_TEMP_NUMBERS = itertools.count(secrets.randbits(32))
_TEMP_FILE = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")


def remove_stale_temp_files(folder: Path) -> None:
    """Delete the temp files of write_atomic calls that a kill -9 cut short: the writer's pid is
    in the name, and a file whose writer is gone will never be renamed into place."""
    for path in folder.glob(".*.tmp"):
        match = _TEMP_FILE.match(path.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (PermissionError, OverflowError):
            continue  # alive under another user, or not a pid: leave it


def write_json(path: Path, data: Any) -> None:
    """Pretty, UTF-8, atomically written JSON."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def record_path(run_dir: Path, doc_id: str) -> Path:
    """Where a document's record lives; the id is checked so it cannot escape RUN_DIR."""
    check_doc_id(doc_id, run_dir)
    records = _records_dir(run_dir)
    path = records / f"{doc_id}.json"
    # check_doc_id already rules out separators and "..": this is the belt to its braces.
    if path.parent != records:
        raise ValueError(f"document id {doc_id!r} escapes {records}")
    return path


@functools.lru_cache(maxsize=64)
def _records_dir(run_dir: Path) -> Path:
    return (run_dir / "records").resolve()


def write_record(run_dir: Path, record: DocumentExtraction) -> None:
    """Write one document's extraction to RUN_DIR/records/<doc_id>.json."""
    # pydantic's serializer: json.dumps with indent falls back to the pure-Python encoder.
    write_atomic(record_path(run_dir, record.doc_id), record.model_dump_json(indent=2) + "\n")


def read_record(run_dir: Path, doc_id: str) -> DocumentExtraction | None:
    """The record of `doc_id` in RUN_DIR, or None when none reads back as a valid record of
    that document: missing, cut short, empty, not a record, a link to nowhere or in a loop."""
    try:
        path = record_path(run_dir, doc_id)
    except ValueError:
        return None
    return read_record_file(path)[0]


def record_in_the_way(run_dir: Path, doc_id: str) -> bool:
    """Whether a folder stands where the record of `doc_id` goes: a record cannot replace it
    (anything else there, a link included, is replaced when the record is written)."""
    path = record_path(run_dir, doc_id)
    return path.is_dir() and not path.is_symlink()


# The files (besides the tables) and the folders a run writes in RUN_DIR: something of
# another kind in their place would stop the run at its first write to it, perhaps after all
# its documents, or (a FIFO) hang it when read.
RUN_FILES = ("manifest.json", "documents.csv", "errors.jsonl", "rejected.jsonl")
RUN_FOLDERS = ("records", "candidates")


def check_run_layout(run_dir: Path) -> None:
    """InputError, naming the path, when anything but a regular file stands where the run
    writes a file (a folder named manifest.json) or anything but a folder where it writes a
    folder (a file named records)."""
    for name in [*RUN_FILES, *(f"{table}.csv" for table in TABLE_COLUMNS)]:
        path = run_dir / name
        if path.exists() and not path.is_file():
            raise InputError(
                f"{printable(str(path))}: not a regular file, where the run writes its {name}; "
                "move it away"
            )
    for name in RUN_FOLDERS:
        path = run_dir / name
        if (path.exists() or path.is_symlink()) and not path.is_dir():
            raise InputError(
                f"{printable(str(path))}: not a folder, where the run writes its {name}; "
                "move it away"
            )


def jsonl_text(rows: list[dict[str, Any]]) -> str:
    """Rows as JSON Lines: one compact UTF-8 object a line."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append lines in one write, so a crash or kill -9 of this process keeps what was already
    reported. (No fsync, as for write_atomic: the page cache outlives the process; fsync would
    add power-loss safety at about a millisecond a line.)"""
    if rows:
        with path.open("a+b") as handle:
            # A crash mid-append can cut the last line short: the new lines start on a line
            # of their own, so only that one line stays unreadable.
            end = handle.seek(0, os.SEEK_END)
            handle.seek(max(end - 1, 0))
            fresh = b"\n" if end and handle.read(1) != b"\n" else b""
            handle.write(fresh + jsonl_text(rows).encode("utf-8"))


TABLE_COLUMNS = {
    "companies": [
        "doc_id",
        "name",
        "aliases",
        "org_type",
        "founded_year",
        "headquarters",
        "evidence",
        "grounded",
        "spans",
    ],
    "people": ["doc_id", "name", "roles", "evidence", "grounded", "spans"],
    "deals": [
        "doc_id",
        "deal_type",
        "parties",
        "amount",
        "amount_currency",
        "amount_qualifier",
        "stake_percent",
        "valuation",
        "status",
        "date",
        "evidence",
        "grounded",
        "spans",
    ],
}


TableRows = dict[str, list[tuple[Any, ...]]]


def table_rows(record: DocumentExtraction) -> TableRows:
    """One document's rows of companies.csv, people.csv and deals.csv: plain values in
    TABLE_COLUMNS order, so a run can spool the rows of thousands of documents instead of
    their records."""
    doc_id = record.doc_id
    companies = [
        {
            "doc_id": doc_id,
            "name": company.name,
            "aliases": "; ".join(company.aliases),
            "org_type": company.org_type,
            "founded_year": company.founded_year,
            "headquarters": company.headquarters,
            "evidence": " | ".join(e.quote for e in company.evidence),
            "grounded": company.grounded,
            "spans": spans_cell(company.spans),
        }
        for company in record.companies
    ]
    people = [
        {
            "doc_id": doc_id,
            "name": person.name,
            "roles": "; ".join(
                f"{r.title} ({r.organization})" if r.organization else r.title for r in person.roles
            ),
            "evidence": " | ".join(e.quote for e in person.evidence),
            "grounded": person.grounded,
            "spans": spans_cell(person.spans),
        }
        for person in record.people
    ]
    deals = [
        {
            "doc_id": doc_id,
            "deal_type": deal.deal_type,
            "parties": "; ".join(f"{p.name} ({p.role})" for p in deal.parties),
            "amount": deal.amount.value if deal.amount else None,
            "amount_currency": deal.amount.currency if deal.amount else None,
            "amount_qualifier": deal.amount.qualifier if deal.amount else None,
            "stake_percent": deal.stake_percent,
            "valuation": deal.valuation.value if deal.valuation else None,
            "status": deal.status,
            "date": deal.date,
            "evidence": " | ".join(e.quote for e in deal.evidence),
            "grounded": deal.grounded,
            "spans": spans_cell(deal.spans),
        }
        for deal in record.deals
    ]
    rows = {"companies": companies, "people": people, "deals": deals}
    return {name: list(map(_ROW_TUPLE[name], items)) for name, items in rows.items()}


def spans_cell(spans: list[ValueSpan]) -> str:
    """The value spans of a record in one CSV cell: `field=start:end` each, `!` after a
    flagged one ("name=120:124; amount=300:311!")."""
    return "; ".join(f"{s.field}={s.start}:{s.end}{'' if s.grounded else '!'}" for s in spans)


# A table's row as a tuple in TABLE_COLUMNS order (every table has several columns, so
# itemgetter always returns a tuple).
_ROW_TUPLE = {name: operator.itemgetter(*columns) for name, columns in TABLE_COLUMNS.items()}
# Rows of a CSV file encoded and written at a time.
CSV_PART_ROWS = 2000


def csv_parts(columns: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """A CSV file as pandas' `to_csv(index=False)` writes one (minimal quoting, "\n" line
    ends, None empty, a float as its repr), a few thousand rows to a part. Unlike pandas, each
    cell is formatted on its own, not by a type inferred from the whole column (an integer
    column with a gap stays "2016", not "2016.0"), so a file written in parts is the same as
    one written at once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for number, row in enumerate(rows, 1):
        writer.writerow(row)
        if number % CSV_PART_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_tables(run_dir: Path, spool: RowSpool) -> dict[str, int]:
    """Write deals.csv, companies.csv and people.csv, rows in document order whatever order
    the documents finished in; returns each table's number of rows."""
    counts = {}
    for name, columns in TABLE_COLUMNS.items():
        write_atomic_parts(run_dir / f"{name}.csv", csv_parts(columns, spool.table_rows(name)))
        counts[name] = spool.count_rows(name)
    return counts


def write_document_table(run_dir: Path, spool: RowSpool) -> None:
    """documents.csv: per document, its status, cache hits, tokens, re-asks and transport
    retries; rows of documents this invocation did not touch are kept from earlier ones."""
    path = run_dir / "documents.csv"
    # An invocation that finished no document (a batch still running) wrote an empty table.
    if path.exists() and path.stat().st_size > 1:
        with read_document_table(run_dir) as (columns, rows):
            # Without its doc_id column, a damaged table cannot say which rows to keep.
            if "doc_id" in columns:
                spool.add_earlier_documents(columns, filter(_is_document_row, rows))
    columns = spool.document_columns
    if not columns:
        write_atomic(path, "\n")  # what pandas writes for a table without columns
        return
    rows = ([row.get(column) for column in columns] for row in spool.document_rows())
    write_atomic_parts(path, csv_parts(columns, rows))


def _is_document_row(row: dict[str, str]) -> bool:
    """Whether a row read back from documents.csv is a document's: it has every column, no
    more (dealx writes each row whole; a line of damage, such as stray bytes, is short), and
    its doc_id can be a document id."""
    if None in row or None in row.values():
        return False
    try:
        check_doc_id(row["doc_id"], "documents.csv")
    except InputError:
        return False
    return True


@contextmanager
def read_document_table(
    run_dir: Path,
) -> Iterator[tuple[list[str], Iterator[dict[str, str]]]]:
    """documents.csv as an earlier invocation wrote it: its columns, and its rows as text by
    column. A damaged table is read as far as it goes: bytes that are not UTF-8 become U+FFFD,
    and a line the csv module cannot parse ends the rows. OSError when it cannot be opened."""
    with (run_dir / "documents.csv").open(encoding="utf-8", errors="replace", newline="") as table:
        reader = csv.DictReader(table)
        try:
            columns = list(reader.fieldnames or [])
        except csv.Error:
            columns = []
        yield columns, _parsed_rows(reader)


def _parsed_rows(reader: csv.DictReader[str]) -> Iterator[dict[str, str]]:
    try:
        yield from reader
    except csv.Error:
        return
