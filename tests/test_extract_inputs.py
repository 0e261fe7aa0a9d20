"""What `dealx extract` and `dealx cache` accept: an article on standard input, file names with
spaces and non-ASCII letters, a folder whose name is not UTF-8, and refusals of a zero --limit,
a missing cache file and a missing export folder, each with its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.extraction.documents import check_doc_id
from schemas.errors import EXIT_USAGE, InputError
from tests.dealx_process import (
    ANSWER,
    REPO,
    article,
    dealx_env,
    extract_args,
    run_dealx,
)
from tests.fake_openai import FakeOpenAI, Reply


def test_extract_dash_reads_one_article_from_stdin(tmp_path: Path) -> None:
    run_dir, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    with FakeOpenAI(Reply(ANSWER)) as server:
        args = extract_args(server.base_url, Path("-"), out=run_dir, cache=cache)
        for doc_id, extra in (("stdin", []), ("note-1", ["--id", "note-1"])):
            result = subprocess.run(
                [sys.executable, "-m", "pipeline", *map(str, args), *extra],
                input=article(doc_id).encode("utf-8"),
                capture_output=True,
                cwd=tmp_path,
                env=dealx_env(tmp_path),
                timeout=120,
            )
            assert result.returncode == 0, result.stderr.decode()
            record = json.loads((run_dir / "records" / f"{doc_id}.json").read_text())
            assert [c["name"] for c in record["companies"]] == ["Meta", "Scale AI"]
        assert server.count() == 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["inputs"]["note-1"]["path"] is None  # no file, but the text's hash
    assert len(manifest["inputs"]["note-1"]["sha256"]) == 64


def test_unreadable_stdin_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "extract", "-", "--out", str(tmp_path / "run")],
        input=b"",
        capture_output=True,
        cwd=REPO,
        env=dealx_env(tmp_path),
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.decode().strip() == "dealx: error: <stdin>: empty file"


def test_file_names_with_spaces_and_accents_are_their_ids(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    names = ["Meta invests — über Scale", "日本語の記事", "deal (2) [draft]"]
    for name in names:
        (docs / f"{name}.txt").write_text(article(name), encoding="utf-8")
    run_dir = tmp_path / "run"
    with FakeOpenAI(Reply(ANSWER)) as server:
        args = extract_args(server.base_url, docs, out=run_dir, cache=tmp_path / "c.sqlite")
        result = run_dealx(args, tmp_path, dealx_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.stem for p in (run_dir / "records").glob("*.json")) == sorted(names)
    # The same ids find their gold files: each record scores as right.
    gold = tmp_path / "gold"
    gold.mkdir()
    for name in names:
        record = json.loads((run_dir / "records" / f"{name}.json").read_text())
        record.pop("support", None)
        (gold / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")
    scored = run_dealx(["eval", run_dir, "--gold", gold, "--format", "json"])
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["overall"]["f1"] == 1.0


def test_a_folder_name_that_is_not_utf8_is_recorded_escaped(tmp_path: Path) -> None:
    # Python keeps the byte 0xff of a file name as a lone surrogate, which no UTF-8 manifest
    # can hold: the run used to end in a UnicodeEncodeError after writing every record.
    docs = Path(os.fsdecode(os.fsencode(tmp_path) + b"/docs-\xff"))
    docs.mkdir()
    (docs / "a.txt").write_text(article("a"), encoding="utf-8")
    run_dir = tmp_path / "run"
    with FakeOpenAI(Reply(ANSWER)) as server:
        args = extract_args(server.base_url, docs, out=run_dir, cache=tmp_path / "c.sqlite")
        result = run_dealx(args, tmp_path, dealx_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (run_dir / "records" / "a.json").is_file()
    recorded = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))["inputs"]
    assert recorded["a"]["path"] == f"{tmp_path.resolve()}/docs-\\xff/a.txt"
    assert "a" in (run_dir / "documents.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "doc_id",
    ["a/b", "..", "x..y", ".hidden", "a:b", "tab\there", "new\nline", " padded", "é" * 101],
)
def test_ids_that_cannot_be_file_names_are_refused(doc_id: str) -> None:
    with pytest.raises(InputError, match="unsafe document id"):
        check_doc_id(doc_id, "src")


def test_limit_must_be_at_least_one(tmp_path: Path) -> None:
    result = run_dealx(["extract", "--limit", "0", "--out", tmp_path / "run"])
    assert result.returncode == EXIT_USAGE
    assert "Invalid value for '--limit'" in result.stderr
    from_env = run_dealx(
        ["extract", "--out", tmp_path / "run"], env=dealx_env(tmp_path, DEALX_LIMIT="0")
    )
    assert from_env.returncode == EXIT_USAGE
    assert "dealx: error: limit: must be at least 1, got 0" in from_env.stderr
    assert not (tmp_path / "run").exists()


def test_a_mistyped_cache_is_an_error_not_a_new_database(tmp_path: Path) -> None:
    missing = tmp_path / "cahce.sqlite"
    exported = run_dealx(["cache", "export", tmp_path / "out", "--cache", missing])
    assert exported.returncode == EXIT_USAGE
    assert f"dealx: error: {missing}: no such cache file (check --cache)" in exported.stderr
    replayed = run_dealx(
        ["extract", "--cache-mode", "replay", "--cache", missing, "--out", tmp_path / "run"]
    )
    assert replayed.returncode == EXIT_USAGE
    assert f"{missing}: no such cache file" in replayed.stderr
    assert not missing.exists() and not (tmp_path / "out").exists()
    assert not (tmp_path / "run").exists()


def test_cache_export_needs_a_folder_and_import_counts_new_entries(tmp_path: Path) -> None:
    no_folder = run_dealx(["cache", "export"])
    assert no_folder.returncode == EXIT_USAGE
    assert "Missing argument 'FOLDER'" in no_folder.stderr
    cache = tmp_path / "cache.sqlite"
    fixtures = REPO / "tests" / "fixtures" / "responses"
    total = len(list(fixtures.glob("*.json")))
    first = run_dealx(["cache", "import", fixtures, "--cache", cache])
    assert first.returncode == 0, first.stderr
    assert f"imported {total} entries from {fixtures}: {total} new, 0 already" in first.stdout
    again = run_dealx(["cache", "import", fixtures, "--cache", cache])
    assert f": 0 new, {total} already in the cache" in again.stdout
