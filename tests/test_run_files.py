"""The readers of run files that the eval, consolidation, cache import and resume share: each
problem of a file is one line without its path, and nothing but a regular file is read."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.store.run_files import (
    JsonFileError,
    error_location,
    read_errors,
    read_json_file,
    read_record_file,
    read_regular_file,
    recorded_inputs,
)
from schemas.errors import InputError
from schemas.records import DocumentExtraction


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data)


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


# How a JSON file is broken, what read_json_file says of it, and where (JsonFileError.where).
BROKEN_JSON = {
    "missing": (lambda path: None, "cannot read (No such file or directory)", "(file)"),
    "a folder": (Path.mkdir, "cannot read (not a regular file)", "(file)"),
    "a FIFO": (os.mkfifo, "cannot read (not a regular file)", "(file)"),
    "a link in a loop": (_loop, "cannot read (Too many levels of symbolic links)", "(file)"),
    "not UTF-8": (_write(b'{"a": "\xff"}'), "not UTF-8 (byte 7)", "(file)"),
    "cut short": (_write(b'{\n  "a": '), "invalid JSON: Expecting value", "line 2"),
    "nested too deeply": (
        _write(b"[" * 100_000 + b"]" * 100_000),
        "invalid JSON: nested too deeply",
        "(file)",
    ),
}


@pytest.mark.parametrize("case", BROKEN_JSON)
def test_read_json_file_says_what_is_wrong_in_one_line(tmp_path: Path, case: str) -> None:
    make, problem, where = BROKEN_JSON[case]
    path = tmp_path / "x.json"
    make(path)
    with pytest.raises(JsonFileError) as refused:
        read_json_file(path)
    assert (refused.value.problem, refused.value.where) == (problem, where)
    prefix = f"{where}: " if where != "(file)" else ""
    assert str(refused.value) == prefix + problem


def test_read_json_file_returns_any_json_value(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('[1, {"a": "é"}]', encoding="utf-8")
    assert read_json_file(path) == [1, {"a": "é"}]


def test_read_regular_file_refuses_a_fifo_without_opening_it(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="not a regular file"):
        read_regular_file(tmp_path / "fifo")  # opened, it would block this test for good


def test_error_location_renders_a_path() -> None:
    assert error_location(("deals", 0, "amount", "value")) == "deals[0].amount.value"
    assert error_location(()) == "(document)"


def _record(doc_id: str) -> str:
    return DocumentExtraction(doc_id=doc_id).model_dump_json()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (_record("b"), "record file doc_id 'b' differs from its file name"),
        ('{"doc_id": 5}', "invalid record file: doc_id: Input should be a valid string"),
        ("{", "invalid record file: (document): Invalid JSON: EOF while parsing an object"),
    ],
)
def test_read_record_file_names_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "a.json"
    path.write_text(text, encoding="utf-8")
    assert read_record_file(path)[0] is None
    assert read_record_file(path)[1].startswith(problem)


def test_read_record_file_reads_a_record_of_its_own_document(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(_record("a"), encoding="utf-8")
    record, problem = read_record_file(path)
    assert (record, problem) == (DocumentExtraction(doc_id="a"), "")
    path.unlink()
    path.mkdir()
    assert read_record_file(path) == (None, "record file not read (not a regular file)")


def test_read_errors_reads_failures_and_refuses_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "errors.jsonl"
    assert read_errors(path) == {}  # no file: no failures
    lines = [{"doc_id": "a", "reason": "HTTP 503"}, {"doc_id": "b", "reason": "timeout"}]
    path.write_text("\n".join(map(json.dumps, lines)) + "\n\n", encoding="utf-8")
    assert read_errors(path) == {"a": "HTTP 503", "b": "timeout"}
    path.write_text('{"doc_id": "a", "reason": "x"}\n[]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"errors\.jsonl:2: expected \{'doc_id'"):
        read_errors(path)


def test_recorded_inputs_ignores_entries_of_the_wrong_shape() -> None:
    manifest = {
        "inputs": {
            "a": {"path": "/docs/a.txt", "sha256": "abc"},
            "b": {"path": "/docs/b.txt", "sha256": 5},
            "c": {"path": "a\0b"},
            "d": ["x"],
            "e": {"path": ""},
        }
    }
    found = recorded_inputs(manifest)
    assert {doc_id: (str(i.path), i.sha256) for doc_id, i in found.items()} == {
        "a": ("/docs/a.txt", "abc"),
        "b": ("/docs/b.txt", None),
    }
    assert recorded_inputs({"inputs": "x"}) == {}
