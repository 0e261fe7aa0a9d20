"""The one-line error for a SQLite file dealx keeps (the response cache, a run's batch ledger)
that SQLite cannot use."""

from __future__ import annotations

import sqlite3
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
