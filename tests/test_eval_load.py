"""Reading run directories: records, errors.jsonl, manifest; bad record files are failures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from eval.load import load_gold, load_run
from schemas.errors import InputError

RECORD = {
    "doc_id": "d1",
    "companies": [
        {"name": "Meta", "evidence": [{"quote": "Meta.", "start": 0, "end": 5, "grounded": True}]}
    ],
}


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_load_run_reads_records_errors_and_manifest(tmp_path: Path) -> None:
    write(tmp_path / "records" / "d1.json", json.dumps(RECORD))  # with a grounding flag
    write(tmp_path / "records" / "d2.json", '{"doc_id": "d2", "deals": [{"deal_type": "x"}]}')
    write(tmp_path / "records" / "d3.json", "{not json")
    write(tmp_path / "records" / "d4.json", json.dumps({**RECORD, "doc_id": "other"}))
    errors = [{"doc_id": "d5", "reason": "timeout"}, {"doc_id": "d1", "reason": "retried"}]
    write(tmp_path / "errors.jsonl", "\n".join(json.dumps(e) for e in errors) + "\n\n")
    manifest = {"model": "local/smollm2-135m", "prompt": "extract_v2", "extra": [1]}
    write(tmp_path / "manifest.json", json.dumps(manifest))
    run = load_run(tmp_path)
    assert list(run.predictions) == ["d1"]  # a record file beats an older error line
    assert run.predictions["d1"].companies[0].evidence[0].start == 0
    assert set(run.failures) == {"d2", "d3", "d4", "d5"}
    assert run.failures["d2"].startswith("invalid record file: deals[0].")
    assert run.failures["d3"].startswith("invalid record file: (document): Invalid JSON")
    assert "differs from its file name" in run.failures["d4"]
    assert run.failures["d5"] == "timeout"
    assert run.manifest["model"] == "local/smollm2-135m"


def test_load_run_rejects_what_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a run directory"):
        load_run(tmp_path / "missing")
    with pytest.raises(InputError, match=r"no records/ and no errors\.jsonl"):
        load_run(tmp_path)
    write(tmp_path / "errors.jsonl", '{"doc_id": "d1"}\n[1, 2]\n')
    with pytest.raises(InputError, match=r"errors\.jsonl:2"):
        load_run(tmp_path)


def test_load_gold_needs_gold_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such gold folder"):
        load_gold(tmp_path / "gold")
    (tmp_path / "gold").mkdir()
    with pytest.raises(InputError, match="no gold files"):
        load_gold(tmp_path / "gold")


CANDIDATES = {
    "doc_id": "d1",
    "organizations": ["Meta"],
    "people": [],
    "titles": [],
    "amounts": [{"text": "$14 billion", "value": 14e9}],
    "percents": [],
    "dates": [],
    "deals": [{"sentence": "Meta.", "context": None, "parties": ["Meta"], "people": []}],
}


def test_load_run_reads_candidates_when_the_run_has_them(tmp_path: Path) -> None:
    write(tmp_path / "records" / "d1.json", json.dumps(RECORD))
    assert load_run(tmp_path).candidates == {}
    write(tmp_path / "candidates" / "d1.json", json.dumps(CANDIDATES))
    write(tmp_path / "candidates" / "d2.json", json.dumps({**CANDIDATES, "doc_id": "d2"}))
    run = load_run(tmp_path)
    assert sorted(run.candidates) == ["d1", "d2"]
    assert run.candidates["d1"] == CANDIDATES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "line 1: invalid JSON: Expecting property name"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({**CANDIDATES, "doc_id": "other"}), "doc_id 'other' differs"),
        (json.dumps({k: v for k, v in CANDIDATES.items() if k != "people"}), "people: Field"),
        (json.dumps({**CANDIDATES, "organizations": "Meta"}), "organizations: Input should be"),
        (json.dumps({**CANDIDATES, "amounts": [{"value": "14e9"}]}), r"amounts\[0\]\.value"),
        (json.dumps({**CANDIDATES, "deals": [{"parties": [1]}]}), r"deals\[0\]\.parties\[0\]"),
    ],
)
def test_malformed_candidates_file_is_named_and_left_out(
    tmp_path: Path, text: str, message: str
) -> None:
    write(tmp_path / "records" / "d1.json", json.dumps(RECORD))
    path = tmp_path / "candidates" / "d1.json"
    write(path, text)
    run = load_run(tmp_path)
    assert run.candidates == {}
    problem = run.candidate_problems["d1"]
    assert re.search(message, problem)
    assert problem.startswith(f"{path}: ") and "\n" not in problem
