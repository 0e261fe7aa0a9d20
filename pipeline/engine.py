"""The extraction engine: documents in, grounded outcomes out, one at a time as they finish.

A `Session` holds what a batch shares (the provider, the prompt, the cache, the
extractor) and streams `DocumentOutcome`s from a bounded pool of workers. It knows nothing of
consoles or run directories: the library facade (pipeline.api) collects the outcomes into a
list, the run writer (pipeline.runner) writes each one as it arrives.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pipeline.extraction.documents import Document, read_document, text_sha256
from pipeline.extraction.extractor import DocStats, Extractor
from pipeline.extraction.grounding import Finding, ground
from pipeline.extraction.prompts import load_prompt
from pipeline.failures import describe_failure, fatal_for_run
from pipeline.providers import resolve
from pipeline.settings import Settings
from pipeline.store.cache import ResponseCache
from schemas.errors import DealxError
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

    @property
    def ok(self) -> bool:
        """Whether the document was extracted."""
        return self.error is None


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
        self.cache = ResponseCache(settings.cache) if settings.cache_mode != "off" else None
        self.extractor = Extractor(settings, self.provider, self.prompt, self.cache)

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

    async def stream(self, sources: Iterable[Source]) -> AsyncIterator[DocumentOutcome]:
        """Outcomes in the order documents finish. A fixed pool of workers takes the sources
        in order, so only `concurrency` documents are read into memory or in flight at any
        time however long the batch. A run-fatal error stops new documents; those in flight
        finish and are yielded, then the error is raised."""
        pending = iter(sources)
        outcomes: asyncio.Queue[DocumentOutcome | None] = asyncio.Queue()
        fatal: list[DealxError] = []

        async def worker() -> None:
            for source in pending:
                if fatal:
                    return
                try:
                    outcome = await self.extract_one(source)
                except DealxError as stop:
                    fatal.append(stop)
                    return
                outcomes.put_nowait(outcome)

        async def workers() -> None:
            try:
                await asyncio.gather(*(worker() for _ in range(self.concurrency)))
            finally:
                outcomes.put_nowait(None)

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
