"""The progress of `dealx extract` on stderr: a live bar on a terminal, otherwise (a log file,
CI) a plain line every few seconds, which a live bar cannot be there."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from pipeline.extraction.call_estimate import CallEstimate
    from pipeline.runner import RunTotals

PLAIN_INTERVAL_S = 5.0


def progress_text(totals: RunTotals) -> str:
    """What the run has done besides documents: requests answered (a long article is split
    into chunks, a constrained run asks several questions a chunk), model calls and cache
    hits among them, tokens; failures only when there are some."""
    s = totals.stats
    failed = f"failed {len(totals.failed)} · " if totals.failed else ""
    return (
        f"{failed}requests {s.chunks} (model calls {s.cache_misses}, cache hits "
        f"{s.cache_hits}) · tokens {s.prompt_tokens + s.completion_tokens}"
    )


class ExtractProgress:
    """`update(totals, todo)` after each document, as `extract_run`'s `on_progress`, and
    `start(doc_id, estimate)` before a long one, as its `on_start`."""

    def __init__(self, console: Console, interval_s: float = PLAIN_INTERVAL_S) -> None:
        self.console = console
        self.interval_s = interval_s
        self.live = console.is_terminal
        self.started = self.last_line = time.monotonic()
        self.bar = Progress(
            TextColumn("extract"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.bar.add_task("extract", total=None, info="")
        self.info = ""
        # Long documents in flight with their estimate, shown in the bar until they end;
        # `ok_seen` is how much of totals.ok was already checked against them.
        self.long: dict[str, str] = {}
        self.ok_seen = 0

    def __enter__(self) -> ExtractProgress:
        if self.live:
            self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.live:
            self.bar.stop()

    def start(self, doc_id: str, estimate: CallEstimate) -> None:
        """Say that a long document starts and about how many requests it will take."""
        if not self.live:
            self.console.print(
                f"extract: {doc_id} starts: about {estimate.calls} calls ({estimate.chunks} chunks)"
            )
            return
        self.long[doc_id] = f"doc {doc_id}: about {estimate.calls} calls"
        self.bar.update(self.task, info=self._bar_info())

    def update(self, totals: RunTotals, todo: int) -> None:
        """Show the documents done out of `todo` and what they took."""
        done = len(totals.ok) + len(totals.failed)
        info = progress_text(totals)
        if self.live:
            for doc_id in totals.ok[self.ok_seen :]:
                self.long.pop(doc_id, None)
            self.ok_seen = len(totals.ok)
            for doc_id in [d for d in self.long if d in totals.failed]:
                del self.long[doc_id]
            self.info = info
            self.bar.update(self.task, total=todo, completed=done, info=self._bar_info())
            return
        now = time.monotonic()
        if now - self.last_line >= self.interval_s or done == todo:
            self.last_line = now
            elapsed = int(now - self.started)
            self.console.print(f"extract: {done}/{todo} documents · {info} · {elapsed} s")

    def _bar_info(self) -> str:
        """The run's counts and the latest long document still in flight."""
        latest = next(reversed(self.long.values()), None)
        return " · ".join(part for part in (self.info, latest) if part)
