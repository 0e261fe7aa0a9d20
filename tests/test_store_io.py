"""The file and database I/O a run does per document, written for speed, checked against the
plain definitions it replaced: atomic writes, input paths, article reads, document ids, cache
rows, the batch ledger's answers, and which thread writes a document's files."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import os
import threading
import unicodedata
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pipeline.batch.ledger import Ledger
from pipeline.engine import DocumentOutcome
from pipeline.extraction import documents
from pipeline.extraction.documents import READ_CHUNK, read_document
from pipeline.extraction.extractor import DocStats
from pipeline.runner import WRITES_AHEAD, RunWriter, combined_sha256, write_outcomes
from pipeline.store import run_dir
from pipeline.store.cache import CacheEntry, ResponseCache, row_of
from pipeline.store.run_dir import write_atomic
from schemas.errors import InputError
from schemas.records import DocumentExtraction


def test_write_atomic_writes_utf8_and_leaves_no_temp_file(tmp_path: Path) -> None:
    text = "Straße 1\nline two\r\n\u201cquoted\u201d \U0001d400\n" * 1000
    write_atomic(tmp_path / "a.json", text)
    assert (tmp_path / "a.json").read_bytes() == text.encode("utf-8")
    write_atomic(tmp_path / "a.json", "replaced")
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == "replaced"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_write_atomic_steps_over_a_temp_name_already_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A killed process that had this pid left a temp file with the next number.
    monkeypatch.setattr(run_dir, "_TEMP_NUMBERS", itertools.count(0xFFFFFFFF))
    left = tmp_path / f".a.json.{os.getpid()}.ffffffff.tmp"
    left.write_text("left behind", encoding="utf-8")
    write_atomic(tmp_path / "a.json", "written")
    assert (tmp_path / "a.json").read_text(encoding="utf-8") == "written"
    assert left.read_text(encoding="utf-8") == "left behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == [left.name, "a.json"]
    # The numbers wrap around within 8 hex digits, the form remove_stale_temp_files knows.
    assert f"{next(run_dir._TEMP_NUMBERS) & 0xFFFFFFFF:08x}" == "00000001"


def test_input_paths_resolve_as_path_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "a.txt").write_text("a", encoding="utf-8")
    (real / "b.txt").symlink_to(real / "a.txt")
    (tmp_path / "linked").symlink_to(real)
    monkeypatch.chdir(tmp_path)
    writer = RunWriter(tmp_path / "run")
    paths = [
        real / "a.txt",
        real / "b.txt",  # a link: resolved to its target
        tmp_path / "linked" / "a.txt",
        tmp_path / "linked" / "b.txt",
        Path("real/a.txt"),
        Path("linked/../real/a.txt"),
        real / "missing.txt",
    ]
    for path in [*paths, *paths]:  # the second time, from the resolved folders
        assert writer._resolved(path) == str(path.resolve())


@pytest.mark.parametrize("size", [1, READ_CHUNK - 1, READ_CHUNK, READ_CHUNK + 1, 3 * READ_CHUNK])
def test_an_article_is_read_whole(tmp_path: Path, size: int) -> None:
    path = tmp_path / "doc.txt"
    path.write_bytes(b"a\xc3\xa9" * (size // 3) + b"b" * (size % 3))
    assert read_document(path).text == path.read_bytes().decode("utf-8")


def test_a_folder_named_like_an_article_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "doc.txt").mkdir()
    with pytest.raises(documents.UnreadableDocument, match="cannot read"):
        read_document(tmp_path / "doc.txt")


def test_document_ids_are_checked_as_by_their_unicode_categories() -> None:
    def has_control(doc_id: str) -> bool:
        return any(unicodedata.category(char).startswith("C") for char in doc_id)

    for char in map(chr, range(256)):
        doc_id = f"doc{char}id"
        problem = documents._id_problem(doc_id)
        control = problem == "holds a control or invisible character"
        assert control == has_control(doc_id), repr(char)
    assert documents._id_problem("plain-id_01 (copy)") is None
    with pytest.raises(InputError):
        documents.check_doc_id("zero\u200bwidth", "src")


def entry(key: str, doc_id: str = "d") -> CacheEntry:
    return CacheEntry(
        key=key,
        doc_id=doc_id,
        request={"messages": [{"role": "user", "content": "Café \u201cq\u201d"}], "b": 1, "a": 2},
        raw_response={"z": [1, 2.5, None], "a": {"y": True, "x": "\u00e9"}},
        record={"companies": [], "deals": []},
        prompt_tokens=3,
        completion_tokens=4,
        latency_s=0.5,
        created_at="2025-01-01T00:00:00+00:00",
        server_model="m",
        reasks=1,
        transport_retries=0,
        provenance={"recorded_by": "test"},
    )


def test_a_cache_row_stores_json_as_json_dumps_did(tmp_path: Path) -> None:
    stored = entry("k1")
    row = row_of(stored)
    for column, value in zip(run_columns(tmp_path), row, strict=True):
        original = getattr(stored, column)
        if isinstance(original, dict):
            assert value == json.dumps(original, ensure_ascii=False, sort_keys=True)
        else:
            assert value == original
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        cache.put_rows([row, row_of(entry("k2"))])
        cache.put(entry("k1", doc_id="again"))  # overwrites
        assert cache.get("k1") == entry("k1", doc_id="again")
        answer = cache.get_answer("k2")
        assert answer is not None and answer == entry("k2").answer
        assert cache.get_answer("absent") is None


def run_columns(tmp_path: Path) -> list[str]:
    with ResponseCache(tmp_path / "columns.sqlite") as cache:
        return [row[1] for row in cache._db.execute("PRAGMA table_info(responses)")]


def test_an_unreadable_answer_is_set_aside(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        cache.put(entry("k"))
        with cache._db:
            cache._db.execute("UPDATE responses SET record = '{not json' WHERE key = 'k'")
        assert cache.get_answer("k") is None
        assert len(cache) == 0


def test_the_ledger_gives_a_documents_answered_requests(tmp_path: Path) -> None:
    with Ledger(tmp_path / "run") as ledger, ledger.db:
        ledger.db.execute(
            "INSERT INTO parts (part, path, requests, bytes, batch_id) VALUES (0, 'p', 3, 1, 'b0')"
        )
        rows = [("a", 0, "answered", '{"x": 1}'), ("b", 0, "ok", None), ("c", 0, "answered", "")]
        ledger.db.executemany(
            "INSERT INTO requests (custom_id, part, status, answer) VALUES (?, ?, ?, ?)", rows
        )
        ledger.db.executemany(
            "INSERT INTO doc_requests VALUES (?, ?)", [("d1", "a"), ("d1", "b"), ("d2", "c")]
        )
    with Ledger(tmp_path / "run") as ledger:
        assert ledger.answers("d1") == {"a": ('{"x": 1}', "b0")}
        assert ledger.answers("d2") == {"c": ("", "b0")}
        assert ledger.answers("d3") == {}


class ThreadRecordingWriter(RunWriter):
    """A RunWriter that notes which thread wrote each document."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.threads: dict[str, str] = {}

    def add(self, outcome: DocumentOutcome) -> None:
        self.threads[outcome.doc_id] = threading.current_thread().name
        super().add(outcome)


