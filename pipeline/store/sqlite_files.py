"""What the SQLite files dealx keeps (the response cache, a run's batch ledger) share: the check
that a file's table has the columns dealx reads, and the one-line error for a file SQLite cannot
use."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from schemas.errors import InputError


def database_error(path: Path, exc: sqlite3.DatabaseError, kind: str) -> InputError:
    """InputError naming `path` and what SQLite found, for a file of `kind` ("cache", "batch
    ledger"): damaged pages, a file that is not a database, or (an OperationalError) one it
    cannot open, lock or write."""
    code = getattr(exc, "sqlite_errorcode", None)
    # The low byte is the primary code; SQLITE_CORRUPT_INDEX and the like are damage too.
    if code is not None and code & 0xFF == sqlite3.SQLITE_CORRUPT:
        return InputError(f"{path}: the {kind} is damaged ({exc})")
    if isinstance(exc, sqlite3.OperationalError):
        return InputError(f"{path}: cannot use the {kind} ({exc})")
    return InputError(f"{path}: not a dealx {kind} ({exc})")


def table_columns(db: sqlite3.Connection, table: str) -> tuple[str, ...]:
    """The columns of `table` in the file; none when it has no such table."""
    return tuple(name for (name,) in db.execute("SELECT name FROM pragma_table_info(?)", (table,)))


def missing_columns(db: sqlite3.Connection, table: str, columns: Sequence[str]) -> str | None:
    """How `table` falls short of `columns`, in a few words ("table parts has no column part and
    9 more"), or None when it has them all or is not in the file."""
    found = table_columns(db, table)
    if found and (missing := [column for column in columns if column not in found]):
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return f"table {table} has no column {missing[0]}{more}"
    return None
