"""Resuming a run whose files were damaged (cut short, emptied, replaced by something of
another kind): a record that does not read back is redone, a damaged log or table is read as
far as it goes, something in the way stops the run with one line before any work, and the
spend of earlier invocations is never silently forgotten."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pipeline.runner as runner
from pipeline.runner import RunSpend, point_latest, rejected_counts, run_spend
from pipeline.store.run_dir import append_jsonl
from schemas.errors import EXIT_USAGE, BudgetExceeded, InputError
from schemas.records import DocumentExtraction
from tests.dealx_process import (
    ANSWER,
    dealx_env,
    extract_args,
    extract_folder,
    finished_folder,
    read_manifest,
    run_dealx,
    write_docs,
)
from tests.fake_openai import FakeOpenAI, Reply

pytestmark = pytest.mark.usefixtures("no_real_key")

IDS = ["doc-0000", "doc-0001", "doc-0002"]
DAMAGED = "doc-0001"
# What every answer of the first run costs: large, so that a budget can tell an earlier
# spend that was counted from one that was forgotten.
USAGE = {"prompt_tokens": 40_000, "completion_tokens": 10_000, "total_tokens": 50_000}


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
    """A copy of the finished run (docs, cache and run directory) to damage."""
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
    return tmp_path


def record_file(work: Path, doc_id: str = DAMAGED) -> Path:
    return work / "run" / "records" / f"{doc_id}.json"


def table_doc_ids(work: Path, name: str) -> list[str]:
    with (work / "run" / name).open(encoding="utf-8", newline="") as table:
        return [row["doc_id"] for row in csv.DictReader(table)]


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def wrong_typed(path: Path) -> None:
    record = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**record, "companies": "abc"}), encoding="utf-8")


def another_documents(path: Path) -> None:
    shutil.copyfile(record_file(path.parent.parent.parent, "doc-0000"), path)


def link_loop(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.with_name("loop.json"))
    path.with_name("loop.json").symlink_to(path.name)


def fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


DAMAGES: dict[str, Callable[[Path], None]] = {
    "cut short": cut_short,
    "empty": lambda path: path.write_bytes(b""),
    "null": lambda path: path.write_text("null"),
    "a list": lambda path: path.write_text("[]"),
    "not UTF-8": lambda path: path.write_bytes(b'{"doc_id": "\xff"}'),
    "wrong-typed field": wrong_typed,
    "another document's record": another_documents,
    "a link loop": link_loop,
    "a FIFO": fifo,
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_record_that_does_not_read_back_is_extracted_again(
    work: Path, damage: Callable[[Path], None], server: FakeOpenAI
) -> None:
    damage(record_file(work))
    manifest = extract_folder(work, server.base_url)
    assert manifest["documents"]["ok"] == 1 and manifest["documents"]["skipped_already_done"] == 2
    assert manifest["documents"]["records_in_run"] == len(IDS)
    rewritten = DocumentExtraction.model_validate_json(record_file(work).read_bytes())
    assert rewritten.doc_id == DAMAGED
    # The tables hold every document once: the skipped ones from their records, read once.
    assert table_doc_ids(work, "deals.csv") == IDS
    assert manifest["records"] == {"companies": 6, "people": 0, "deals": 3}
    assert manifest["support"]["deal"]["records"] == 3
    # And the next rerun finds everything done.
    assert extract_folder(work, server.base_url)["documents"]["skipped_already_done"] == len(IDS)


def test_each_done_record_is_read_once(
    work: Path, monkeypatch: pytest.MonkeyPatch, server: FakeOpenAI
) -> None:
    reads: list[str] = []
    read_record = runner.read_record

    def counting(run_dir: Path, doc_id: str) -> DocumentExtraction | None:
        reads.append(doc_id)
        return read_record(run_dir, doc_id)

    monkeypatch.setattr(runner, "read_record", counting)
    manifest = extract_folder(work, server.base_url)
    assert sorted(reads) == IDS
    assert manifest["records"]["deals"] == 3 and table_doc_ids(work, "companies.csv") == [
        doc_id for doc_id in IDS for _ in range(2)
    ]


def test_a_folder_where_a_record_goes_fails_that_document_alone(
    work: Path, server: FakeOpenAI
) -> None:
    path = record_file(work)
    path.unlink()
    path.mkdir()
    manifest = extract_folder(work, server.base_url)
    assert (
        manifest["documents"]["failed"] == 1 and manifest["documents"]["skipped_already_done"] == 2
    )
    assert manifest["failed"][DAMAGED].startswith(f"{path}: a folder where the record goes")
    [error] = (work / "run" / "errors.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(error)["doc_id"] == DAMAGED
    assert table_doc_ids(work, "deals.csv") == ["doc-0000", "doc-0002"]
    assert path.is_dir()


def test_damaged_lines_of_rejected_jsonl_are_not_counted(tmp_path: Path) -> None:
    value = {"doc_id": "a", "record_type": "deal", "index": 0, "action": "dropped"}
    record = {**value, "action": "flagged", "level": "record"}
    lines = [
        json.dumps({**value, "level": "value"}).encode(),
        json.dumps(record).encode(),
        json.dumps(record).encode(),  # repeated by a rerun after a crash
        b"garbage",
        b"[]",
        b'{"level": "record", "action": "dropped", "index": [0]}',
        b'{"level": "value", "action": "ignored"}',
        b"\xff",
        json.dumps({**value, "level": "value"}).encode()[:-40],  # cut short, no line end
    ]
    path = tmp_path / "rejected.jsonl"
    path.write_bytes(b"\n".join(lines))
    assert rejected_counts(path) == {
        "records_dropped": 0,
        "records_flagged": 1,
        "values_dropped": 1,
        "values_flagged": 0,
    }
    # A line appended after the cut one starts a line of its own, and counts.
    append_jsonl(path, [{**value, "doc_id": "b", "level": "value"}])
    *_, cut, appended = path.read_bytes().splitlines()
    assert cut == lines[-1] and json.loads(appended)["doc_id"] == "b"
    assert rejected_counts(path)["values_dropped"] == 2


def test_append_jsonl_adds_no_blank_line(tmp_path: Path) -> None:
    path = tmp_path / "errors.jsonl"
    append_jsonl(path, [{"doc_id": "a"}])
    append_jsonl(path, [{"doc_id": "b"}])
    assert path.read_text(encoding="utf-8") == '{"doc_id": "a"}\n{"doc_id": "b"}\n'


def test_a_run_with_a_damaged_rejected_jsonl_resumes(work: Path, server: FakeOpenAI) -> None:
    finding = {"doc_id": "doc-0000", "record_type": "deal", "index": 0, "level": "value"}
    lines = [json.dumps({**finding, "action": "flagged"}), "[]", "\udcff", '{"doc_id": "doc-0']
    (work / "run" / "rejected.jsonl").write_bytes(
        "\n".join(lines).encode("utf-8", "surrogateescape")
    )
    manifest = extract_folder(work, server.base_url)
    assert manifest["rejected"]["values_flagged"] == 1
    assert manifest["documents"]["skipped_already_done"] == len(IDS)


def test_documents_csv_that_is_not_utf8_is_read_with_replacements(
    work: Path, server: FakeOpenAI
) -> None:
    path = work / "run" / "documents.csv"
    path.write_bytes(path.read_bytes().replace(b"doc-0002,ok", b"doc-0002\xff,ok"))
    extract_folder(work, server.base_url)
    assert table_doc_ids(work, "documents.csv") == [*IDS[:2], "doc-0002\N{REPLACEMENT CHARACTER}"]


def test_documents_csv_without_its_doc_id_column_is_rewritten(
    work: Path, server: FakeOpenAI
) -> None:
    path = work / "run" / "documents.csv"
    path.write_bytes(b"garbage\n\xff\n")
    manifest = extract_folder(work, server.base_url)
    assert manifest["documents"]["skipped_already_done"] == len(IDS)
    assert path.read_text(encoding="utf-8") == "\n"


def test_wrong_typed_inputs_of_an_earlier_manifest_are_ignored(
    work: Path, server: FakeOpenAI
) -> None:
    path = work / "run" / "manifest.json"
    earlier = json.loads(path.read_text(encoding="utf-8"))
    for inputs in ("x", ["doc-0000"], 3):
        path.write_text(json.dumps({**earlier, "inputs": inputs}), encoding="utf-8")
        assert extract_folder(work, server.base_url)["inputs"] == {}
    kept = earlier["inputs"]["doc-0002"]
    entries = {"doc-0000": 5, "doc-0001": {"path": [1], "sha256": None}, "doc-0002": kept}
    path.write_text(json.dumps({**earlier, "inputs": entries}), encoding="utf-8")
    assert extract_folder(work, server.base_url)["inputs"] == {"doc-0002": kept}


@pytest.mark.parametrize(
    ("name", "make", "problem"),
    [
        ("manifest.json", Path.mkdir, "not a regular file, where the run writes its manifest"),
        ("manifest.json", os.mkfifo, "not a regular file, where the run writes its manifest"),
        ("documents.csv", Path.mkdir, "not a regular file, where the run writes its documents"),
        ("deals.csv", Path.mkdir, "not a regular file, where the run writes its deals.csv"),
        ("records", Path.touch, "not a folder, where the run writes its records"),
        ("candidates", Path.touch, "not a folder, where the run writes its candidates"),
    ],
)
def test_something_in_the_way_stops_the_run_before_any_document(
    work: Path, name: str, make: Callable[[Path], None], problem: str, server: FakeOpenAI
) -> None:
    path = work / "run" / name
    if path.is_dir():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    make(path)
    write_docs(work / "docs", 1, prefix="new")
    with pytest.raises(InputError, match=f"^{re.escape(f'{path}: {problem}')}"):
        extract_folder(work, server.base_url)
    assert not record_file(work, "new-0000").exists()


def test_the_command_names_what_is_in_the_way_in_one_line(work: Path) -> None:
    path = work / "run" / "manifest.json"
    path.unlink()
    path.mkdir()
    args = extract_args(
        "http://127.0.0.1:9/v1", work / "docs", out=work / "run", cache=work / "cache.sqlite"
    )
    result = run_dealx([*args, "--cache-mode", "replay"], env=dealx_env(work))
    assert result.returncode == EXIT_USAGE, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"dealx: error: {path}: not a regular file, where the run writes its manifest.json; "
        "move it away"
    ]


def documents_spend(work: Path) -> RunSpend:
    with (work / "run" / "documents.csv").open(encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table))
    columns = ("tokens_in", "tokens_out", "batch_tokens_in", "batch_tokens_out")
    return RunSpend(*(sum(int(row[column]) for row in rows) for column in columns))


@pytest.mark.parametrize("damage", [b"", b'{"model": "openai/fake-m', b"[]", b'{"run": 5}'])
def test_a_damaged_manifest_s_spend_is_rebuilt_from_documents_csv(
    work: Path, damage: bytes, server: FakeOpenAI
) -> None:
    earlier = read_manifest(work / "run")["run"]
    (work / "run" / "manifest.json").write_bytes(damage)
    rebuilt = run_spend(work / "run")
    assert rebuilt == documents_spend(work)
    assert rebuilt.spend(None).tokens == earlier["tokens_in"] + earlier["tokens_out"] > 0
    # The rewritten manifest sums the earlier invocations' spend and this one's (none).
    assert extract_folder(work, server.base_url)["run"] == earlier


def test_a_budget_counts_the_rebuilt_spend(work: Path, server: FakeOpenAI) -> None:
    spent = read_manifest(work / "run")["run"]
    (work / "run" / "manifest.json").write_bytes(b"")
    write_docs(work / "docs", 1, prefix="new")
    asked = len(server.chat_requests)
    # What was spent uses up the budget; forgotten, the new article would fit.
    with pytest.raises(BudgetExceeded):
        extract_folder(
            work, server.base_url, budget_tokens=spent["tokens_in"] + spent["tokens_out"]
        )
    assert len(server.chat_requests) == asked
    assert read_manifest(work / "run")["run"] == spent


def test_an_unknown_earlier_spend_stops_the_run(work: Path, server: FakeOpenAI) -> None:
    (work / "run" / "manifest.json").write_bytes(b"{")
    (work / "run" / "documents.csv").write_bytes(b"doc_id,status\n")
    write_docs(work / "docs", 1, prefix="new")
    with pytest.raises(InputError, match="what the run spent so far is unknown; restore it"):
        extract_folder(work, server.base_url)
    assert not record_file(work, "new-0000").exists()
    (work / "run" / "documents.csv").unlink()
    with pytest.raises(InputError, match=r"manifest\.json: cannot be read, nor documents\.csv"):
        extract_folder(work, server.base_url)


def test_a_missing_manifest_counts_no_earlier_spend(work: Path, server: FakeOpenAI) -> None:
    (work / "run" / "manifest.json").unlink()
    assert run_spend(work / "run") == RunSpend()
    assert extract_folder(work, server.base_url)["run"]["tokens_in"] == 0


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_runs_latest_is_replaced_only_when_it_is_a_symlink(tmp_path: Path, kind: str) -> None:
    runs = tmp_path / "runs"
    (runs / "one").mkdir(parents=True)
    latest = runs / "latest"
    if kind == "folder":
        latest.mkdir()
        (latest / "mine.txt").write_text("mine")
    else:
        latest.write_text("mine")
    point_latest(runs / "one", runs)
    assert not latest.is_symlink()
    assert (latest / "mine.txt" if kind == "folder" else latest).read_text() == "mine"
    assert sorted(path.name for path in runs.iterdir()) == ["latest", "one"]


def test_runs_latest_link_moves_to_the_new_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    (runs / "one").mkdir(parents=True)
    (runs / "two").mkdir()
    point_latest(runs / "one", runs)
    point_latest(runs / "two", runs)
    assert (runs / "latest").readlink() == Path("two")
    assert sorted(path.name for path in runs.iterdir()) == ["latest", "one", "two"]


def test_a_run_ends_normally_with_a_folder_at_runs_latest(work: Path, server: FakeOpenAI) -> None:
    (work / "latest").mkdir()
    manifest = extract_folder(work, server.base_url, runs_dir=work)
    assert manifest["documents"]["skipped_already_done"] == len(IDS)
    assert (work / "latest").is_dir() and not (work / "latest").is_symlink()
    assert not list(work.glob(".latest.*"))


def test_a_cache_path_that_is_not_utf8_is_written_escaped(work: Path, server: FakeOpenAI) -> None:
    cache = work / os.fsdecode(b"c\xff.sqlite")
    shutil.copyfile(work / "cache.sqlite", cache)
    manifest = extract_folder(work, server.base_url, cache=cache)
    assert manifest["cache"] == f"{work}/c\\xff.sqlite"
    assert read_manifest(work / "run")["cache"] == manifest["cache"]
