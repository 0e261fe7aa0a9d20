"""The batch runner: documents -> bounded concurrent extraction -> run directory.

Each document is isolated (a failure is written to errors.jsonl and the rest go on), finished
documents are skipped on a rerun, and the manifest sums up what the run cost.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.extraction.documents import list_documents, read_document
from pipeline.extraction.extractor import DocStats, Extractor
from pipeline.extraction.grounding import ground
from pipeline.extraction.prompts import load_prompt
from pipeline.extraction.request import strip_credentials
from pipeline.failures import describe_failure, fatal_for_run
from pipeline.providers.endpoint import price_per_mtok, resolve_endpoint
from pipeline.settings import Settings
from pipeline.store.cache import ResponseCache
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


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]extract"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
    )


async def run_batch(
    paths: list[Path],
    extractor: Extractor,
    run_dir: Path,
    console: Console,
) -> tuple[RunTotals, DealxError | None]:
    """Extract every document not yet in RUN_DIR/records; returns the totals and a run-fatal
    error if one stopped the run (documents not reached stay unwritten, for a rerun)."""
    totals = RunTotals()
    errors_path = run_dir / "errors.jsonl"
    rejected_path = run_dir / "rejected.jsonl"
    candidates_dir = run_dir / "candidates"
    if extractor.settings.strategy == "constrained":
        candidates_dir.mkdir(exist_ok=True)
    todo = []
    for path in paths:
        if record_path(run_dir, path.stem).exists():
            totals.skipped.append(path.stem)
        else:
            todo.append(path)
    settings = extractor.settings
    workers = min(extractor.endpoint.max_concurrency or settings.concurrency, settings.concurrency)
    pending = iter(todo)
    fatal: list[DealxError] = []

    with _progress(console) as progress:
        task = progress.add_task("extract", total=len(todo), info="")

        def show() -> None:
            s = totals.stats
            info = (
                f"ok {len(totals.ok)} failed {len(totals.failed)} "
                f"hits {s.cache_hits} tokens {s.prompt_tokens + s.completion_tokens}"
            )
            progress.update(task, completed=len(totals.ok) + len(totals.failed), info=info)

        async def extract_one(path: Path) -> None:
            doc_id, stats, reason = path.stem, DocStats(), None
            try:
                document = read_document(path)  # an unreadable file fails alone
                extracted = await extractor.extract(document, stats)
                record, findings = ground(extracted.record, document.text, settings.grounding)
                if extracted.candidates is not None:
                    write_json(candidates_dir / f"{doc_id}.json", extracted.candidates)
                # Rejections first: a crash between the two redoes the document (a repeated
                # rejection line) rather than skipping it with its rejections lost.
                append_jsonl(rejected_path, [f.to_json(doc_id) for f in findings])
                write_record(run_dir, record)
            except Exception as exc:
                stop = fatal_for_run(exc)
                if stop is not None:
                    fatal.append(stop)
                    return
                reason = describe_failure(exc)
                totals.failed[doc_id] = reason
                append_jsonl(errors_path, [{"doc_id": doc_id, "reason": reason}])
            else:
                totals.ok.append(doc_id)
                add_rows(totals.tables, table_rows(record))
                totals.supports.append(record.support)
            totals.stats.merge(stats)
            totals.rows.append(stats.row(doc_id, reason))
            show()

        async def worker() -> None:
            # A fixed pool of workers takes the documents in order, so only `workers` of them
            # are read into memory or in flight at any time, however long the batch.
            for path in pending:
                if fatal:
                    return
                await extract_one(path)

        await asyncio.gather(*(worker() for _ in range(min(workers, len(todo)))))
    # errors.jsonl lists the documents that are failed now: earlier failures were retried.
    failures = sorted(totals.failed.items())
    write_atomic(errors_path, jsonl_text([{"doc_id": d, "reason": r} for d, r in failures]))
    return totals, (fatal[0] if fatal else None)


def write_run_outputs(
    run_dir: Path,
    extractor: Extractor,
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
    settings = extractor.settings
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
        "concurrency": min(
            settings.concurrency, extractor.endpoint.max_concurrency or settings.concurrency
        ),
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


def extract_run(settings: Settings, run_dir: Path, console: Console) -> dict[str, Any]:
    """Load the documents, extract them into `run_dir`, write the tables and the manifest.

    Raises DealxError (after writing what was done) when the run cannot go on: the endpoint
    rejects the credentials, or the model server does not start.
    """
    paths = list_documents(settings.paths)
    if settings.limit is not None:
        paths = paths[: settings.limit]
    endpoint = resolve_endpoint(settings)
    prompt = load_prompt(settings.prompt_name)
    # The cache is opened before the run dir exists: a bad --cache leaves no empty run behind.
    cache = ResponseCache(settings.cache) if settings.cache_mode != "off" else None
    (run_dir / "records").mkdir(parents=True, exist_ok=True)
    for folder in (run_dir, run_dir / "records"):
        remove_stale_temp_files(folder)
    point_latest(run_dir, settings.runs_dir)
    started_at, started = datetime.now(UTC), time.perf_counter()
    extractor = Extractor(settings, endpoint, prompt, cache)

    async def batch() -> tuple[RunTotals, DealxError | None]:
        try:
            return await run_batch(paths, extractor, run_dir, console)
        finally:
            await endpoint.close()

    try:
        totals, fatal = asyncio.run(batch())
    finally:
        if cache is not None:
            cache.close()
    manifest = write_run_outputs(
        run_dir, extractor, totals, started_at, time.perf_counter() - started
    )
    if fatal is not None:
        raise fatal
    return manifest
