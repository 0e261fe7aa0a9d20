"""The extraction engine: documents in, grounded outcomes out, one at a time as they finish.

A `Session` holds what a batch shares (the provider, the prompt, the cache, the
extractor) and streams `DocumentOutcome`s from a bounded pool of workers. It knows nothing of
consoles or run directories: the library facade (pipeline.api) collects the outcomes into a
list, the run writer (pipeline.runner) writes each one as it arrives.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipeline.budget import Budget, Spend, estimate
from pipeline.extraction.call_estimate import CallEstimate, estimate_calls
from pipeline.extraction.documents import Document, read_document, text_sha256
from pipeline.extraction.extractor import DocStats, Extractor
from pipeline.extraction.grounding import Finding, ground
from pipeline.extraction.prompts import load_prompt
from pipeline.extraction.request import ModelRequest
from pipeline.failures import describe_failure, fatal_for_run
from pipeline.pricing import cost_usd
from pipeline.providers import price_of, resolve
from pipeline.settings import Settings
from pipeline.store.cache import ResponseCache
from schemas.errors import BudgetExceeded, DealxError
from schemas.records import DocumentExtraction

Source = Path | Document
T = TypeVar("T")


@dataclass
class DocumentOutcome:
    """How one document ended: its grounded record, or the one-line reason it failed.

    `findings` are what grounding dropped or flagged (rejected.jsonl); `candidates`, for the
    constrained strategy, what its questions offered the model; `source` the file it was read
    from (None for a Document given as text) and `sha256` the hash of its text.
    """

    doc_id: str
    record: DocumentExtraction | None
    stats: DocStats
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)
    candidates: dict[str, Any] | None = None
    source: Path | None = None
    sha256: str | None = None
    # Columns of documents.csv beyond the stats (a batch run's request counts).
    extra_columns: dict[str, Any] = field(default_factory=dict)


def source_id(source: Source) -> str:
    """The document id of a source: the file stem, or the Document's own id."""
    return source.doc_id if isinstance(source, Document) else source.stem


