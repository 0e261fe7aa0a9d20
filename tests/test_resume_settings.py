"""Resuming a run directory: with other settings than it was extracted with it stops before any
document; damaged run files (nested past Python's stack, stray bytes in documents.csv) are
read like any other damage; and a document extracted again replaces its earlier findings."""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.runner import RunSpend, run_spend
from pipeline.store.run_files import read_errors
from schemas.errors import EXIT_USAGE, InputError
from tests.dealx_process import (
    ANSWER,
    dealx_env,
    extract_args,
    extract_folder,
    finished_folder,
    read_manifest,
    run_dealx,
)
from tests.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.usefixtures("no_real_key")

IDS = ["doc-0000", "doc-0001", "doc-0002"]
REDONE = "doc-0001"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}
# JSON nested deeper than Python's stack: json.loads raises RecursionError, not ValueError.
NESTED = b"[" * 100_000 + b"]" * 100_000


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    """One fake server for the module: its URL is part of the cache keys."""
    with FakeOpenAI(Reply(ANSWER, usage=USAGE)) as fake:
        yield fake


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, server: FakeOpenAI) -> Path:
    """A folder with docs/ (three articles), cache.sqlite answering them, and run/ finished."""
    return finished_folder(tmp_path_factory.mktemp("finished"), server.base_url, len(IDS))


@pytest.fixture
def work(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished run with the record of REDONE deleted, so a rerun has work."""
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
    record(tmp_path).unlink()
    return tmp_path


def record(work: Path, doc_id: str = REDONE) -> Path:
    return work / "run" / "records" / f"{doc_id}.json"


@pytest.mark.parametrize(
    ("overrides", "difference"),
    [
        ({"model": "openai/other-model"}, "model openai/fake-model, not openai/other-model"),
        (
            {"strategy": "constrained"},
            "strategy plain, not constrained, and prompt extract_v2, not constrained_v2",
        ),
        ({"prompt": "constrained_v2"}, "prompt extract_v2, not constrained_v2"),
        ({"grounding": "flag"}, "grounding strict, not flag"),
    ],
    ids=["model", "strategy", "prompt", "grounding"],
)
def test_other_settings_stop_the_run_before_any_document(
    work: Path, server: FakeOpenAI, overrides: dict[str, object], difference: str
) -> None:
    manifest = (work / "run" / "manifest.json").read_bytes()
    asked = len(server.chat_requests)
    expected = (
        f"{work / 'run'}: extracted with {difference}; "
        "rerun with the same settings to resume, or choose another --out"
    )
    with pytest.raises(InputError, match=f"^{re.escape(expected)}$"):
        extract_folder(work, server.base_url, **overrides)
    assert len(server.chat_requests) == asked
    assert not record(work).exists()
    assert (work / "run" / "manifest.json").read_bytes() == manifest


def test_a_prompt_whose_text_changed_stops_the_run(work: Path, server: FakeOpenAI) -> None:
    path = work / "run" / "manifest.json"
    manifest = read_manifest(work / "run")
    now = manifest["prompt_sha256"]
    path.write_text(json.dumps({**manifest, "prompt_sha256": "0" * 64}), encoding="utf-8")
    with pytest.raises(InputError, match=f"prompt_sha256 000000000000, not {now[:12]};"):
        extract_folder(work, server.base_url)
    assert not record(work).exists()


def test_settings_that_do_not_change_the_records_may_change(work: Path, server: FakeOpenAI) -> None:
    manifest = extract_folder(work, server.base_url, concurrency=1, cache_mode="replay")
    assert manifest["documents"]["ok"] == 1
    assert manifest["documents"]["skipped_already_done"] == 2
    assert (manifest["concurrency"], manifest["cache_mode"]) == (1, "replay")


@pytest.mark.parametrize("damage", [NESTED, b'{"model": 5, "strategy": null}', b"[]"])
def test_a_manifest_that_says_no_settings_is_not_compared(
    work: Path, server: FakeOpenAI, damage: bytes
) -> None:
    (work / "run" / "manifest.json").write_bytes(damage)
    # Unreadable (nested past the stack included), its spend comes from documents.csv.
    assert run_spend(work / "run") == RunSpend(len(IDS) * 1000, len(IDS) * 100)
    manifest = extract_folder(work, server.base_url, model="openai/other-model")
    assert manifest["model"] == "openai/other-model" and manifest["documents"]["ok"] == 1


def test_the_command_says_so_in_one_line(work: Path, server: FakeOpenAI) -> None:
    args = extract_args(
        server.base_url, work / "docs", out=work / "run", cache=work / "cache.sqlite"
    )
    args[args.index("openai/fake-model")] = "openai/other-model"
    result = run_dealx(args, env=dealx_env(work))
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"dealx: error: {work / 'run'}: extracted with model openai/fake-model, not "
        "openai/other-model; rerun with the same settings to resume, or choose another --out"
    ]
    assert not record(work).exists()


def test_an_errors_line_nested_past_the_stack_is_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "errors.jsonl"
    path.write_bytes(b'{"doc_id": "a", "reason": "x"}\n' + NESTED + b"\n")
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}:2: expected"):
        read_errors(path)


def test_stray_bytes_in_documents_csv_make_no_row(work: Path, server: FakeOpenAI) -> None:
    path = work / "run" / "documents.csv"
    with path.open("ab") as table:
        table.write(b"\xff\xfe\n../x," + b"0," * 12 + b"0\n")
    extract_folder(work, server.base_url)
    with path.open(encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table))
    assert [row["doc_id"] for row in rows] == IDS
    assert all(row["status"] == "ok" for row in rows)


def finding(doc_id: str, index: int) -> dict[str, object]:
    return {
        "doc_id": doc_id,
        "record_type": "deal",
        "index": index,
        "level": "value",
        "action": "flagged",
    }


def test_a_document_extracted_again_replaces_its_findings(work: Path, server: FakeOpenAI) -> None:
    path = work / "run" / "rejected.jsonl"
    # The earlier extraction of REDONE had two findings; the new one has none (ANSWER is
    # grounded). A done document's finding stays, as does a line that is no finding.
    kept = [json.dumps(finding(IDS[0], 0)), "not a finding"]
    stale = [json.dumps(finding(REDONE, 0)), json.dumps(finding(REDONE, 1))]
    path.write_text("\n".join([kept[0], *stale, kept[1]]) + "\n", encoding="utf-8")
    manifest = extract_folder(work, server.base_url)
    assert manifest["documents"]["ok"] == 1
    assert path.read_text(encoding="utf-8").splitlines() == kept
    assert manifest["rejected"]["values_flagged"] == 1
    # Nothing to extract again: the file is not rewritten.
    before = path.stat()
    assert extract_folder(work, server.base_url)["rejected"]["values_flagged"] == 1
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
