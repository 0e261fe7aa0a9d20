"""Batch runs: `extract --batch` submits a run's requests to the provider's Batch API, and
`collect` turns what comes back into the run directory, accounting for every request.

The steps, each safe to interrupt and rerun (the ledger, pipeline.batch.ledger, is the record):
prepare (input files and ledger rows; redone from scratch until a file is uploaded), submit
(upload each part, create its batch, record both ids; a batch created but not recorded is
found again by its input file), collect (wait, read the result files, validate the answers
into the cache), then write the documents whose requests all ended, as a live run would.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import openai

from pipeline.batch.client import TERMINAL, BatchClient
from pipeline.batch.collect import mark_answered_by_cache, read_results, validate_answers
from pipeline.batch.jsonl import OPENAI_LIMITS, Limits, PartWriter, RequestBodies, request_line
from pipeline.batch.ledger import RETRYABLE, STATUSES, WAITING, Ledger
from pipeline.budget import CHARS_PER_TOKEN, Budget, Spend
from pipeline.engine import DocumentOutcome, Session, run_sync
from pipeline.extraction.documents import list_documents, read_document
from pipeline.extraction.extractor import DocStats
from pipeline.failures import describe_failure, fatal_for_run
from pipeline.pricing import Price, parse_prices
from pipeline.runner import RunWriter, check_resume, run_spend, write_outcomes
from pipeline.settings import Settings
from pipeline.store.run_dir import read_record
from pipeline.store.run_lock import run_dir_lock
from schemas.errors import (
    BatchApiError,
    BatchPending,
    BudgetExceeded,
    ConfigError,
    InputError,
)

Retry = Literal["live", "batch"]
# What the progress callback is told: the step, and how far it is (done, total).
OnProgress = Callable[[str, int, int], None]
# Settings that shape the requests: a rerun with other values would send other requests.
REQUEST_SETTINGS = ("model", "base_url", "prompt", "strategy", "max_tokens", "context_tokens")
DEFAULT_POLL_S = 30.0


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch run stands: its requests by status and each part's batch."""

    run_dir: Path
    counts: dict[str, int]
    parts: list[dict[str, Any]]

    @property
    def requests(self) -> int:
        return sum(self.counts.values())

    @property
    def waiting(self) -> int:
        return sum(self.counts[status] for status in WAITING)

    def to_json(self) -> dict[str, Any]:
        """The manifest's `batch` section."""
        return {"requests": self.requests, **self.counts, "parts": self.parts}


@contextmanager
def _provider_errors() -> Iterator[None]:
    """An error of the Files or Batches endpoints as one line: a rejected key is AuthError
    (exit 3), anything else BatchApiError (exit 2); the ledger keeps what was done."""
    try:
        yield
    except openai.APIError as exc:
        if (fatal := fatal_for_run(exc)) is not None:
            raise fatal from exc
        raise BatchApiError(
            f"the provider's Batch API: {describe_failure(exc)}; rerun to resume"
        ) from exc


# -- settings kept with the run ------------------------------------------------------------


def _settings_json(settings: Settings) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if f.name == "paths":
            value = [str(path) for path in value]
        elif f.name == "prices":
            value = {spec: asdict(price) for spec, price in value.items()}
        elif isinstance(value, Path):
            value = str(value)
        values[f.name] = value
    return values


def _settings_from_json(values: object) -> Settings:
    if not isinstance(values, dict):
        raise TypeError(f"they are {type(values).__name__}, not an object")
    known = {f.name: f for f in fields(Settings)}
    kept = {name: value for name, value in values.items() if name in known}
    for name in ("cache", "runs_dir"):
        kept[name] = Path(kept[name])
    kept["paths"] = [Path(path) for path in kept["paths"]]
    kept["prices"] = parse_prices(kept.get("prices") or {})
    return Settings(**kept)


def run_settings(run_dir: Path) -> Settings:
    """The settings a batch run was submitted with (InputError for a folder that holds none)."""
    with Ledger(run_dir, create=False) as ledger:
        try:
            return _settings_from_json(ledger.get_meta("settings"))
        # What a hand-edited value can raise: not JSON, nested too deeply, a setting missing
        # or of the wrong type, or one Settings refuses.
        except (ValueError, TypeError, KeyError, RecursionError, ConfigError) as exc:
            raise InputError(
                f"{ledger.path}: the batch ledger is damaged (its settings cannot be read: {exc})"
            ) from exc


