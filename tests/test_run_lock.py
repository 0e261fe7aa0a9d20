"""One writer per run directory, and a Ctrl-C that leaves a resumable run: real `dealx extract`
processes against the fake server."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from pipeline.store.run_lock import run_dir_lock
from schemas.errors import EXIT_INTERRUPTED, EXIT_USAGE, InputError
from tests.dealx_process import (
    ANSWER,
    DealxProcess,
    dealx_env,
    extract_args,
    run_dealx,
    write_docs,
)
from tests.fake_openai import FakeOpenAI, Reply
from tests.test_crash_safety import wait_for, whole_records


def test_the_lock_refuses_a_second_holder_and_is_released(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    refused = pytest.raises(InputError, match=f"pid {os.getpid()}")
    with run_dir_lock(run_dir), refused, run_dir_lock(run_dir):
        pass
    with run_dir_lock(run_dir):  # released at the end of the block
        pass


def test_a_second_extract_on_the_same_out_refuses(tmp_path: Path) -> None:
    # 30 documents one at a time, 0.4 s each: the first run is still going when the second
    # process (a second of start-up) asks for the lock.
    ids = write_docs(tmp_path / "docs", 30)
    run_dir, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    env = dealx_env(tmp_path)
    with FakeOpenAI(Reply(ANSWER), latency=0.4) as server:
        args = extract_args(
            server.base_url, tmp_path / "docs", out=run_dir, cache=cache, concurrency=1
        )
        first = DealxProcess(args, tmp_path, env)
        wait_for(lambda: (run_dir / "records").is_dir() and server.count() >= 1)
        second = run_dealx(args, tmp_path, env)
        assert second.returncode == EXIT_USAGE
        assert f"{run_dir}: another dealx extract is writing this run directory" in second.stderr
        assert "choose another --out" in second.stderr
        assert first.wait().returncode == 0
        # Each document was asked for once: the refused run asked nothing.
        assert all(server.count(doc_id) == 1 for doc_id in ids)
    assert whole_records(run_dir) == set(ids)


def test_ctrl_c_writes_a_partial_run_that_a_rerun_resumes(tmp_path: Path) -> None:
    # 30 documents, two at a time, 0.3 s each: 4.5 s to go when the Ctrl-C comes after the
    # third, so a loaded machine that is slow to deliver it still interrupts the run.
    ids = write_docs(tmp_path / "docs", 30)
    runs, cache = tmp_path / "runs", tmp_path / "cache.sqlite"
    runs.mkdir()
    (runs / "earlier").mkdir()
    (runs / "latest").symlink_to("earlier")
    run_dir = runs / "run"
    env = dealx_env(tmp_path, DEALX_RUNS_DIR=str(runs))
    with FakeOpenAI(Reply(ANSWER), latency=0.3) as server:
        args = extract_args(
            server.base_url, tmp_path / "docs", out=run_dir, cache=cache, concurrency=2
        )
        process = DealxProcess(args, tmp_path, env)
        records = run_dir / "records"
        wait_for(lambda: records.is_dir() and len(list(records.glob("*.json"))) >= 3)
        process.process.send_signal(signal.SIGINT)
        interrupted = process.wait()

        assert interrupted.returncode == EXIT_INTERRUPTED
        assert "dealx: interrupted; rerun the same command to resume" in interrupted.stderr
        assert "Traceback" not in interrupted.stderr
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["interrupted"] is True
        done = whole_records(run_dir)
        assert 3 <= manifest["documents"]["ok"] == len(done) < len(ids)
        # The partial run does not become runs/latest.
        assert (runs / "latest").readlink() == Path("earlier")

        rerun = run_dealx(args, tmp_path, env)
    assert rerun.returncode == 0, rerun.stderr
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["interrupted"] is False
    assert manifest["documents"]["skipped_already_done"] == len(done)
    assert whole_records(run_dir) == set(ids)
    assert (runs / "latest").readlink() == Path("run")
