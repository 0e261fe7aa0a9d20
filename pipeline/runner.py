"""Run directories: each document's outcome written as it arrives, then the tables and the
manifest.

Each document is isolated (a failure is written to errors.jsonl and the rest go on), finished
documents are skipped on a rerun, and the manifest sums up what the run cost and which inputs
(paths and hashes) it read. `write_run` writes a run directory from outcomes collected by the
library; `extract_run` streams a batch into one, for the CLI.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.engine import DocumentOutcome, Session, Source, run_sync, source_id
from pipeline.extraction.documents import list_documents
from pipeline.extraction.extractor import DocStats
from pipeline.extraction.request import strip_credentials
from pipeline.providers import price_per_mtok
from pipeline.settings import Settings
from pipeline.store.run_dir import (
    TableRows,
    add_rows,
    append_jsonl,
    jsonl_text,
    read_records,
    record_path,
    remove_stale_temp_files,
    table_rows,
    write_atomic,
    write_document_table,
    write_json,
    write_record,
    write_tables,
)
from schemas.errors import DealxError
from schemas.records import Support


@dataclass
class RunTotals:
    """Sums over the documents of one invocation."""

    # repr=False: asyncio.run reprs its finished main task (whose result holds these totals)
    # when it restores the SIGINT handler; a repr of thousands of rows took 0.3 s.
    ok: list[str] = field(default_factory=list, repr=False)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # already done by an earlier invocation
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # documents.csv
    tables: TableRows = field(default_factory=dict, repr=False)  # the records' flat rows
    supports: list[dict[str, Support] | None] = field(default_factory=list, repr=False)
    inputs: dict[str, dict[str, str | None]] = field(default_factory=dict, repr=False)
    stats: DocStats = field(default_factory=DocStats)


def combined_sha256(hashes: set[str]) -> str | None:
    """The one schema hash of a plain run; for a constrained run (a schema per document and
    task) the hash of the sorted set of them."""
    if len(hashes) <= 1:
        return next(iter(hashes), None)
    return hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()


def rejected_counts(path: Path) -> dict[str, int]:
    """How many records and values grounding dropped or flagged, over the whole run (a line
    repeated by a rerun after a crash counts once)."""
    counts = dict.fromkeys(REJECTED_KEYS, 0)
    records: set[tuple[str, str, int]] = set()
    if path.exists():
        with path.open(encoding="utf-8") as lines:
            for line in dict.fromkeys(lines):
                finding = json.loads(line)
                if finding["level"] == "record":
                    key = (finding["doc_id"], finding["record_type"], finding["index"])
                    if key not in records:
                        records.add(key)
                        counts[f"records_{finding['action']}"] += 1
                else:
                    counts[f"values_{finding['action']}"] += 1
    return counts


REJECTED_KEYS = ("records_dropped", "records_flagged", "values_dropped", "values_flagged")


def support_totals(supports: Iterable[dict[str, Support] | None]) -> dict[str, Any]:
    """Support counts of the run by record type and overall, with their rates: the share of
    records (and values) whose evidence states them, before strict grounding dropped any."""
    totals: dict[str, dict[str, Any]] = {}
    for support in supports:
        for kind, counts in (support or {}).items():
            into = totals.setdefault(kind, dict.fromkeys(Support.model_fields, 0))
            for name in Support.model_fields:
                into[name] += getattr(counts, name)
    if totals:
        totals["all"] = {n: sum(t[n] for t in list(totals.values())) for n in Support.model_fields}
    for counts in totals.values():
        counts["support_rate"] = _rate(counts["records_supported"], counts["records"])
        counts["value_support_rate"] = _rate(counts["values_supported"], counts["values"])
    return totals


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def default_run_dir(runs_dir: Path, model: str, prompt: str, now: datetime | None = None) -> Path:
    """runs/<model>-<prompt>-<UTC timestamp>, with the provider's slash made a dash; -2, -3, ...
    after it when a run started in the same second already has that name (a rerun in an
    existing run directory would skip its documents as done)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = runs_dir / f"{model.replace('/', '-')}-{prompt}-{stamp}"
    run_dir, number = base, 1
    while run_dir.exists():
        number += 1
        run_dir = base.with_name(f"{base.name}-{number}")
    return run_dir