def _check_batchable(settings: Settings) -> None:
    if not settings.model.startswith("openai/"):
        raise ConfigError(
            f"--batch: {settings.model} has no Batch API; use an openai/ model (OpenAI, or a "
            "server with the Files and Batches endpoints via --base-url)"
        )
    if settings.cache_mode in ("off", "replay"):
        raise ConfigError(
            f"--batch: cache mode {settings.cache_mode} cannot work; batch answers are stored "
            "in the cache (use readwrite or refresh)"
        )


# -- prepare and submit --------------------------------------------------------------------


def _prepare(session: Session, ledger: Ledger, run_dir: Path, limits: Limits) -> None:
    """Write every request of the documents not yet done into input files and the ledger.
    A request the cache already answers is ok (via cache) and is not sent; a request shared
    by two documents is sent once."""
    settings, cache = session.settings, session.cache
    assert cache is not None
    sources = list_documents(settings.paths)
    if settings.limit is not None:
        sources = sources[: settings.limit]
    writer = PartWriter(ledger, limits)
    bodies = RequestBodies()
    db = ledger.db
    max_tokens = settings.max_tokens
    with db:
        for path in sources:
            if read_record(run_dir, path.stem) is not None:
                continue  # written by an earlier live run into the same folder
            try:
                document = read_document(path)
                requests = session.extractor.requests_for(document)[0]
            except Exception as exc:
                db.execute(
                    "INSERT OR REPLACE INTO docs VALUES (?, ?, ?)",
                    (path.stem, str(path.resolve()), describe_failure(exc)),
                )
                continue
            db.execute(
                "INSERT OR REPLACE INTO docs VALUES (?, ?, NULL)",
                (document.doc_id, str(path.resolve())),
            )
            for request in requests:
                key = request.cache_key()
                db.execute(
                    "INSERT OR IGNORE INTO doc_requests VALUES (?, ?)", (document.doc_id, key)
                )
                if settings.cache_mode == "readwrite" and cache.get_answer(key) is not None:
                    db.execute(
                        "INSERT OR IGNORE INTO requests (custom_id, status, via) "
                        "VALUES (?, 'ok', 'cache')",
                        (key,),
                    )
                    continue
                line = request_line(key, bodies(request))
                # The prompt estimate: the characters of what is sent (messages and schema).
                inserted = db.execute(
                    "INSERT OR IGNORE INTO requests (custom_id, status, estimate_in, estimate_out) "
                    "VALUES (?, 'pending', ?, ?)",
                    (key, len(line) // CHARS_PER_TOKEN + 1, max_tokens),
                ).rowcount
                if inserted:
                    writer.add(key, line)
        writer.close()


def _write_requeued(session: Session, ledger: Ledger, limits: Limits) -> None:
    """Write input files for the pending requests that have none (a follow-up batch)."""
    db = ledger.db
    writer = PartWriter(ledger, limits)
    bodies = RequestBodies()
    with db:
        doc_ids = [
            doc_id
            for (doc_id,) in db.execute(
                "SELECT DISTINCT doc_id FROM doc_requests JOIN requests USING (custom_id) "
                "WHERE status = 'pending' AND part IS NULL ORDER BY doc_id"
            )
        ]
        for doc_id in doc_ids:
            wanted = {
                cid
                for (cid,) in db.execute(
                    "SELECT custom_id FROM requests JOIN doc_requests USING (custom_id) "
                    "WHERE doc_id = ? AND status = 'pending' AND part IS NULL",
                    (doc_id,),
                )
            }
            document = read_document(Path(ledger.doc_path(doc_id) or doc_id))
            for request in session.extractor.requests_for(document)[0]:
                key = request.cache_key()
                if key in wanted:
                    wanted.discard(key)
                    writer.add(key, request_line(key, bodies(request)))
            if wanted:  # the article changed: these requests cannot be sent again
                db.executemany(
                    "UPDATE requests SET status = 'invalid', reason = ? WHERE custom_id = ?",
                    [("the article changed since the batch was submitted", k) for k in wanted],
                )
        writer.close()


def _check_budget(settings: Settings, price: Price | None, ledger: Ledger, run_dir: Path) -> None:
    """Before anything is submitted: the pending requests, at most (prompt plus max_tokens
    each, at the batch price), must fit beside what the run spent so far."""
    budget = Budget(settings, price, run_spend(run_dir).spend(price))
    if not budget.capped:
        return
    tokens_in, tokens_out = ledger.estimate(("pending",))
    cost = price.cost(tokens_in, tokens_out, batch=True) if price is not None else None
    need = Spend(tokens_in, tokens_out, cost)
    if not budget.fits(need):
        shown = f"${cost:.4f}, " if cost is not None else ""
        raise BudgetExceeded(
            f"the batch could need {shown}{need.tokens} tokens, past the budget "
            f"({budget.describe()}); nothing was submitted; rerun with a higher budget"
        )


def _submit_parts(ledger: Ledger, client: BatchClient, run_dir: Path) -> None:
    """Upload and create a batch for every part that has none, recording each id as soon as
    the provider returns it."""
    for part in ledger.parts():
        if part.batch_id is not None or part.requests == 0:
            continue
        file_id = part.input_file_id
        if file_id is None:
            file_id = client.upload(ledger.folder / part.path)
            ledger.update_part(part.part, input_file_id=file_id)
            batch = None
        else:
            batch = client.find(file_id)  # created by a submit interrupted before recording it
        if batch is None:
            batch = client.create(file_id, str(run_dir.resolve()), part.part)
        ledger.mark_submitted(part.part, batch.id)


def _reset(ledger: Ledger) -> None:
    """Forget a preparation nothing of which was uploaded (it is rebuilt from the articles)."""
    for part in ledger.parts():
        (ledger.folder / part.path).unlink(missing_ok=True)
    with ledger.db:
        for table in ("parts", "docs", "requests", "doc_requests"):
            ledger.db.execute(f"DELETE FROM {table}")


def submit_batch(settings: Settings, run_dir: Path, limits: Limits = OPENAI_LIMITS) -> BatchStatus:
    """Prepare and submit the batch of a run (or finish an interrupted submit); never submits
    a request twice. Raises BudgetExceeded before submitting a batch the budget cannot cover."""
    _check_batchable(settings)
    session = Session(settings)
    try:
        check_resume(run_dir, session)
        with run_dir_lock(run_dir), Ledger(run_dir) as ledger, _provider_errors():
            stored = ledger.get_meta("settings")
            if stored is not None:
                changed = [
                    n for n in REQUEST_SETTINGS if stored.get(n) != _settings_json(settings)[n]
                ]
                if changed:
                    raise ConfigError(
                        f"{run_dir}: holds a batch submitted with other {', '.join(changed)}; "
                        "use another --out"
                    )
            if not any(part.input_file_id for part in ledger.parts()):
                _reset(ledger)
                ledger.set_meta("settings", _settings_json(settings))
                _prepare(session, ledger, run_dir, limits)
                try:
                    _check_budget(settings, session.price, ledger, run_dir)
                except BudgetExceeded:
                    _reset(ledger)
                    raise
            client = BatchClient(session.provider)
            try:
                _submit_parts(ledger, client, run_dir)
            finally:
                client.close()
            return _status(ledger, run_dir)
    finally:
        if session.cache is not None:
            session.cache.close()


# -- status, cancel, collect ---------------------------------------------------------------


def _status(ledger: Ledger, run_dir: Path) -> BatchStatus:
    parts = [
        {
            "part": part.part,
            "batch_id": part.batch_id,
            "input_file_id": part.input_file_id,
            "output_file_id": part.output_file_id,
            "error_file_id": part.error_file_id,
            "status": part.status,
            "requests": part.requests,
            "collected": part.collected,
        }
        for part in ledger.parts()
    ]
    return BatchStatus(run_dir, ledger.status_counts(), parts)


def batch_status(run_dir: Path, refresh: bool = True) -> BatchStatus:
    """Where a batch run stands; with `refresh`, each running batch's status is asked of the
    provider first."""
    settings = run_settings(run_dir)
    with Ledger(run_dir, create=False) as ledger, _provider_errors():
        if refresh and any(p.batch_id and not p.collected for p in ledger.parts()):
            client = BatchClient(Session(replace(settings, cache_mode="off")).provider)
            try:
                for part in ledger.parts():
                    if part.batch_id and not part.collected:
                        batch = client.retrieve(part.batch_id)
                        ledger.update_part(part.part, status=batch.status)
            finally:
                client.close()
        return _status(ledger, run_dir)


def cancel_batch(run_dir: Path) -> list[str]:
    """Ask the provider to cancel the run's running batches; returns their ids. What they
    finished is still collected; the rest ends failed (retryable)."""
    settings = run_settings(run_dir)
    with Ledger(run_dir, create=False) as ledger, _provider_errors():
        client = BatchClient(Session(replace(settings, cache_mode="off")).provider)
        cancelled = []
        try:
            for part in ledger.parts():
                if part.batch_id and not part.collected and part.status not in TERMINAL:
                    batch = client.cancel(part.batch_id)
                    ledger.update_part(part.part, status=batch.status)
                    cancelled.append(batch.id)
        finally:
            client.close()
        return cancelled


def _poll(
    ledger: Ledger,
    client: BatchClient,
    wait: bool,
    poll_s: float,
    on_progress: OnProgress | None,
) -> None:
    """Read the results of every batch that has ended; with `wait`, until all have."""
    while True:
        running, done, total = 0, 0, 0
        for part in ledger.parts():
            if not part.batch_id or part.collected:
                continue
            batch = client.retrieve(part.batch_id)
            ledger.update_part(part.part, status=batch.status)
            if batch.status in TERMINAL:
                read_results(ledger, client, part, batch)
            else:
                running += 1
            counts = batch.request_counts
            total += counts.total if counts else part.requests
            done += (counts.completed + counts.failed) if counts else 0
        if on_progress is not None:
            on_progress("batch", done, total)
        if not running or not wait:
            return
        time.sleep(poll_s)


def _request_columns(rows: list[tuple[str, str, str | None, int, int]]) -> dict[str, int]:
    """documents.csv's request counts of a document, by final status."""
    columns = {"requests": len(rows)}
    for status in ("ok", *RETRYABLE):
        columns[f"requests_{status}"] = sum(1 for row in rows if row[1] == status)
    return columns


def _failure(rows: list[tuple[str, str, str | None, int, int]]) -> str:
    """A document's one-line reason: how many of its requests ended how, the first reason."""
    bad = [row for row in rows if row[1] in RETRYABLE]
    counts = ", ".join(
        f"{sum(1 for row in bad if row[1] == status)} {status}"
        for status in RETRYABLE
        if any(row[1] == status for row in bad)
    )
    first = next((row[2] for row in bad if row[2]), "")
    return (
        f"batch: {len(bad)} of {len(rows)} request(s) not answered ({counts}): {first}; "
        "retry with dealx batch collect RUN_DIR --retry live or --retry batch"
    )


async def _outcomes(
    ledger: Ledger, todo: set[str], replay: Session, live: Session | None
) -> AsyncIterator[DocumentOutcome]:
    """The outcome of every document of `todo` whose requests have all ended:
    replayed from the cache when all are ok, extracted live (`live`, for --retry live) when
    some are not, else failed with the reason."""
    complete: list[Path] = []
    retry: list[Path] = []
    failed: list[DocumentOutcome] = []
    for doc_id, path, error in list(ledger.docs()):
        if doc_id not in todo:
            continue
        rows = ledger.doc_requests(doc_id)
        if error is not None:
            failed.append(DocumentOutcome(doc_id, None, DocStats(), error, source=Path(path)))
        elif any(row[1] in WAITING for row in rows):
            continue
        elif all(row[1] == "ok" for row in rows):
            complete.append(Path(path))
        elif live is not None:
            retry.append(Path(path))
        else:
            stats = DocStats()
            failed.append(DocumentOutcome(doc_id, None, stats, _failure(rows), source=Path(path)))
    for outcome in failed:
        yield outcome
    async for outcome in replay.stream(complete):
        yield outcome
    if live is not None and retry:
        async for outcome in live.stream(retry):
            yield outcome
        mark_answered_by_cache(ledger, live, [path.stem for path in retry])


def _account(ledger: Ledger, outcome: DocumentOutcome) -> DocumentOutcome:
    """Add a document's batch tokens and request counts (from the ledger) to its outcome."""
    rows = ledger.doc_requests(outcome.doc_id)
    outcome.stats.batch_prompt_tokens += sum(row[3] for row in rows)
    outcome.stats.batch_completion_tokens += sum(row[4] for row in rows)
    outcome.extra_columns = _request_columns(rows)
    if outcome.record is None and rows and any(row[1] in RETRYABLE for row in rows):
        outcome.error = _failure(rows) if outcome.error is None else outcome.error
    return outcome


def collect_batch(
    run_dir: Path,
    *,
    wait: bool = True,
    poll_s: float = DEFAULT_POLL_S,
    retry: Retry | None = None,
    limits: Limits = OPENAI_LIMITS,
    on_progress: OnProgress | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Collect a batch run: read the results of its ended batches (with `wait`, wait for all),
    validate them into the cache, and write every document whose requests all ended (records,
    errors.jsonl, documents.csv, manifest with the `batch` counts). `retry="live"` finishes the
    requests that failed, expired, were invalid or missing with live calls; `retry="batch"`
    submits them as a follow-up batch (then waits for it when `wait`). Raises BatchPending
    (after writing what is done) when a batch is still running. `settings` replaces the
    stored ones (the same requests: only what does not shape them may differ)."""
    stored = run_settings(run_dir)
    settings = settings or stored
    replay = Session(replace(settings, cache_mode="replay"))
    live = Session(replace(settings, cache_mode="readwrite"))
    try:
        with run_dir_lock(run_dir), Ledger(run_dir, create=False) as ledger, _provider_errors():
            client = BatchClient(live.provider)
            try:
                _poll(ledger, client, wait, poll_s, on_progress)
                validate_answers(ledger, live)
                counts = ledger.status_counts()
                if retry == "batch" and any(counts[s] for s in RETRYABLE):
                    if sum(counts[s] for s in WAITING):
                        raise BatchPending(f"{run_dir}: batches still running; retry after them")
                    _check_retry_budget(settings, live.price, ledger, run_dir)
                    ledger.requeue(RETRYABLE)
                    _write_requeued(live, ledger, limits)
                    _submit_parts(ledger, client, run_dir)
                    _poll(ledger, client, wait, poll_s, on_progress)
                    validate_answers(ledger, live)
            finally:
                client.close()
            manifest = run_sync(
                _write(ledger, run_dir, replay, live if retry == "live" else None, on_progress)
            )
            manifest_status = _status(ledger, run_dir)
    finally:
        for session in (replay, live):
            if session.cache is not None:
                session.cache.close()
    if manifest_status.waiting:
        raise BatchPending(
            f"{run_dir}: {manifest_status.waiting} of {manifest_status.requests} requests are "
            "still in running batches; collect later with dealx batch collect"
        )
    return manifest


def _check_retry_budget(
    settings: Settings, price: Price | None, ledger: Ledger, run_dir: Path
) -> None:
    budget = Budget(settings, price, run_spend(run_dir).spend(price))
    if not budget.capped:
        return
    tokens_in, tokens_out = ledger.estimate(RETRYABLE)
    cost = price.cost(tokens_in, tokens_out, batch=True) if price is not None else None
    if not budget.fits(Spend(tokens_in, tokens_out, cost)):
        raise BudgetExceeded(
            f"the follow-up batch could go past the budget ({budget.describe()}); "
            "nothing was submitted; rerun with a higher budget"
        )


async def _write(
    ledger: Ledger,
    run_dir: Path,
    replay: Session,
    live: Session | None,
    on_progress: OnProgress | None,
) -> dict[str, Any]:
    started_at, started = datetime.now(UTC), time.perf_counter()
    writer = RunWriter(run_dir, replay.price)
    writer.check_settings(replay)
    writer.totals.batch_tokens = ledger.tokens()
    todo = {doc_id for doc_id, _, _ in ledger.docs() if not writer.already_done(doc_id)}
    written = 0

    def progress() -> None:
        nonlocal written
        written += 1
        if on_progress is not None:
            on_progress("records", written, 0)

    async with replay, live if live is not None else nullcontext():
        outcomes = _outcomes(ledger, todo, replay, live)
        # The ledger is read here, on the event loop: only the files are written on the
        # writer thread.
        accounted = (_account(ledger, outcome) async for outcome in outcomes)
        await write_outcomes(writer, accounted, progress)
    # The live session's calls (retries) are counted in the documents' own stats.
    status = _status(ledger, run_dir)
    extra = {"batch": status.to_json()}
    return writer.finish(replay, started_at, time.perf_counter() - started, extra)


def extract_batch(
    settings: Settings,
    run_dir: Path,
    *,
    wait: bool = True,
    poll_s: float = DEFAULT_POLL_S,
    limits: Limits = OPENAI_LIMITS,
    on_progress: OnProgress | None = None,
) -> dict[str, Any]:
    """`dealx extract --batch`: submit the run's requests (if not yet) and collect them, with
    `wait` until every batch has ended; rerunning it resumes where it stopped."""
    submit_batch(settings, run_dir, limits)
    return collect_batch(
        run_dir, wait=wait, poll_s=poll_s, limits=limits, on_progress=on_progress, settings=settings
    )


__all__ = [
    "STATUSES",
    "BatchStatus",
    "Limits",
    "batch_status",
    "cancel_batch",
    "collect_batch",
    "extract_batch",
    "run_settings",
    "submit_batch",
]
