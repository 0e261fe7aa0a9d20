"""Bad input to the real `dealx` command line: a file that is not a readable article fails alone
(errors.jsonl, exit 1) while the rest are extracted; a usage problem stops the command before
any work with one line `dealx: error: <file>: <problem>` and exit 2; nothing done is lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pipeline.extraction.documents import list_documents, load_documents
from pipeline.store.run_dir import record_path
from schemas.errors import EXIT_FAILED, EXIT_USAGE, InputError
from tests.dealx_process import (
    ANSWER,
    FACT,
    dealx_env,
    extract_args,
    extract_in_process,
    fake_settings,
    run_dealx,
    write_docs,
)
from tests.fake_openai import FakeOpenAI, Reply

# Each unreadable file, its bytes, and the problem its one-line error must name.
UNREADABLE = {
    "empty.txt": (b"", "empty file"),
    "blank.txt": (b"  \n\t\r\n \n", "only whitespace"),
    "binary.txt": (b"%PDF-1.7\n\x00\x01\x02binary\x00", "binary file (NUL bytes)"),
    "latin.txt": ("Nestlé buys Café Müller for €5 million.".encode("cp1252"), "not UTF-8"),
    "wide.txt": (FACT.encode("utf-16"), "UTF-16"),
}


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes, to prove nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("dealx: error:")]


@pytest.fixture
def server():
    with FakeOpenAI(Reply(ANSWER)) as fake:
        yield fake


def test_unreadable_files_fail_alone_and_the_rest_are_extracted(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    docs = tmp_path / "docs"
    good = write_docs(docs, 2)
    for name, (data, _) in UNREADABLE.items():
        (docs / name).write_bytes(data)
    run_dir, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    args = extract_args(server.base_url, docs, out=run_dir, cache=cache)

    result = run_dealx(args, tmp_path, dealx_env(tmp_path))

    assert result.returncode == EXIT_FAILED, result.stderr
    assert sorted(p.stem for p in (run_dir / "records").glob("*.json")) == good
    errors = [json.loads(line) for line in (run_dir / "errors.jsonl").read_text().splitlines()]
    assert {e["doc_id"] for e in errors} == {Path(name).stem for name in UNREADABLE}
    for error in errors:
        name = f"{error['doc_id']}.txt"
        # One line, naming the file and its problem.
        assert error["reason"].startswith(f"{docs / name}: {UNREADABLE[name][1]}")
        assert "\n" not in error["reason"]
        # Shown on the terminal too, not only in the file.
        assert error["doc_id"] in result.stderr
    assert server.count() == len(good)  # nothing unreadable reached the model
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["documents"]["ok"] == 2 and manifest["documents"]["failed"] == 5
    documents_csv = (run_dir / "documents.csv").read_text().splitlines()
    assert len(documents_csv) == 1 + 7 and sum(",failed," in row for row in documents_csv) == 5

    # Fixing a file and rerunning extracts just that one; the finished ones stay done.
    (docs / "latin.txt").write_text("Nestlé buys Café Müller.\n", encoding="utf-8")
    again = run_dealx(args, tmp_path, dealx_env(tmp_path))
    assert again.returncode == EXIT_FAILED
    assert server.count() == len(good) + 1 and server.count("Nestlé") == 1
    assert record_path(run_dir, "latin").exists()
    remaining = [json.loads(line)["doc_id"] for line in (run_dir / "errors.jsonl").open()]
    assert sorted(remaining) == ["binary", "blank", "empty", "wide"]


def test_utf8_with_bom_is_read_without_the_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + FACT.encode())
    [document] = load_documents([path])
    assert document.text == FACT


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ("missing", "{tmp}/nowhere: no such file or folder"),
        ("empty_folder", "{tmp}/docs/empty: no documents (*.txt, *.md) in this folder"),
        ("other_suffixes", "{tmp}/docs/notes: no documents (*.txt, *.md) in this folder"),
        (
            "duplicate",
            "{tmp}/docs/b/deal.txt: document id 'deal' already used by {tmp}/docs/a/deal.txt",
        ),
        ("escape", "{tmp}/docs/..x.txt: unsafe document id '..x'"),
        ("hidden", "{tmp}/docs/.x.txt: unsafe document id '.x'"),
        ("control", "{tmp}/docs/my\\tdeal.txt: unsafe document id 'my\\tdeal'"),
    ],
)
def test_usage_problems_stop_before_any_work(
    tmp_path: Path, server: FakeOpenAI, layout: str, problem: str
) -> None:
    docs = tmp_path / "docs"
    write_docs(docs / "ok", 2)
    target = docs
    if layout == "missing":
        target = tmp_path / "nowhere"
    elif layout == "empty_folder":
        (docs / "empty").mkdir()
        target = docs / "empty"
    elif layout == "other_suffixes":
        (docs / "notes").mkdir()
        (docs / "notes" / "deal.pdf").write_bytes(b"%PDF")
        (docs / "notes" / "deal.json").write_text("{}")
        target = docs / "notes"
    elif layout == "duplicate":
        for folder in ("a", "b"):
            (docs / folder).mkdir()
            (docs / folder / "deal.txt").write_text(FACT)
    elif layout == "escape":
        (docs / "..x.txt").write_text(FACT)
        target = docs / "..x.txt"
    elif layout == "hidden":
        (docs / ".x.txt").write_text(FACT)
        target = docs / ".x.txt"  # named on its own: taken as given, and refused
    else:
        (docs / "my\tdeal.txt").write_text(FACT)
    run_dir, cache = tmp_path / "runs" / "run", tmp_path / "cache.sqlite"

    result = run_dealx(
        extract_args(server.base_url, target, out=run_dir, cache=cache),
        tmp_path,
        dealx_env(tmp_path),
    )

    assert result.returncode == EXIT_USAGE
    [line] = error_lines(result.stderr)
    assert line.startswith(f"dealx: error: {problem.format(tmp=tmp_path)}")
    # Found before any work: nothing asked, nothing written.
    assert server.count() == 0
    assert not (tmp_path / "runs").exists() and not cache.exists()


def test_usage_problem_leaves_an_earlier_run_untouched(tmp_path: Path, server: FakeOpenAI) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 3)
    run_dir, cache = tmp_path / "run", tmp_path / "cache.sqlite"
    first = run_dealx(
        extract_args(server.base_url, docs, out=run_dir, cache=cache), tmp_path, dealx_env(tmp_path)
    )
    assert first.returncode == 0, first.stderr
    (docs / "b").mkdir()
    (docs / "b" / "doc-0001.txt").write_text(FACT)  # the same id as docs/doc-0001.txt
    before, cache_before = tree(run_dir), cache.read_bytes()

    again = run_dealx(
        extract_args(server.base_url, docs, out=run_dir, cache=cache), tmp_path, dealx_env(tmp_path)
    )

    assert again.returncode == EXIT_USAGE
    assert "already used by" in error_lines(again.stderr)[0]
    assert tree(run_dir) == before and cache.read_bytes() == cache_before
    assert server.count() == 3


def test_a_cache_that_is_not_sqlite_is_a_usage_error(tmp_path: Path, server: FakeOpenAI) -> None:
    write_docs(tmp_path / "docs", 1)
    cache = tmp_path / "cache.sqlite"
    cache.write_text("these are my notes, not a database\n" * 200)

    result = run_dealx(
        extract_args(server.base_url, tmp_path / "docs", out=tmp_path / "run", cache=cache),
        tmp_path,
        dealx_env(tmp_path),
    )

    assert result.returncode == EXIT_USAGE
    [line] = error_lines(result.stderr)
    assert line.startswith(f"dealx: error: {cache}: not a dealx cache")
    assert cache.read_text().startswith("these are my notes")  # left as it was
    assert server.count() == 0


def test_hidden_files_in_a_folder_are_not_articles(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    ids = write_docs(docs, 2)
    (docs / "._doc-0000.txt").write_bytes(b"\x00\x05\x16\x07Mac OS X resource fork")
    (docs / ".git").mkdir()
    (docs / ".git" / "description.txt").write_text("Unnamed repository")
    assert [d.doc_id for d in load_documents([docs])] == ids


def test_usage_problems_are_checked_before_any_file_is_read(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "a").mkdir(parents=True)
    (docs / "b").mkdir()
    (docs / "a" / "x.txt").write_bytes(b"")  # unreadable, but the duplicate id wins
    (docs / "b" / "x.txt").write_text(FACT)
    with pytest.raises(InputError, match="already used by"):
        list_documents([docs])


def test_record_path_refuses_ids_that_escape_the_run(tmp_path: Path) -> None:
    for doc_id in ("../x", "..", "a/../../x", "/etc/passwd", ".hidden", "a\\b"):
        with pytest.raises(InputError, match="unsafe document id"):
            record_path(tmp_path, doc_id)


@pytest.mark.parametrize("grounding", ["off", "default"])
def test_five_megabyte_article_is_chunked_with_bounded_memory(
    tmp_path: Path, server: FakeOpenAI, grounding: str
) -> None:
    options = {} if grounding == "default" else {"grounding": grounding}
    docs = tmp_path / "docs"
    write_docs(docs, 1, prefix="small")
    env = dealx_env(tmp_path)
    small = extract_args(
        server.base_url, docs, out=tmp_path / "small", cache=tmp_path / "small.db", **options
    )
    baseline = run_dealx(small, tmp_path, env)
    assert baseline.returncode == 0, baseline.stderr
    paragraph = f"{FACT} " + "Analysts expect more deals in the sector this year. " * 8
    big = tmp_path / "big"
    big.mkdir()
    text = "\n\n".join(f"Paragraph {i}. {paragraph}" for i in range(11_000))
    assert len(text.encode()) > 5_000_000
    (big / "huge.txt").write_text(text, encoding="utf-8")
    before = server.count()

    result = run_dealx(
        extract_args(
            server.base_url, big, out=tmp_path / "run", cache=tmp_path / "cache.db", **options
        ),
        tmp_path,
        env,
    )

    assert result.returncode == 0, result.stderr
    requests = server.chat_requests[before:]
    # Split on paragraph boundaries into many requests, none much bigger than one chunk.
    assert len(requests) > 100
    largest = max(len(r.body["messages"][-1]["content"]) for r in requests)
    assert largest < 30_000
    assert all(r.text.count("Paragraph ") >= 2 for r in requests)
    assert "Paragraph 0." in requests[0].text and "Paragraph 10999." in requests[-1].text
    record = json.loads((tmp_path / "run" / "records" / "huge.json").read_text())
    assert [c["name"] for c in record["companies"]] == ["Meta", "Scale AI"]  # merged, once each
    # Memory is bounded by the article, not by how many chunks it has: a few copies of 5 MB
    # and what grounding needs to search it, well under the 500 MB a whole batch may use.
    growth = result.max_rss_mb - baseline.max_rss_mb
    assert growth < 150, f"peak RSS {result.max_rss_mb:.0f} MB, {growth:.0f} MB over baseline"


def test_gold_that_is_not_json_stops_eval_with_file_and_line(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    write_docs(tmp_path / "docs", 1)
    run_dir = tmp_path / "run"
    extract_in_process(fake_settings(server.base_url, tmp_path), run_dir)
    gold = tmp_path / "gold"
    gold.mkdir()
    (gold / "doc-0000.json").write_text('{\n  "doc_id": "doc-0000",\n  "deals": [,]\n}\n')

    result = run_dealx(["eval", run_dir, "--gold", gold], tmp_path, dealx_env(tmp_path))

    assert result.returncode == EXIT_USAGE
    [line] = error_lines(result.stderr)
    assert line == f"dealx: error: {gold / 'doc-0000.json'}: line 3: invalid JSON: Expecting value"
    assert not (run_dir / "eval").exists()


def test_gold_for_a_document_not_in_the_run_is_named_by_eval(
    tmp_path: Path, server: FakeOpenAI
) -> None:
    write_docs(tmp_path / "docs", 1)
    run_dir = tmp_path / "run"
    extract_in_process(fake_settings(server.base_url, tmp_path), run_dir)
    gold = tmp_path / "gold"
    gold.mkdir()
    for doc_id in ("doc-0000", "ghost"):
        (gold / f"{doc_id}.json").write_text(json.dumps({"doc_id": doc_id}))

    result = run_dealx(["eval", run_dir, "--gold", gold], tmp_path, dealx_env(tmp_path))

    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if "ghost" in line]
    assert "in the gold but not in the run" in line


def test_cache_file_checks_pass_after_bad_input(tmp_path: Path, server: FakeOpenAI) -> None:
    """The unreadable files never touch the cache: one entry per good document, intact."""
    docs = tmp_path / "docs"
    write_docs(docs, 2)
    for name, (data, _) in UNREADABLE.items():
        (docs / name).write_bytes(data)
    extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert sorted(d for (d,) in db.execute("SELECT doc_id FROM responses")) == [
            "doc-0000",
            "doc-0001",
        ]
