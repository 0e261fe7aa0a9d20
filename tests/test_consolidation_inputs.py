"""Bad input to consolidation: failed documents, invalid record files, an empty run, missing
articles (pipeline/consolidation/inputs.py), through the library and `dealx consolidate`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.consolidation import consolidate
from pipeline.consolidation.inputs import read_inputs
from schemas.errors import InputError
from tests.dealx_process import Dealx

EVIDENCE = [{"quote": "Meta invests in Scale AI.", "start": 0, "end": 25}]


def record(doc_id: str) -> dict:
    return {
        "doc_id": doc_id,
        "companies": [{"name": "Meta", "evidence": EVIDENCE}],
        "deals": [
            {
                "deal_type": "investment",
                "parties": [
                    {"name": "Meta", "role": "investor"},
                    {"name": "Scale AI", "role": "target"},
                ],
                "status": "agreed",
                "evidence": EVIDENCE,
            }
        ],
    }


@pytest.fixture
def bad_run(tmp_path: Path) -> Path:
    """Two good documents, one failed in the run, one record file that does not validate."""
    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    for doc_id in ("a", "b"):
        (run / "records" / f"{doc_id}.json").write_text(json.dumps(record(doc_id)))
    broken = record("c")
    broken["deals"][0]["status"] = "maybe"
    (run / "records" / "c.json").write_text(json.dumps(broken))
    (run / "errors.jsonl").write_text(json.dumps({"doc_id": "d", "reason": "HTTP 503"}) + "\n")
    return run


def test_bad_documents_are_left_out_and_the_rest_consolidated(bad_run: Path) -> None:
    consolidation = consolidate(bad_run)
    assert consolidation.documents == ["a", "b"]
    assert consolidation.failures["d"] == "HTTP 503"
    assert "invalid record file: deals[0].status" in consolidation.failures["c"]
    [deal] = consolidation.deals
    assert [e.doc_id for e in deal.timeline] == ["a", "b"]
    assert any("no article text for 2 document(s)" in note for note in consolidation.notes)


def test_the_command_names_each_left_out_document_and_exits_1(bad_run: Path, dealx: Dealx) -> None:
    result = dealx("consolidate", bad_run, "--out", bad_run / "out")
    assert result.returncode == 1, result.stderr
    assert "dealx: c: left out: " in result.stderr
    assert "dealx: d: left out: HTTP 503" in result.stderr
    assert "2 document(s): 1 deal(s)" in result.stdout
    assert (bad_run / "out" / "consolidated.json").is_file()


def test_an_empty_run_says_so(tmp_path: Path, dealx: Dealx) -> None:
    (tmp_path / "run" / "records").mkdir(parents=True)
    result = dealx("consolidate", tmp_path / "run")
    assert result.returncode == 1
    assert "no valid per-article records: nothing to consolidate" in result.stderr
    written = json.loads((tmp_path / "run" / "consolidated" / "consolidated.json").read_text())
    assert written["deals"] == []


def test_a_folder_that_is_no_run_is_an_input_error(tmp_path: Path, dealx: Dealx) -> None:
    with pytest.raises(InputError, match="not a run directory"):
        read_inputs(tmp_path)
    result = dealx("consolidate", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"dealx: error: {tmp_path}: not a run directory (no records/ and no errors.jsonl)"
    ]


def test_articles_come_from_the_manifest_and_an_unreadable_one_is_left_out(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "records").mkdir(parents=True)
    (run / "records" / "a.json").write_text(json.dumps(record("a")))
    (run / "records" / "b.json").write_text(json.dumps(record("b")))
    article = tmp_path / "a.txt"
    article.write_text("News Desk June 11, 2025\nMeta invests in Scale AI.\n")
    (tmp_path / "b.txt").write_bytes(b"\xff\xfe not utf-8")
    inputs = {"a": {"path": str(article)}, "b": {"path": str(tmp_path / "b.txt")}}
    (run / "manifest.json").write_text(json.dumps({"inputs": inputs}))
    consolidation = consolidate(run)
    assert [e.date for e in consolidation.deals[0].timeline] == ["2025-06-11"]
    reason = consolidation.failures["b"]
    assert reason.startswith(f"article not read: {tmp_path / 'b.txt'}: UTF-16 text")
