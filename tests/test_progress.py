"""The progress of `dealx extract` when stderr is not a terminal: plain lines, counting
requests and model calls, naming failures only when there are some."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from pipeline.cli.progress import ExtractProgress
from pipeline.extraction.extractor import DocStats
from pipeline.runner import RunTotals
from tests.dealx_process import ANSWER, dealx_env, extract_args, run_dealx, write_docs
from tests.fake_openai import FakeOpenAI, Reply


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
