"""Damaged files where the eval and the consolidation read a run or a gold folder: a folder, a
link in a loop or a FIFO where a file belongs, an errors.jsonl that is not UTF-8 or holds no
object, manifest fields of the wrong type, an article path that names a device. Each is one
line naming the file (exit 2), or a failed document, never a traceback or a hang."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from eval.gold import load_gold_dir, parse_gold_file, validate_gold_dir
from eval.load import load_gold, load_run
from eval.report import recorded_articles, write_report
from eval.runs import list_runs
from pipeline.consolidation import consolidate
from pipeline.store.run_files import read_errors
from schemas.errors import InputError
from tests.dealx_process import Dealx, write_json

FACT = "Meta invests in Scale AI."
EVIDENCE = [{"quote": FACT, "start": 0, "end": len(FACT)}]
RECORD = {
    "companies": [{"name": "Meta", "evidence": EVIDENCE}],
    "deals": [
        {
            "deal_type": "investment",
            "parties": [
                {"name": "Meta", "role": "investor"},
                {"name": "Scale AI", "role": "target"},
            ],
            "evidence": EVIDENCE,
        }
    ],
}


def as_folder(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.mkdir()


def as_loop(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to(path.name)


def as_fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


DAMAGE: dict[str, Callable[[Path], None]] = {"folder": as_folder, "loop": as_loop}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run of documents a and b, their articles in its manifest, and gold for both."""
    run = tmp_path / "run"
    (tmp_path / "seeds").mkdir()
    inputs = {}
    for doc_id in ("a", "b"):
        write_json(run / "records" / f"{doc_id}.json", {"doc_id": doc_id, **RECORD})
        write_json(tmp_path / "gold" / f"{doc_id}.json", {"doc_id": doc_id, **RECORD})
        article = tmp_path / "seeds" / f"{doc_id}.txt"
        article.write_text(FACT + "\n", encoding="utf-8")
        inputs[doc_id] = {"path": str(article)}
    (run / "errors.jsonl").write_text("", encoding="utf-8")
    write_json(run / "manifest.json", {"model": "m", "inputs": inputs})
    return run


def set_manifest(run_dir: Path, fields: dict[str, object]) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    write_json(run_dir / "manifest.json", manifest | fields)


@pytest.mark.parametrize("damage", [*DAMAGE.values(), as_fifo], ids=[*DAMAGE, "fifo"])
def test_a_record_file_that_cannot_be_read_is_a_failed_document(
    run: Path, damage: Callable[[Path], None]
) -> None:
    damage(run / "records" / "a.json")
    loaded = load_run(run)
    assert set(loaded.predictions) == {"b"}
    assert loaded.failures["a"].startswith("record file not read (")
    consolidation = consolidate(run)
    assert consolidation.documents == ["b"]
    assert "record file not read" in consolidation.failures["a"]


@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE)
def test_a_gold_file_that_cannot_be_read_is_a_gold_problem(
    run: Path, damage: Callable[[Path], None]
) -> None:
    gold = run.parent / "gold"
    damage(gold / "a.json")
    _, [problem] = parse_gold_file(gold / "a.json")
    assert (problem.field, problem.message[:12]) == ("(file)", "cannot read ")
    with pytest.raises(InputError, match=r"gold/a\.json: \(file\): cannot read "):
        load_gold(gold)
    assert str(problem) in map(str, validate_gold_dir(gold, run.parent / "seeds"))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"\xff", r"errors\.jsonl:2: not UTF-8 \(byte 0\)"),
        (b"[]", r"errors\.jsonl:2: expected \{'doc_id'"),
        (b'"str"', r"errors\.jsonl:2: expected \{'doc_id'"),
    ],
)
def test_eval_and_consolidation_refuse_a_bad_errors_line_alike(
    run: Path, line: bytes, message: str
) -> None:
    (run / "errors.jsonl").write_bytes(b'{"doc_id": "c", "reason": "HTTP 503"}\n' + line + b"\n")
    with pytest.raises(InputError, match=message):
        read_errors(run / "errors.jsonl")
    with pytest.raises(InputError, match=message):
        load_run(run)
    with pytest.raises(InputError, match=message):
        consolidate(run)
    row = list_runs(run.parent, None).set_index("run").loc["run"]
    assert "errors.jsonl:2: " in row["problem"]