def test_documents_from_the_cache_are_written_on_the_loop_the_others_on_the_thread(
    tmp_path: Path,
) -> None:
    ids = [f"doc-{n:02d}" for n in range(3 * WRITES_AHEAD)]

    async def outcomes() -> AsyncIterator[DocumentOutcome]:
        for number, doc_id in enumerate(ids):
            record = DocumentExtraction(doc_id=doc_id)
            yield DocumentOutcome(doc_id, record, DocStats(cache_misses=int(number % 3 == 0)))

    writer = ThreadRecordingWriter(tmp_path / "run")
    written: list[int] = []

    async def run() -> str:
        await write_outcomes(writer, outcomes(), lambda: written.append(len(writer.totals.ok)))
        return threading.current_thread().name

    loop_thread = asyncio.run(run())
    assert sorted(writer.totals.ok) == ids and len(written) == len(ids)
    assert sorted(p.stem for p in (tmp_path / "run" / "records").iterdir()) == ids
    for number, doc_id in enumerate(ids):
        on_loop = writer.threads[doc_id] == loop_thread
        assert on_loop == (number % 3 != 0), doc_id


def test_the_combined_schema_hash_is_that_of_the_sorted_hashes_a_line_each() -> None:
    hashes = sorted(hashlib.sha256(str(n).encode()).hexdigest() for n in range(5))
    joined = hashlib.sha256("\n".join(hashes).encode()).hexdigest()
    assert combined_sha256(iter(hashes)) == (joined, 5)
    assert combined_sha256(iter(hashes[:1])) == (hashes[0], 1)
    assert combined_sha256(iter([])) == (None, 0)
