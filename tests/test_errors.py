"""Each error type carries the exit code schemas/errors.py documents: a DocumentError fails one
document (the run goes on and exits 1); the others stop the command (2, or 3 for credentials)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.extraction.documents import UnreadableDocument
from pipeline.extraction.extractor import ReplayMiss
from pipeline.store.cache import ResponseCache
from schemas.errors import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_USAGE,
    AuthError,
    ConfigError,
    DealxError,
    DocumentError,
    InputError,
)
from tests.dealx_process import ANSWER, dealx_env, extract_args, run_dealx, write_docs
from tests.fake_openai import FakeOpenAI, Reply


@pytest.mark.parametrize(
    ("error", "exit_code"),
    [
        (ReplayMiss, EXIT_FAILED),
        (UnreadableDocument, EXIT_FAILED),
        (InputError, EXIT_USAGE),
        (ConfigError, EXIT_USAGE),
        (AuthError, EXIT_AUTH),
    ],
)
def test_each_error_type_has_its_documented_exit_code(
    error: type[DealxError], exit_code: int
) -> None:
    assert error.exit_code == exit_code
    # A failed document is no usage error: `except InputError` (stop the command) misses it.
    assert issubclass(error, DocumentError) == (exit_code == EXIT_FAILED)
    assert not (issubclass(error, DocumentError) and issubclass(error, InputError))


def test_a_replay_miss_fails_its_document_and_the_run_exits_1(tmp_path: Path) -> None:
    [doc_id] = write_docs(tmp_path / "docs", 1)
    run_dir = tmp_path / "run"
    ResponseCache(tmp_path / "empty.sqlite").close()  # a cache, without this answer
    with FakeOpenAI(Reply(ANSWER)) as server:
        args = extract_args(
            server.base_url,
            tmp_path / "docs",
            out=run_dir,
            cache=tmp_path / "empty.sqlite",
            cache_mode="replay",
        )
        result = run_dealx(args, tmp_path, dealx_env(tmp_path))
        assert server.count() == 0  # replay never calls the model

    assert result.returncode == EXIT_FAILED, result.stderr
    # Recorded as that document's failure, not reported as an error that stopped the command.
    assert "dealx: error:" not in result.stderr
    [error] = [json.loads(line) for line in (run_dir / "errors.jsonl").read_text().splitlines()]
    assert error["doc_id"] == doc_id
    assert error["reason"].startswith(f"{doc_id}: no recorded response in ")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["documents"]["failed"] == 1 and manifest["documents"]["ok"] == 0