def point_latest(run_dir: Path, runs_dir: Path) -> None:
    """Make runs/latest a relative symlink to `run_dir`, replaced atomically, when the run lives
    in the runs folder; a run written elsewhere (--out) leaves runs/latest alone and puts no
    link beside itself, where it could replace a user's own file named `latest`."""
    if run_dir.resolve().parent != runs_dir.resolve():
        return
    link = runs_dir / "latest"
    tmp = runs_dir / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    os.replace(tmp, link)


def git_commit() -> str | None:
    """The commit of the working tree dealx runs from, when it is a git checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


@dataclass
class RunWriter:
    """Writes outcomes into RUN_DIR as they arrive and keeps the sums the manifest needs.

    Files are written on one writer thread, off the event loop, so that a slow disk does not
    hold up requests; `add` returns once the document's files are in place.
    """

    run_dir: Path
    totals: RunTotals = field(default_factory=RunTotals)

    def __post_init__(self) -> None:
        (self.run_dir / "records").mkdir(parents=True, exist_ok=True)
        for folder in (self.run_dir, self.run_dir / "records"):
            remove_stale_temp_files(folder)

    def skip_done(self, sources: Iterable[Source]) -> list[Source]:
        """The sources whose record is not yet in RUN_DIR; the others count as already done."""
        todo = []
        for source in sources:
            doc_id = source_id(source)
            if record_path(self.run_dir, doc_id).exists():
                self.totals.skipped.append(doc_id)
            else:
                todo.append(source)
        return todo

    def add(self, outcome: DocumentOutcome) -> None:
        """Write one document's outcome: its record, rejections and candidates, or its error."""
        totals, doc_id = self.totals, outcome.doc_id
        if outcome.record is None:
            totals.failed[doc_id] = outcome.error or "failed"
            append_jsonl(
                self.run_dir / "errors.jsonl", [{"doc_id": doc_id, "reason": outcome.error}]
            )
        else:
            if outcome.candidates is not None:
                folder = self.run_dir / "candidates"
                folder.mkdir(exist_ok=True)
                write_json(folder / f"{doc_id}.json", outcome.candidates)
            # Rejections first: a crash between the two redoes the document (a repeated
            # rejection line) rather than skipping it with its rejections lost.
            findings = [finding.to_json(doc_id) for finding in outcome.findings]
            append_jsonl(self.run_dir / "rejected.jsonl", findings)
            write_record(self.run_dir, outcome.record)
            totals.ok.append(doc_id)
            add_rows(totals.tables, table_rows(outcome.record))
            totals.supports.append(outcome.record.support)
        if outcome.source is not None or outcome.sha256 is not None:
            totals.inputs[doc_id] = {
                "path": str(outcome.source.resolve()) if outcome.source is not None else None,
                "sha256": outcome.sha256,
            }
        totals.stats.merge(outcome.stats)
        totals.rows.append(outcome.stats.row(doc_id, outcome.error))

    def finish(self, session: Session, started_at: datetime, wall_s: float) -> dict[str, Any]:
        """Rewrite errors.jsonl with the documents failed now (earlier failures were retried),
        write the flat tables and manifest.json; returns the manifest."""
        failures = sorted(self.totals.failed.items())
        write_atomic(
            self.run_dir / "errors.jsonl",
            jsonl_text([{"doc_id": d, "reason": r} for d, r in failures]),
        )
        return write_run_outputs(self.run_dir, session, self.totals, started_at, wall_s)


