"""One writer per run directory: an exclusive lock on RUN_DIR/.lock, held for the whole run.

Two `dealx extract` processes on the same --out would each ask the model for every document
neither had finished, paying for every call twice, and race on the tables and the manifest.
The lock is `flock`: the kernel drops it when its holder exits or is killed, so a crashed
run never leaves a stale lock behind, and the file itself can stay.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schemas.errors import InputError

LOCK_NAME = ".lock"


@contextmanager
def run_dir_lock(run_dir: Path) -> Iterator[None]:
    """Create RUN_DIR and hold its lock until the block ends; InputError when another process
    (or another run in this one) holds it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            by = f" (pid {holder})" if holder.isdigit() else ""
            raise InputError(
                f"{run_dir}: another dealx extract is writing this run directory{by}; "
                "wait for it to finish or choose another --out"
            ) from None
        # The holder's pid, only for the message above; the lock is the flock, not the text.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
