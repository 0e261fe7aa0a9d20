"""The progress of `dealx extract` when stderr is not a terminal: plain lines, counting
requests and model calls, naming failures only when there are some."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from pipeline.cli.progress import ExtractProgress
from pipeline.extraction.call_estimate import CallEstimate
from pipeline.extraction.documents import Document
from pipeline.extraction.extractor import DocStats
from pipeline.runner import RunTotals, extract_run
from tests.dealx_process import (
    ANSWER,
    FACT,
    article,
    dealx_env,
    extract_args,
    fake_settings,
    run_dealx,
    write_docs,
)
from tests.fake_openai import FakeOpenAI, Reply

# With this context the chunks are 1,000 characters, so LONG_TEXT is eight chunks.
SMALL_CONTEXT = 1500
LONG_TEXT = "\n\n".join(
    f"Paragraph {i} of long-doc: {FACT} " + " ".join(f"word{i}x{j}" for j in range(70))
    for i in range(8)
)


def totals(ok: int, failed: int, hits: int, misses: int) -> RunTotals:
    stats = DocStats(chunks=hits + misses, cache_hits=hits, cache_misses=misses)
    failures = {f"bad-{i}": "HTTP 500" for i in range(failed)}
    return RunTotals(ok=[f"d{i}" for i in range(ok)], failed=failures, stats=stats)


def test_plain_lines_at_an_interval_and_at_the_end() -> None:
    out = io.StringIO()
    with ExtractProgress(Console(file=out, width=200), interval_s=3600) as progress:
        progress.update(totals(1, 0, 0, 3), todo=3)  # within the interval: no line
        progress.update(totals(3, 0, 2, 7), todo=3)  # the last document: always a line
    [line] = out.getvalue().splitlines()
    assert line.startswith("extract: 3/3 documents · requests 9 (model calls 7, cache hits 2)")
    assert "failed" not in line


def test_failures_are_named_only_when_there_are_some() -> None:
    out = io.StringIO()
    with ExtractProgress(Console(file=out, width=200), interval_s=0) as progress:
        progress.update(totals(1, 0, 0, 1), todo=4)
        progress.update(totals(1, 2, 0, 1), todo=4)
    first, second = out.getvalue().splitlines()
    assert "failed" not in first
    assert "extract: 3/4 documents · failed 2 · requests 1" in second


def test_a_piped_extract_prints_a_final_progress_line(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 3)
    with FakeOpenAI(Reply(ANSWER)) as server:
        args = extract_args(
            server.base_url, tmp_path / "docs", out=tmp_path / "run", cache=tmp_path / "c.db"
        )
        result = run_dealx(args, tmp_path, dealx_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "extract: 3/3 documents · requests 3 (model calls 3, cache hits 0)" in result.stderr
    assert "failed" not in result.stderr


def test_a_long_article_is_announced_before_it_starts(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    (tmp_path / "docs" / "long-doc.txt").write_text(LONG_TEXT, encoding="utf-8")
    env = dealx_env(tmp_path, DEALX_CONTEXT_TOKENS=str(SMALL_CONTEXT))
    with FakeOpenAI(Reply(ANSWER)) as server:
        args = extract_args(
            server.base_url, tmp_path / "docs", out=tmp_path / "run", cache=tmp_path / "c.db"
        )
        result = run_dealx(args, tmp_path, env)
        calls = server.count("long-doc")
    assert result.returncode == 0, result.stderr
    assert calls == 8
    [line] = [line for line in result.stderr.splitlines() if " starts: " in line]
    assert line == "extract: long-doc starts: about 8 calls (8 chunks)"


def test_only_a_document_longer_than_a_chunk_is_counted(tmp_path: Path) -> None:
    seen: list[tuple[str, CallEstimate]] = []

    def on_start(doc_id: str, estimate: CallEstimate) -> None:
        seen.append((doc_id, estimate))

    sources = [Document("short", article("short")), Document("long-doc", LONG_TEXT)]
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path, context_tokens=SMALL_CONTEXT)
        extract_run(settings, tmp_path / "run", sources=sources, on_start=on_start)
        calls = server.count("long-doc")
    assert seen == [("long-doc", CallEstimate(8, 8))]
    assert calls == 8


def test_a_long_document_shows_in_the_bar_until_it_ends() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=200)
    progress = ExtractProgress(console)
    progress.start("long-doc", CallEstimate(12, 3))

    def info() -> str:
        return str(progress.bar.tasks[0].fields["info"])

    assert info() == "doc long-doc: about 12 calls"
    progress.update(totals(1, 0, 0, 1), todo=3)
    assert info() == (
        "requests 1 (model calls 1, cache hits 0) · tokens 0 · doc long-doc: about 12 calls"
    )
    progress.update(RunTotals(ok=["d0", "long-doc"]), todo=3)
    assert "long-doc" not in info()
    assert console.file.getvalue() == ""  # nothing printed beside the bar


def test_a_long_document_gets_a_plain_line_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    progress = ExtractProgress(Console(file=out, width=200))
    progress.start("long-doc", CallEstimate(12, 3))
    assert out.getvalue() == "extract: long-doc starts: about 12 calls (3 chunks)\n"