def write_run_outputs(
    run_dir: Path,
    session: Session,
    totals: RunTotals,
    started_at: datetime,
    wall_s: float,
) -> dict[str, Any]:
    """Write the flat tables and manifest.json for everything in RUN_DIR; returns the manifest."""
    # This invocation's rows are in memory; only the records of earlier invocations are re-read.
    rows: TableRows = {}
    supports = list(totals.supports)
    for record in read_records(run_dir, totals.skipped).values():
        add_rows(rows, table_rows(record))
        supports.append(record.support)
    add_rows(rows, totals.tables)
    tables = write_tables(run_dir, rows)
    write_document_table(run_dir, totals.rows)
    settings, extractor = session.settings, session.extractor
    s = totals.stats
    prices = price_per_mtok(settings.model)
    manifest: dict[str, Any] = {
        "model": settings.model,
        "base_url": strip_credentials(settings.base_url),
        "server_models": sorted(s.server_models),
        "prompt": extractor.prompt.name,
        "prompt_sha256": extractor.prompt.sha256,
        "schema_sha256": combined_sha256(extractor.schemas_used),
        "schemas": len(extractor.schemas_used),
        "git_commit": git_commit(),
        "versions": extractor.provenance["versions"],
        "cache": str(settings.cache) if settings.cache_mode != "off" else None,
        "cache_mode": settings.cache_mode,
        "concurrency": session.concurrency,
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_s": round(wall_s, 3),
        "documents": {
            "ok": len(totals.ok),
            "failed": len(totals.failed),
            "skipped_already_done": len(totals.skipped),
            "records_in_run": len(totals.ok) + len(totals.skipped),
        },
        "failed": totals.failed,
        "inputs": _inputs(run_dir, totals.inputs),
        "records": {name: len(frame) for name, frame in tables.items()},
        "strategy": settings.strategy,
        "grounding": settings.grounding,
        "rejected": rejected_counts(run_dir / "rejected.jsonl"),
        "support": support_totals(supports),
        "cache_hits": s.cache_hits,
        "cache_misses": s.cache_misses,
        "tokens_in": s.prompt_tokens,
        "tokens_out": s.completion_tokens,
        "recorded_tokens_in": s.recorded_prompt_tokens,
        "recorded_tokens_out": s.recorded_completion_tokens,
        "transport_retries": s.transport_retries,
        "reasks": s.reasks,
        "model_latency_s": round(s.latency_s, 3),
        "cost_usd": (
            round((s.prompt_tokens * prices[0] + s.completion_tokens * prices[1]) / 1e6, 6)
            if prices
            else None
        ),
    }
    write_json(run_dir / "manifest.json", manifest)
    return manifest


async def aextract_run(
    settings: Settings,
    sources: list[Source],
    run_dir: Path,
    on_progress: Callable[[RunTotals, int], None] | None = None,
) -> dict[str, Any]:
    """Extract every source not yet in `run_dir` into it; write the tables and the manifest.

    `on_progress(totals, todo)` is called after each document. Raises DealxError (after
    writing what was done) when the run cannot go on: the endpoint rejects the credentials,
    or the model server dies or does not start.
    """
    # The session (and its cache) is opened before the run dir exists: a bad --cache or an
    # unknown model leaves no empty run behind.
    session = Session(settings)
    writer = RunWriter(run_dir)
    point_latest(run_dir, settings.runs_dir)
    todo = writer.skip_done(sources)
    started_at, started = datetime.now(UTC), time.perf_counter()
    loop = asyncio.get_running_loop()
    fatal: DealxError | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dealx-writer") as disk:
        async with session:
            try:
                async for outcome in session.stream(todo):
                    await loop.run_in_executor(disk, writer.add, outcome)
                    if on_progress is not None:
                        on_progress(writer.totals, len(todo))
            except DealxError as stop:
                fatal = stop
        manifest = writer.finish(session, started_at, time.perf_counter() - started)
    if fatal is not None:
        raise fatal
    return manifest


def extract_run(
    settings: Settings,
    run_dir: Path,
    on_progress: Callable[[RunTotals, int], None] | None = None,
) -> dict[str, Any]:
    """`aextract_run` over the documents under `settings.paths` (the first `limit`), from
    synchronous code, also when an event loop is already running in this thread."""
    sources: list[Source] = list(list_documents(settings.paths))
    if settings.limit is not None:
        sources = sources[: settings.limit]
    return run_sync(aextract_run(settings, sources, run_dir, on_progress))


def _inputs(run_dir: Path, this_run: dict[str, dict[str, str | None]]) -> dict[str, Any]:
    """Each document's input path and text hash: this invocation's, and those an earlier
    invocation of the same run recorded (kept for the documents skipped as done)."""
    earlier: dict[str, Any] = {}
    path = run_dir / "manifest.json"
    if path.is_file():
        try:
            earlier = json.loads(path.read_text(encoding="utf-8")).get("inputs") or {}
        except (OSError, ValueError, AttributeError):
            earlier = {}
    return dict(sorted({**earlier, **this_run}.items()))
