"""Hostile files where the eval, the gold checks, the consolidation and the gold drafts read: JSON
nested deeper than the parser goes, a record whose doc_id is not its file name, a damaged
candidates file, failed documents under `gold draft`, a folder for gold/consolidated.json. Each is
handled like its plain counterpart (invalid JSON, a failed document), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.gold import parse_gold_file, validate_gold_dir
from eval.gold_draft import write_gold_drafts
from eval.load import load_gold, load_run
from eval.runs import list_runs
from eval.scoring import evaluate
from pipeline.consolidation import consolidate
from schemas.errors import InputError
from tests.dealx_process import Dealx, write_json
from tests.test_eval_ceiling import make_run as make_constrained_run
from tests.test_eval_damaged import RECORD, as_folder, run

__all__ = ["run"]  # the fixture, shared with tests/test_eval_damaged.py

NESTED = "[" * 100_000 + "]" * 100_000


def test_a_deeply_nested_manifest_is_invalid_json(run: Path) -> None:
    for manifest in (NESTED, json.dumps({"model": "m"})[:-1] + f', "x": {NESTED}}}'):
        (run / "manifest.json").write_text(manifest, encoding="utf-8")
        with pytest.raises(InputError, match=r"manifest\.json: invalid JSON: nested too deeply$"):
            load_run(run)
        row = list_runs(run.parent, None).set_index("run").loc["run"]
        assert "manifest.json: invalid JSON: nested too deeply" in row["problem"]
        consolidation = consolidate(run)
        assert consolidation.documents == ["a", "b"]
        assert (
            f"{run}/manifest.json: invalid JSON: nested too deeply; article texts not read"
            in consolidation.notes
        )


def test_deeply_nested_gold_files_are_gold_problems(run: Path) -> None:
    gold = run.parent / "gold"
    (gold / "a.json").write_text(NESTED, encoding="utf-8")
    _, [problem] = parse_gold_file(gold / "a.json")
    assert str(problem) == f"{gold}/a.json: (file): invalid JSON: nested too deeply"
    assert str(problem) in map(str, validate_gold_dir(gold, run.parent / "seeds"))
    with pytest.raises(InputError, match=r"a\.json: \(file\): invalid JSON: nested too deeply"):
        load_gold(gold)
    write_json(gold / "a.json", {"doc_id": "a", **RECORD})
    (gold / "consolidated.json").write_text(NESTED, encoding="utf-8")
    problems = list(map(str, validate_gold_dir(gold, run.parent / "seeds")))
    assert problems == [f"{gold}/consolidated.json: (file): invalid JSON: nested too deeply"]


def test_a_consolidated_gold_that_is_a_folder_is_a_problem(run: Path) -> None:
    gold = run.parent / "gold"
    (gold / "consolidated.json").mkdir()
    problems = list(map(str, validate_gold_dir(gold, run.parent / "seeds")))
    assert problems == [f"{gold}/consolidated.json: (file): cannot read (not a regular file)"]


@pytest.mark.parametrize("doc_id", ["b", "../../escape"])
def test_consolidation_leaves_out_a_record_named_for_another_document(
    run: Path, doc_id: str
) -> None:
    write_json(run / "records" / "a.json", {"doc_id": doc_id, **RECORD})
    reason = f"record file doc_id {doc_id!r} differs from its file name"
    assert load_run(run).failures["a"] == reason
    consolidation = consolidate(run)
    assert consolidation.documents == ["b"]
    assert consolidation.failures == {"a": f"{run}/records/a.json: {reason}"}


def test_consolidate_exits_1_for_a_record_named_for_another_document(
    run: Path, dealx: Dealx
) -> None:
    write_json(run / "records" / "a.json", {"doc_id": "b", **RECORD})
    result = dealx("consolidate", run)
    assert result.returncode == 1
    assert f"dealx: a: left out: {run}/records/a.json: record file doc_id 'b' differs" in (
        result.stderr
    )
    assert result.stdout.startswith("1 document(s): ")


@pytest.mark.parametrize("damage", ["cut", "folder", "nested"])
def test_a_damaged_candidates_file_leaves_its_document_out_of_the_ceiling(
    tmp_path: Path, damage: str
) -> None:
    run_dir, gold_dir = make_constrained_run(tmp_path)
    path = run_dir / "candidates" / "d1.json"
    if damage == "cut":
        path.write_bytes(path.read_bytes()[:50])
    elif damage == "folder":
        as_folder(path)
    else:
        path.write_text(NESTED, encoding="utf-8")
    run = load_run(run_dir)
    assert sorted(run.candidates) == ["d3"]
    [problem] = run.candidate_problems.values()
    assert problem.startswith(f"{path}: ")
    ceiling = evaluate(run, load_gold(gold_dir)).ceiling
    assert ceiling is not None
    assert ceiling["gold"].sum() == 0  # d1, the only gold document offered, is left out


def test_eval_names_a_damaged_candidates_file_and_goes_on(tmp_path: Path, dealx: Dealx) -> None:
    run_dir, gold_dir = make_constrained_run(tmp_path)
    path = run_dir / "candidates" / "d1.json"
    path.write_text("{", encoding="utf-8")
    result = dealx("eval", run_dir, "--gold", gold_dir, "--format", "csv")
    assert result.returncode == 0
    notice = f"{path}: line 1: invalid JSON: Expecting property name enclosed in double quotes"
    assert [line for line in result.stderr.splitlines() if str(path) in line] == [
        f"{notice}; left out of the candidate recall"
    ]


def test_gold_drafts_name_the_documents_left_out(run: Path, tmp_path: Path) -> None:
    (run / "errors.jsonl").write_text('{"doc_id": "c", "reason": "HTTP 503"}\n', encoding="utf-8")
    write_json(run / "records" / "b.json", {"doc_id": 5})
    drafts = write_gold_drafts(run, tmp_path / "drafts")
    assert [path.name for path in drafts.written] == ["a.json"]
    assert drafts.skipped == {
        "b": "invalid record file: doc_id: Input should be a valid string",
        "c": "HTTP 503",
    }


def test_gold_draft_exits_1_when_a_document_is_left_out(
    run: Path, tmp_path: Path, dealx: Dealx
) -> None:
    (run / "records" / "b.json").write_text("null", encoding="utf-8")
    result = dealx("gold", "draft", run, "--out", tmp_path / "drafts")
    assert result.returncode == 1
    assert result.stderr == (
        "dealx: b: left out: invalid record file: (document): Input should be an object\n"
    )
    assert (tmp_path / "drafts" / "a.json").is_file()