@pytest.mark.parametrize("make", [Path.mkdir, os.mkfifo], ids=["a folder", "a FIFO"])
def test_an_errors_file_of_the_wrong_kind_is_refused_not_read_as_empty(
    run: Path, make: Callable[[Path], None]
) -> None:
    (run / "errors.jsonl").unlink(missing_ok=True)
    make(run / "errors.jsonl")
    message = r"errors\.jsonl: cannot read \(not a regular file\)"
    with pytest.raises(InputError, match=message):
        load_run(run)
    with pytest.raises(InputError, match=message):
        consolidate(run)


@pytest.mark.parametrize(
    "inputs", ["x", {"a": {"path": 5}}, {"a": ["x"]}, {"a": {"path": "a\0b"}}, 3]
)
def test_manifest_inputs_of_the_wrong_type_are_ignored(
    run: Path, inputs: object, tmp_path: Path
) -> None:
    set_manifest(run, {"inputs": inputs})
    assert "a" not in recorded_articles(load_run(run))
    consolidation = consolidate(run)
    assert consolidation.documents == ["a", "b"]
    assert any("no article text" in note for note in consolidation.notes)
    page = write_report(run, load_gold(tmp_path / "gold"), tmp_path / "r.html").read_text()
    assert "article text not found (no input path in the manifest" in page


def test_an_article_path_that_is_a_device_is_not_read(run: Path, tmp_path: Path) -> None:
    set_manifest(run, {"inputs": {"a": {"path": "/dev/zero"}, "b": {"path": "/dev/null"}}})
    consolidation = consolidate(run)
    assert consolidation.failures == {
        "a": "article not read: /dev/zero: not a regular file",
        "b": "article not read: /dev/null: not a regular file",
    }
    page = write_report(run, load_gold(tmp_path / "gold"), tmp_path / "r.html").read_text()
    assert "/dev/zero: not a regular file" in page


def test_the_article_sha256_is_still_checked(run: Path, tmp_path: Path) -> None:
    article = tmp_path / "seeds" / "a.txt"
    set_manifest(run, {"inputs": {"a": {"path": str(article), "sha256": "0" * 64}}})
    page = write_report(run, load_gold(tmp_path / "gold"), tmp_path / "r.html").read_text()
    assert f"{article} changed since the run" in page


def test_runs_lists_a_run_whose_manifest_fields_have_the_wrong_type(run: Path) -> None:
    wrong = {"run": 3, "model": ["m"], "started_at": 5, "tokens_in": "x", "cost_usd": "free"}
    set_manifest(run, wrong)
    row = list_runs(run.parent, None).set_index("run").loc["run"]
    assert (row["docs"], row["failed"]) == (2, 0)
    assert row[["model", "started_at", "tokens", "cost_usd"]].isna().all()
    set_manifest(run, {"run": {"tokens_in": 3, "tokens_out": 4, "cost_usd": 0.5}})
    row = list_runs(run.parent, None).set_index("run").loc["run"]
    assert (row["tokens"], row["cost_usd"]) == (7, 0.5)


def test_a_path_that_is_no_gold_folder_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    for folder in (tmp_path / "file", tmp_path / "nowhere"):
        with pytest.raises(InputError, match=f"{folder}: no such gold folder"):
            load_gold_dir(folder)


def test_summary_of_a_path_that_is_no_folder_exits_2(dealx: Dealx) -> None:
    result = dealx("summary", "/etc/passwd")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "dealx: error: /etc/passwd: no such gold folder\n"


def test_consolidate_of_a_bad_errors_line_exits_2(run: Path, dealx: Dealx) -> None:
    (run / "errors.jsonl").write_text("[]\n", encoding="utf-8")
    result = dealx("consolidate", run)
    assert result.returncode == 2
    assert result.stderr == (
        f"dealx: error: {run}/errors.jsonl:1: expected {{'doc_id': ..., 'reason': ...}}\n"
    )


def test_consolidate_exits_1_when_an_article_cannot_be_read(
    run: Path, tmp_path: Path, dealx: Dealx
) -> None:
    seeds = tmp_path / "seeds"
    (seeds / "a.txt").write_text(FACT, encoding="utf-16")
    as_folder(seeds / "b.txt")
    result = dealx("consolidate", run, "--seeds", seeds)
    assert result.returncode == 1
    assert f"dealx: a: left out: article not read: {seeds}/a.txt: UTF-16 text" in result.stderr
    assert f"dealx: b: left out: article not read: {seeds}/b.txt: not a regular" in result.stderr
    (seeds / "b.txt").rmdir()  # the path the manifest recorded is gone
    consolidation = consolidate(run)
    assert consolidation.failures["b"].startswith(f"article not read: {seeds}/b.txt: cannot read")