class Session:
    """An open extraction: one provider (and its local server), prompt, cache and extractor for a
    batch of documents. Use it as an async context manager; it closes the client, stops the
    local server and closes the cache on the way out, whatever happened."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.provider = resolve(settings)
        self.prompt = load_prompt(settings.prompt_name)
        mode = settings.cache_mode
        # Replay reads answers only: a cache file that is not there is a mistyped --cache.
        self.cache = (
            ResponseCache(settings.cache, create=mode != "replay") if mode != "off" else None
        )
        self.extractor = Extractor(settings, self.provider, self.prompt, self.cache)
        self.price = price_of(settings)

    @property
    def concurrency(self) -> int:
        """Documents in flight: the setting, capped by what the endpoint takes."""
        limit = self.provider.max_concurrency or self.settings.concurrency
        return min(limit, self.settings.concurrency)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self.provider.close()
        finally:
            if self.cache is not None:
                self.cache.close()

    async def extract_one(self, source: Source) -> DocumentOutcome:
        """Read, extract and ground one document. A failure of this document is an outcome
        with its reason; an error no document can escape (bad key, dead server) is raised."""
        stats = DocStats()
        doc_id = source_id(source)
        path = None if isinstance(source, Document) else source
        try:
            document = source if isinstance(source, Document) else read_document(source)
            extracted = await self.extractor.extract(document, stats)
            record, findings = ground(extracted.record, document.text, self.settings.grounding)
        except Exception as exc:
            if (stop := fatal_for_run(exc)) is not None:
                raise stop from exc
            return DocumentOutcome(doc_id, None, stats, describe_failure(exc), source=path)
        return DocumentOutcome(
            doc_id,
            record,
            stats,
            findings=findings,
            candidates=extracted.candidates,
            source=document.path,
            sha256=text_sha256(document.text),
        )

    def spend(self, stats: DocStats) -> Spend:
        """What a document's calls spent, live and batch, at this model's price."""
        tokens_in = stats.prompt_tokens + stats.batch_prompt_tokens
        tokens_out = stats.completion_tokens + stats.batch_completion_tokens
        cost = cost_usd(
            self.price,
            stats.prompt_tokens,
            stats.completion_tokens,
            stats.batch_prompt_tokens,
            stats.batch_completion_tokens,
        )
        return Spend(tokens_in, tokens_out, cost)

    def calls_needed(self, document: Document) -> list[ModelRequest]:
        """The requests of a document that the cache cannot answer (none under replay, where
        a miss fails instead of calling the model)."""
        mode = self.settings.cache_mode
        if mode == "replay":
            return []
        requests, _ = self.extractor.requests_for(document)
        if self.cache is None or mode != "readwrite":
            return requests
        return [r for r in requests if self.cache.get_answer(r.cache_key()) is None]

    def _reserve(self, source: Source, budget: Budget) -> tuple[Source, Spend | None]:
        """Read a document and hold its estimate in the budget: the document (read) and what
        it holds, or None when it does not fit. An unreadable file holds nothing; reading it
        again in extract_one makes its failure the outcome."""
        if not isinstance(source, Document):
            try:
                source = read_document(source)
            except Exception:
                return source, Spend()
        need = estimate(self.calls_needed(source), self.settings.max_tokens, self.price)
        return source, need if budget.reserve(need) else None

    async def stream(
        self,
        sources: Iterable[Source],
        budget: Budget | None = None,
        on_start: Callable[[str, CallEstimate], None] | None = None,
    ) -> AsyncIterator[DocumentOutcome]:
        """Outcomes in the order documents finish. A fixed pool of workers takes the sources
        in order, so only `concurrency` documents are read into memory or in flight at any
        time however long the batch. A run-fatal error stops new documents; those in flight
        finish and are yielded, then the error is raised. With a `budget`, a document starts
        only when its estimate fits; the first that does not stops the run the same way
        (BudgetExceeded). `on_start(doc_id, estimate)` is told, just before a document longer
        than one chunk starts, about how many requests it will take; a shorter one costs a
        stat() of its file at most."""
        pending = iter(sources)
        # Bounded: when the consumer (the run writer) falls behind, workers wait instead of
        # piling finished documents up in memory.
        outcomes: asyncio.Queue[DocumentOutcome | None] = asyncio.Queue(self.concurrency)
        fatal: list[DealxError] = []

        async def announce(source: Source, on_start: Callable[[str, CallEstimate], None]) -> Source:
            """Tell `on_start` about a long document; returns the source to extract, the
            document itself once read (so it is read once), else the source as given."""
            chunk_chars = self.extractor.max_chunk_chars
            if not isinstance(source, Document):
                try:
                    # Bytes are at least as many as characters: a file this small is short.
                    if source.stat().st_size <= chunk_chars:
                        return source
                    source = read_document(source)
                except Exception:
                    # extract_one reads it again and makes the failure its outcome.
                    return source
            if len(source.text) <= chunk_chars:
                return source
            # On a thread: counting a huge article's candidates must not stall the answers
            # the other workers are waiting for.
            found = await asyncio.to_thread(
                estimate_calls, source.text, chunk_chars, self.settings.strategy
            )
            if found is not None:
                on_start(source.doc_id, found)
            return source

        async def worker() -> None:
            for source in pending:
                if fatal:
                    return
                held = Spend()
                if budget is not None and budget.capped:
                    source, reserved = self._reserve(source, budget)
                    if reserved is None:
                        fatal.append(
                            BudgetExceeded(
                                f"stopped at the budget ({budget.describe()}): "
                                f"{source_id(source)} and the documents after it were not "
                                "started; rerun with a higher budget to resume"
                            )
                        )
                        return
                    held = reserved
                if on_start is not None:
                    source = await announce(source, on_start)
                try:
                    outcome = await self.extract_one(source)
                except DealxError as stop:
                    if budget is not None:
                        budget.settle(held, held)  # its spend is unknown: count the estimate
                    fatal.append(stop)
                    return
                if budget is not None:
                    budget.settle(held, self.spend(outcome.stats))
                await outcomes.put(outcome)
                # A replayed document never waits on the network: yield here so that the
                # consumer and the other workers take turns instead of one running ahead.
                await asyncio.sleep(0)

        async def workers() -> None:
            try:
                await asyncio.gather(*(worker() for _ in range(self.concurrency)))
            finally:
                await outcomes.put(None)

        running = asyncio.create_task(workers())
        try:
            while (outcome := await outcomes.get()) is not None:
                yield outcome
            await running  # an unexpected error in a worker surfaces here
        finally:
            running.cancel()
        if fatal:
            raise fatal[0]


def run_sync(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to its end from synchronous code. Inside a running event loop (Jupyter,
    an async web app) asyncio.run cannot nest, so the coroutine gets a loop on a thread of its
    own and the caller waits for it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work)
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(work))
        except BaseException as exc:  # handed to the caller's thread below
            failure.append(exc)

    thread = threading.Thread(target=target, name="dealx-run")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]
