"""Crash safety and concurrent runs, with real `dealx extract` processes: a kill -9 halfway
leaves an intact cache and only whole record files, and a rerun finishes just the rest; two
processes sharing one cache both finish, with one entry per key."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.store.cache import ResponseCache
from schemas.records import DocumentExtraction
from tests.dealx_process import (
    ANSWER,
    DealxProcess,
    dealx_env,
    extract_args,
    extract_in_process,
    fake_settings,
    run_dealx,
    write_docs,
)
from tests.fake_openai import FakeOpenAI, Reply


def integrity(cache: Path) -> str:
    with sqlite3.connect(cache) as db:
        return db.execute("PRAGMA integrity_check").fetchone()[0]


def cached_doc_ids(cache: Path) -> list[str]:
    with sqlite3.connect(cache) as db:
        return [doc_id for (doc_id,) in db.execute("SELECT doc_id FROM responses")]


def temp_files(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]


def whole_records(run_dir: Path) -> set[str]:
    """The ids of the record files, each checked to be a complete, valid record."""
    done = set()
    for path in (run_dir / "records").glob("*.json"):
        record = DocumentExtraction.model_validate_json(path.read_text(encoding="utf-8"))
        assert record.doc_id == path.stem
        done.add(record.doc_id)
    return done


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the run to make progress"
        time.sleep(0.02)


def test_kill_9_halfway_then_rerun_finishes_only_the_rest(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 20)
    run_dir, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    env = dealx_env(tmp_path)
    with FakeOpenAI(Reply(ANSWER), latency=0.3) as server:
        args = extract_args(
            server.base_url, tmp_path / "docs", out=run_dir, cache=cache, concurrency=2
        )
        process = DealxProcess(args, tmp_path, env)
        records = run_dir / "records"
        wait_for(lambda: records.is_dir() and len(list(records.glob("*.json"))) >= 6)
        process.kill()
        assert process.wait().returncode == -9
        asked = {doc_id: server.count(doc_id) for doc_id in ids}

        # What a kill -9 leaves: an intact cache, and only whole record files.
        assert integrity(cache) == "ok"
        done = whole_records(run_dir)
        cached = set(cached_doc_ids(cache))
        assert 6 <= len(done) < len(ids) and done <= cached

        rerun = run_dealx(args, tmp_path, env)

        assert rerun.returncode == 0, rerun.stderr
        for doc_id in ids:
            # An answer already recorded (as a record or in the cache) is not asked again; a
            # document whose request the kill cut off is asked once more.
            expected = asked[doc_id] + (doc_id not in cached)
            assert server.count(doc_id) == expected, doc_id
    assert whole_records(run_dir) == set(ids)
    assert temp_files(run_dir) == []
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["documents"]["skipped_already_done"] == len(done)
    assert manifest["cache_hits"] == len(cached - done)
    assert manifest["documents"]["records_in_run"] == len(ids)
    assert integrity(cache) == "ok" and sorted(cached_doc_ids(cache)) == ids


def test_two_processes_share_one_new_cache(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 30)
    cache = tmp_path / "shared" / "cache.sqlite"  # neither process finds it: both create it
    env = dealx_env(tmp_path)
    # The first 8 requests are held until all 8 are in flight: with 4 per process, that only
    # happens when both processes are extracting at the same time (else the wait times out and
    # the server answers 500, failing the run).
    together = threading.Barrier(8, timeout=60)

    def held_until_both_run(body: dict[str, Any], index: int) -> Reply:
        if index < 8:
            together.wait()
        return Reply(ANSWER)

    with FakeOpenAI(held_until_both_run, latency=0.05) as server:
        processes = [
            DealxProcess(
                extract_args(
                    server.base_url,
                    tmp_path / "docs",
                    out=tmp_path / name,
                    cache=cache,
                    concurrency=4,
                ),
                tmp_path,
                env,
            )
            for name in ("run-a", "run-b")
        ]
        results = [process.wait() for process in processes]
        asked = server.count()
        assert server.errors == [] and server.peak_in_flight >= 8
    for result in results:
        assert result.returncode == 0, result.stderr
    # Some documents may be asked by both (a race, not an error); none by neither.
    assert len(ids) <= asked <= 2 * len(ids)
    runs = [tmp_path / "run-a", tmp_path / "run-b"]
    for run_dir in runs:
        assert whole_records(run_dir) == set(ids)
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["cache_hits"] + manifest["cache_misses"] == len(ids)
    for doc_id in ids:
        a, b = ((run / "records" / f"{doc_id}.json").read_text() for run in runs)
        assert a == b
    assert integrity(cache) == "ok"
    with sqlite3.connect(cache) as db:
        rows, keys = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM responses").fetchone()
        per_doc = dict(db.execute("SELECT doc_id, COUNT(*) FROM responses GROUP BY doc_id"))
    assert rows == keys == len(ids)
    assert per_doc == dict.fromkeys(ids, 1)


def test_opening_a_new_cache_waits_for_a_writer_instead_of_failing(tmp_path: Path) -> None:
    """SQLite refuses the switch to WAL at once, busy timeout or not, while another connection
    writes; a second process creating the same cache at that moment must wait, not fail."""
    path = tmp_path / "cache.sqlite"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (x)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite3.connect(path, timeout=5).execute("PRAGMA journal_mode=WAL")
    release = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    release.start()
    try:
        with ResponseCache(path) as cache:
            assert len(cache) == 0
            mode = cache._db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        release.join()
        writer.close()
    assert mode == "wal"


def test_stale_temp_files_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    run_dir = tmp_path / "run"
    (run_dir / "records").mkdir(parents=True)
    dead_pid = _exited_pid()
    stale = [
        run_dir / "records" / f".doc-0000.json.{dead_pid}.0123abcd.tmp",
        run_dir / f".manifest.json.{dead_pid}.4567ef01.tmp",
    ]
    live = run_dir / "records" / f".doc-0001.json.{os.getpid()}.89abcdef.tmp"
    for path in [*stale, live]:
        path.write_text('{"doc_id": "doc-00')  # half a record
    with FakeOpenAI(Reply(ANSWER)) as server:
        extract_in_process(fake_settings(server.base_url, tmp_path), run_dir)
    assert temp_files(run_dir) == [live]  # a live writer's file is not ours to delete
    assert whole_records(run_dir) == {"doc-0000", "doc-0001"}


def _exited_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid
