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
from collections import deque
from collections.abc import AsyncIterable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.batch.ledger import unfinished_batch
from pipeline.budget import Budget, Spend
from pipeline.engine import DocumentOutcome, Session, Source, run_sync, source_id
from pipeline.extraction.call_estimate import CallEstimate
from pipeline.extraction.documents import list_documents, printable
from pipeline.extraction.extractor import DocStats
from pipeline.extraction.request import strip_credentials
from pipeline.pricing import Price, cost_usd
from pipeline.settings import Settings
from pipeline.store.row_spool import RowSpool
from pipeline.store.run_dir import (
    append_jsonl,
    check_run_layout,
    jsonl_text,
    read_document_table,
    read_record,
    record_in_the_way,
    record_path,
    remove_stale_temp_files,
    table_rows,
    write_atomic,
    write_atomic_parts,
    write_document_table,
    write_json,
    write_record,
    write_tables,
)
from pipeline.store.run_files import JsonFileError, read_json_file
from pipeline.store.run_lock import run_dir_lock
from schemas.errors import DealxError, InputError
from schemas.records import Support


@dataclass
class RunTotals:
    """Sums over the documents of one invocation; the rows of its tables wait in `spool`."""

    # repr=False: asyncio.run reprs its finished main task (whose result holds these totals)
    # when it restores the SIGINT handler; a repr of thousands of ids took 0.3 s.
    ok: list[str] = field(default_factory=list, repr=False)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # already done by an earlier invocation
    # Support counts summed by record type as documents arrive (not kept per document).
    support_sums: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    stats: DocStats = field(default_factory=DocStats)
    spool: RowSpool = field(default_factory=RowSpool, repr=False)
    # A batch run's Batch API tokens (in, out) over all its invocations, from its ledger.
    batch_tokens: tuple[int, int] | None = None


def combined_sha256(hashes: Iterable[str]) -> tuple[str | None, int]:
    """The run's schema hash and how many distinct schemas it used, from their hashes, distinct
    and sorted: the one hash of a plain run; for a constrained run (a schema per document and
    task) the SHA-256 of the hashes joined by line breaks."""
    combined, first, count = hashlib.sha256(), None, 0
    for schema in hashes:
        combined.update((b"\n" if count else b"") + schema.encode())
        first, count = first or schema, count + 1
    return (first if count <= 1 else combined.hexdigest()), count


def rejected_counts(path: Path) -> dict[str, int]:
    """How many records and values grounding dropped or flagged, over the whole run (a line
    repeated by a rerun after a crash counts once; a line that is not a finding, such as one
    a crash cut short mid-append, is not counted)."""
    counts = dict.fromkeys(REJECTED_KEYS, 0)
    records: set[tuple[str, str, int]] = set()
    if path.exists():
        with path.open("rb") as lines:
            for line in dict.fromkeys(lines):
                finding = _finding(line)
                if finding is None:
                    continue
                level, action, key = finding
                if level == "value":
                    counts[f"values_{action}"] += 1
                elif key not in records:
                    records.add(key)
                    counts[f"records_{action}"] += 1
    return counts


def _finding(line: bytes) -> tuple[str, str, tuple[str, str, int]] | None:
    """A line of rejected.jsonl as (level, action, the record's key), or None when it is not
    one grounding wrote."""
    try:
        finding = json.loads(line)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past Python's stack
        return None
    if not isinstance(finding, dict):
        return None
    level, action = finding.get("level"), finding.get("action")
    key = (finding.get("doc_id"), finding.get("record_type"), finding.get("index"))
    if level not in ("record", "value") or action not in ("dropped", "flagged"):
        return None
    if not (isinstance(key[0], str) and isinstance(key[1], str) and isinstance(key[2], int)):
        return None
    return level, action, key


REJECTED_KEYS = ("records_dropped", "records_flagged", "values_dropped", "values_flagged")
# Finished documents that may wait for the writer thread at once.
WRITES_AHEAD = 16


def add_support(sums: dict[str, dict[str, int]], support: dict[str, Support] | None) -> None:
    """Add one document's support counts to the sums by record type."""
    for kind, counts in (support or {}).items():
        into = sums.setdefault(kind, dict.fromkeys(Support.model_fields, 0))
        for name in Support.model_fields:
            into[name] += getattr(counts, name)


def support_totals(sums: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Support counts of the run by record type and overall, with their rates: the share of
    records (and values) whose evidence states them, before strict grounding dropped any."""
    totals: dict[str, dict[str, Any]] = {kind: dict(counts) for kind, counts in sums.items()}
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
    link beside itself, where it could replace a user's own file named `latest`. Only a
    symlink is replaced: a user's own file or folder named runs/latest stays as it is."""
    if run_dir.resolve().parent != runs_dir.resolve():
        return
    link = runs_dir / "latest"
    if link.exists() and not link.is_symlink():
        return
    tmp = runs_dir / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_dir.name)
    try:
        os.replace(tmp, link)
    except OSError:  # a folder made there since the check: it stays, and no stray link
        tmp.unlink(missing_ok=True)


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

    `add` returns once the document's files are in place; one thread at a time calls it (see
    `write_outcomes`, which decides which).
    """

    run_dir: Path
    price: Price | None = None
    totals: RunTotals = field(default_factory=RunTotals)
    # What the earlier invocations of the run spent, read before this one writes anything.
    earlier: RunSpend = field(init=False)
    # The manifest the last of them wrote (None: none, or unreadable).
    earlier_manifest: dict[str, Any] | None = field(init=False, repr=False)
    # Documents to extract again (no valid record) whose findings in rejected.jsonl, from an
    # earlier extraction of them, are not yet dropped.
    _redo: set[str] = field(default_factory=set, repr=False)
    # The inputs' folders, resolved once: resolving a path lstats each of its components.
    _folders: dict[Path, Path] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # InputError, before any document is extracted, for a run this one cannot finish.
        check_run_layout(self.run_dir)
        self.earlier_manifest, self.earlier = _earlier_run(self.run_dir)
        (self.run_dir / "records").mkdir(parents=True, exist_ok=True)
        for folder in (self.run_dir, self.run_dir / "records"):
            remove_stale_temp_files(folder)

    def check_settings(self, session: Session) -> None:
        """InputError when the earlier invocations of the run extracted with another model,
        strategy, prompt (name or text) or grounding than `session` (see check_same_settings)."""
        check_same_settings(self.run_dir, self.earlier_manifest, session)

    def skip_done(self, sources: Iterable[Source]) -> list[Source]:
        """The sources to extract: those `already_done` says are not."""
        return [source for source in sources if not self.already_done(source_id(source))]

    def already_done(self, doc_id: str) -> bool:
        """Whether there is nothing to extract for `doc_id`: its record in RUN_DIR reads back
        as a valid record of the document (it counts as skipped, read here, once, into the
        run's tables and support sums), or a folder stands where the record goes (the
        document fails alone). A damaged record is rewritten when its document is extracted
        again, and the earlier findings of a document extracted again are dropped."""
        if not os.path.lexists(record_path(self.run_dir, doc_id)):
            # The common case, a document not extracted yet: one lstat. (Or a crash came
            # between its findings and its record.)
            self._redo.add(doc_id)
            return False
        record = read_record(self.run_dir, doc_id)
        if record is not None:
            self.totals.spool.add_document(record.doc_id, table_rows(record))
            add_support(self.totals.support_sums, record.support)
            self.totals.skipped.append(doc_id)
            return True
        self._redo.add(doc_id)
        if record_in_the_way(self.run_dir, doc_id):
            path = printable(str(record_path(self.run_dir, doc_id)))
            reason = f"{path}: a folder where the record goes; move it away and rerun"
            self.add(DocumentOutcome(doc_id, None, DocStats(), reason))
            return True
        return False

    def add(self, outcome: DocumentOutcome) -> None:
        """Write one document's outcome: its record, rejections and candidates, or its error."""
        if self._redo:
            self._drop_earlier_findings()
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
            add_support(totals.support_sums, outcome.record.support)
        totals.stats.merge(outcome.stats)
        row = outcome.stats.row(doc_id, outcome.error)
        s = outcome.stats
        row["cost_usd"] = cost_usd(
            self.price,
            s.prompt_tokens,
            s.completion_tokens,
            s.batch_prompt_tokens,
            s.batch_completion_tokens,
        )
        totals.spool.add_document(
            doc_id,
            table_rows(outcome.record) if outcome.record is not None else {},
            {**row, **outcome.extra_columns},
            self._resolved(outcome.source) if outcome.source is not None else None,
            outcome.sha256,
            outcome.stats.schemas,
        )

    def _drop_earlier_findings(self) -> None:
        """Drop the lines of rejected.jsonl that belong to the documents to extract again: an
        earlier extraction's findings, which their new ones replace (the same ones only for
        the same answers). Called before the first document is written, so the file is
        rewritten at most once an invocation, and only when it holds such a line."""
        redo, self._redo = self._redo, set()
        path = self.run_dir / "rejected.jsonl"

        def kept(line: bytes) -> bool:
            finding = _finding(line)
            return finding is None or finding[2][0] not in redo

        try:
            with path.open("rb") as lines:
                if all(map(kept, lines)):
                    return
                lines.seek(0)
                # A line that is not UTF-8 is not a finding: it stays, as far as it reads.
                write_atomic_parts(
                    path, (line.decode("utf-8", "replace") for line in lines if kept(line))
                )
        except FileNotFoundError:
            return

    def _resolved(self, path: Path) -> str:
        """`path.resolve()` as text; the folder is resolved once per run, the file itself is
        only checked for being a link."""
        if path.name in ("", "..") or os.path.islink(path):
            return _text_path(path.resolve())
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        return _text_path(folder / path.name)

    def finish(
        self,
        session: Session,
        started_at: datetime,
        wall_s: float,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Rewrite errors.jsonl with the documents failed now (earlier failures were retried),
        write the flat tables and manifest.json (with `extra` sections); returns the manifest."""
        if self._redo:  # documents not reached (Ctrl-C, budget): they have no record
            self._drop_earlier_findings()
        failures = sorted(self.totals.failed.items())
        write_atomic(
            self.run_dir / "errors.jsonl",
            jsonl_text([{"doc_id": d, "reason": r} for d, r in failures]),
        )
        try:
            return write_run_outputs(
                self.run_dir,
                session,
                self.totals,
                (self.earlier_manifest, self.earlier),
                started_at,
                wall_s,
                extra,
            )
        finally:
            self.totals.spool.close()


def write_run_outputs(
    run_dir: Path,
    session: Session,
    totals: RunTotals,
    earlier_run: tuple[dict[str, Any] | None, RunSpend],
    started_at: datetime,
    wall_s: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the flat tables and manifest.json for everything in RUN_DIR, whose rows (those of
    the documents skipped as done included) are in `totals.spool`; returns the manifest.
    Tokens and cost are this invocation's; `run` sums them over every invocation of the run.
    `earlier_run` is what RunWriter read before the run: the last manifest and what the other
    invocations spent."""
    earlier_manifest, earlier = earlier_run
    spool = totals.spool
    table_counts = write_tables(run_dir, spool)
    schema_sha256, schemas = combined_sha256(spool.schemas())
    write_document_table(run_dir, spool)
    settings, extractor = session.settings, session.extractor
    s = totals.stats
    spent = session.spend(s)
    # Live tokens add up over invocations; batch tokens come whole from the ledger, since a
    # document written as failed and retried later would count its batch answers twice.
    batch_in, batch_out = totals.batch_tokens or (earlier.batch_in, earlier.batch_out)
    run = RunSpend(
        earlier.live_in + s.prompt_tokens,
        earlier.live_out + s.completion_tokens,
        batch_in,
        batch_out,
    )
    manifest: dict[str, Any] = {
        "model": settings.model,
        "base_url": strip_credentials(settings.base_url),
        "server_models": sorted(s.server_models),
        "prompt": extractor.prompt.name,
        "prompt_sha256": extractor.prompt.sha256,
        "schema_sha256": schema_sha256,
        "schemas": schemas,
        # Temperature and seed tell the samples of `extract --repeat` apart.
        "decoding": extractor.request_settings.decoding,
        "git_commit": git_commit(),
        "versions": extractor.provenance["versions"],
        "cache": _text_path(settings.cache) if settings.cache_mode != "off" else None,
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
        "inputs": _inputs(earlier_manifest, spool.inputs()),
        "records": table_counts,
        "strategy": settings.strategy,
        "grounding": settings.grounding,
        "rejected": rejected_counts(run_dir / "rejected.jsonl"),
        "support": support_totals(totals.support_sums),
        "cache_hits": s.cache_hits,
        "cache_misses": s.cache_misses,
        "tokens_in": s.prompt_tokens,
        "tokens_out": s.completion_tokens,
        "batch_tokens_in": s.batch_prompt_tokens,
        "batch_tokens_out": s.batch_completion_tokens,
        "recorded_tokens_in": s.recorded_prompt_tokens,
        "recorded_tokens_out": s.recorded_completion_tokens,
        "transport_retries": s.transport_retries,
        "reasks": s.reasks,
        "model_latency_s": round(s.latency_s, 3),
        # None: the model has no price (tokens are still counted).
        "cost_usd": spent.cost_usd,
        "price": asdict(session.price) if session.price is not None else None,
        "run": run.to_json(session.price),
        "budget": {"max_cost_usd": settings.max_cost_usd, "budget_tokens": settings.budget_tokens},
        **(extra or {}),
    }
    write_json(run_dir / "manifest.json", manifest)
    return manifest


async def write_outcomes(
    writer: RunWriter,
    outcomes: AsyncIterable[DocumentOutcome],
    on_written: Callable[[], None] | None = None,
) -> None:
    """Write each outcome into the run directory as it arrives, calling `on_written()` after
    each. A document that called the model is written on a thread of its own, while the event
    loop waits for the answers of the next ones; at most WRITES_AHEAD finished documents wait
    for that thread, so memory stays bounded. A document answered from the cache alone is
    written here: then the loop never waits, and the thread would only take turns with it
    for the GIL (a replay ran at 1.0 ms a document with every record written on the thread,
    0.67 ms with none). Whatever ends the iteration (a Ctrl-C, a run-fatal error), the
    documents handed to the thread are written before this returns or raises."""
    loop = asyncio.get_running_loop()
    writes: deque[asyncio.Future[None]] = deque()

    async def wait(more_than: int) -> None:
        while writes and (writes[0].done() or len(writes) > more_than):
            # Shielded: a Ctrl-C while waiting must not cancel a write the thread has not
            # started yet; leaving the executor below waits for every write handed to it.
            await asyncio.shield(writes.popleft())
            if on_written is not None:
                on_written()

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dealx-writer") as disk:
        async for outcome in outcomes:
            if outcome.stats.cache_misses:
                writes.append(loop.run_in_executor(disk, writer.add, outcome))
                await wait(WRITES_AHEAD)
                continue
            await wait(0)  # one thread at a time writes the run
            writer.add(outcome)
            if on_written is not None:
                on_written()
        await wait(0)


async def aextract_run(
    settings: Settings,
    sources: list[Source],
    run_dir: Path,
    on_progress: Callable[[RunTotals, int], None] | None = None,
    on_start: Callable[[str, CallEstimate], None] | None = None,
) -> dict[str, Any]:
    """Extract every source not yet in `run_dir` into it; write the tables and the manifest.

    `on_progress(totals, todo)` is called after each document, `on_start(doc_id, estimate)`
    before a document longer than one chunk starts (see Session.stream). Raises DealxError
    (after writing what was done) when the run cannot go on: the endpoint rejects the
    credentials, the model server dies or does not start, or the next document would take the
    run past its budget (BudgetExceeded; earlier invocations' spend counts against it).
    """
    # The session (and its cache) is opened before the run dir exists: a bad --cache or an
    # unknown model leaves no empty run behind.
    session = Session(settings)
    with ExitStack() as held:
        try:
            held.enter_context(run_dir_lock(run_dir))
        except BaseException:
            await session.__aexit__(None, None, None)
            raise
        try:
            writer = RunWriter(run_dir, session.price)
            writer.check_settings(session)
            if (running := unfinished_batch(run_dir)) is not None:
                raise InputError(
                    f"{printable(str(run_dir))}: its batch is still out ({running}); collect it "
                    "with dealx batch collect, or cancel it, instead of paying for those requests "
                    "again live"
                )
            budget = Budget(settings, session.price, writer.earlier.spend(session.price))
        except BaseException:
            await session.__aexit__(None, None, None)
            raise
        todo = writer.skip_done(sources)
        started_at, started = datetime.now(UTC), time.perf_counter()
        fatal: DealxError | None = None
        interrupted = False

        def progress() -> None:
            if on_progress is not None:
                on_progress(writer.totals, len(todo))

        async with session:
            try:
                await write_outcomes(writer, session.stream(todo, budget, on_start), progress)
            except DealxError as stop:
                fatal = stop
            except asyncio.CancelledError:
                # Ctrl-C (asyncio.run cancels this task): what is done is written and the
                # manifest says the run is partial; a rerun resumes it.
                interrupted = True
        extra = {"interrupted": interrupted}
        manifest = writer.finish(session, started_at, time.perf_counter() - started, extra)
    if interrupted:
        raise asyncio.CancelledError
    if fatal is not None:
        raise fatal
    # Only a run that went to its end becomes runs/latest.
    point_latest(run_dir, settings.runs_dir)
    return manifest


def extract_run(
    settings: Settings,
    run_dir: Path,
    on_progress: Callable[[RunTotals, int], None] | None = None,
    sources: list[Source] | None = None,
    on_start: Callable[[str, CallEstimate], None] | None = None,
) -> dict[str, Any]:
    """`aextract_run` over `sources`, by default the documents under `settings.paths` (the
    first `limit`), from synchronous code, also when an event loop is already running in
    this thread."""
    if sources is None:
        sources = list(list_documents(settings.paths))
    if settings.limit is not None:
        sources = sources[: settings.limit]
    return run_sync(aextract_run(settings, sources, run_dir, on_progress, on_start))


def _shown(value: str) -> str:
    """A setting fit for a one-line message (a manifest's may have been edited to anything); a
    SHA-256 shortened to 12 digits, enough to tell two apart."""
    if len(value) == 64 and all(char in "0123456789abcdef" for char in value):
        return value[:12]
    return printable(value[:100])


def _text_path(path: Path) -> str:
    """A path as text the manifest can hold: bytes of a name that are not UTF-8 (which Python
    keeps as lone surrogates, and no UTF-8 file can) are written as \\xNN escapes."""
    text = str(path)
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _inputs(
    earlier_manifest: dict[str, Any] | None, this_run: dict[str, dict[str, str | None]]
) -> dict[str, Any]:
    """Each document's input path and text hash: this invocation's, and those the earlier
    manifest of the same run recorded (kept for the documents skipped as done)."""
    inputs = earlier_manifest.get("inputs") if earlier_manifest is not None else None
    # An entry of another shape than this function writes is not kept.
    earlier = {
        doc_id: entry
        for doc_id, entry in (inputs.items() if isinstance(inputs, dict) else ())
        if isinstance(entry, dict)
        and set(entry) == {"path", "sha256"}
        and all(isinstance(value, str | None) for value in entry.values())
    }
    return dict(sorted({**earlier, **this_run}.items()))


def check_same_settings(run_dir: Path, earlier: dict[str, Any] | None, session: Session) -> None:
    """InputError when `earlier` (the manifest in RUN_DIR, None when there is none or it cannot
    be read) says the run was extracted with another model, strategy, prompt (name or text) or
    grounding than `session`: the records would mix, and the manifest would credit them all,
    and price their tokens, to this one's. A setting it does not record is not compared."""
    if earlier is None:
        return
    settings, prompt = session.settings, session.extractor.prompt
    now = {
        "model": settings.model,
        "strategy": settings.strategy,
        "prompt": prompt.name,
        "prompt_sha256": prompt.sha256,
        "grounding": settings.grounding,
    }
    differences = {
        name: f"{name} {_shown(before)}, not {_shown(value)}"
        for name, value in now.items()
        if isinstance(before := earlier.get(name), str) and before != value
    }
    if "prompt" in differences:  # another prompt has other text: saying so adds nothing
        differences.pop("prompt_sha256", None)
    if differences:
        raise InputError(
            f"{printable(str(run_dir))}: extracted with "
            f"{', and '.join(differences.values())}; "
            "rerun with the same settings to resume, or choose another --out"
        )


def check_resume(run_dir: Path, session: Session) -> None:
    """check_same_settings against the manifest in RUN_DIR, for a step that writes no run yet
    (a batch submit, which would otherwise pay for a batch the collect then refuses)."""
    try:
        earlier = _earlier_manifest(run_dir)
    except FileNotFoundError:
        return
    check_same_settings(run_dir, earlier, session)


def _earlier_manifest(run_dir: Path) -> dict[str, Any] | None:
    """The manifest an earlier invocation wrote, or None when it cannot be read as a JSON
    object (cut short, emptied, not UTF-8); FileNotFoundError when there is none."""
    try:
        manifest = read_json_file(run_dir / "manifest.json")
    except JsonFileError as exc:
        if isinstance(exc.__cause__, FileNotFoundError):
            raise exc.__cause__ from None
        return None
    return manifest if isinstance(manifest, dict) else None


@dataclass(frozen=True)
class RunSpend:
    """The tokens of every invocation of a run: live calls and Batch API answers."""

    live_in: int = 0
    live_out: int = 0
    batch_in: int = 0
    batch_out: int = 0

    def spend(self, price: Price | None) -> Spend:
        cost = cost_usd(price, self.live_in, self.live_out, self.batch_in, self.batch_out)
        return Spend(self.live_in + self.batch_in, self.live_out + self.batch_out, cost)

    def to_json(self, price: Price | None) -> dict[str, Any]:
        """The manifest's `run` section; cost_usd None: no price for the model."""
        total = self.spend(price)
        return {
            "tokens_in": total.tokens_in,
            "tokens_out": total.tokens_out,
            "live_tokens_in": self.live_in,
            "live_tokens_out": self.live_out,
            "batch_tokens_in": self.batch_in,
            "batch_tokens_out": self.batch_out,
            "cost_usd": total.cost_usd,
        }


def run_spend(run_dir: Path) -> RunSpend:
    """What earlier invocations of the run spent, from the manifest the last one wrote
    (nothing for a new run; an invocation killed before its manifest is not counted).

    A manifest that is there but gives no spend (cut short, emptied) is made up for by
    documents.csv: its documents' tokens, a lower bound, since a document retried keeps only
    its last row. InputError when neither can be read: a budget cannot count an unknown
    spend."""
    return _earlier_run(run_dir)[1]


def _earlier_run(run_dir: Path) -> tuple[dict[str, Any] | None, RunSpend]:
    """The manifest the last invocation of the run wrote (None: none, or unreadable) and
    `run_spend`, from one read of it."""
    try:
        manifest = _earlier_manifest(run_dir)
    except FileNotFoundError:
        return None, RunSpend()
    run = manifest.get("run") if manifest is not None else None
    if isinstance(run, dict):
        try:
            return manifest, RunSpend(*(_count(run.get(name)) for name in MANIFEST_SPEND))
        except ValueError:
            pass  # a damaged `run` section: documents.csv tells more than nothing
    spend = _documents_spend(run_dir)
    if spend is None:
        path = printable(str(run_dir / "manifest.json"))
        raise InputError(
            f"{path}: cannot be read, nor documents.csv beside it, so what the run spent so "
            "far is unknown; restore it, or delete it to count that spend as 0, or choose "
            "another --out"
        )
    return manifest, spend


# The manifest's `run` entries and documents.csv's columns that RunSpend sums, in its order.
MANIFEST_SPEND = ("live_tokens_in", "live_tokens_out", "batch_tokens_in", "batch_tokens_out")
DOCUMENT_SPEND = ("tokens_in", "tokens_out", "batch_tokens_in", "batch_tokens_out")


def _count(value: Any) -> int:
    """A token count as a manifest (a number) or documents.csv (text) holds it; ValueError for
    anything else."""
    if isinstance(value, bool) or not isinstance(value, int | str) or int(value) < 0:
        raise ValueError(f"not a token count: {value!r}")
    return int(value)


def _documents_spend(run_dir: Path) -> RunSpend | None:
    """The tokens of every document in documents.csv, or None when it cannot be read; a row
    whose counts cannot be read is left out (the sum stays a lower bound)."""
    sums = [0] * len(DOCUMENT_SPEND)
    try:
        with read_document_table(run_dir) as (columns, rows):
            if not set(DOCUMENT_SPEND) <= set(columns):
                return None
            for row in rows:
                try:
                    counts = [_count(row[name]) for name in DOCUMENT_SPEND]
                except ValueError:
                    continue
                sums = [total + count for total, count in zip(sums, counts, strict=True)]
    except OSError:
        return None
    return RunSpend(*sums)
