"""The library facade: `extract` documents into grounded records, `write_run` them to a folder.

    from pipeline import Document, extract, write_run

    results = extract(["seeds/"], model="local/smollm2-135m", cache_mode="replay")
    for record in results:
        print(record.doc_id, [deal.deal_type for deal in record.deals])
    write_run(results, "runs/mine")

No console, no run directory unless asked for; `aextract` is the same inside an event loop.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pipeline.budget import Budget, Spend
from pipeline.engine import DocumentOutcome, Session, Source, run_sync, source_id
from pipeline.extraction.documents import Document, check_doc_id, list_documents
from pipeline.runner import RunWriter
from pipeline.settings import CacheMode, Grounding, Settings, Strategy
from schemas.errors import DocumentsFailed, InputError
from schemas.records import DocumentExtraction

OnError = Literal["raise", "collect"]


class Extractions(list[DocumentExtraction]):
    """The grounded records of the documents that were extracted, in input order, plus what a
    run directory needs: every outcome (failed ones too), the settings and the session's
    provenance (prompt, schemas, versions) for the manifest."""

    def __init__(
        self,
        outcomes: list[DocumentOutcome],
        session: Session,
        started_at: datetime,
        wall_s: float,
    ) -> None:
        super().__init__(o.record for o in outcomes if o.record is not None)
        self.outcomes = outcomes
        self.session = session
        self.started_at = started_at
        self.wall_s = wall_s

    @property
    def failures(self) -> dict[str, str]:
        """The documents that failed, with the one-line reason of each."""
        return {o.doc_id: o.error or "failed" for o in self.outcomes if o.record is None}

    @property
    def settings(self) -> Settings:
        """The settings the documents were extracted with."""
        return self.session.settings


def _sources(documents: Iterable[str | Path | Document]) -> list[Source]:
    """Documents as given: a Document stays as it is; paths (files or folders) expand into
    their article files, with the same checks as the CLI (unknown path, duplicate ids)."""
    items = [documents] if isinstance(documents, str | Path | Document) else list(documents)
    sources: list[Source] = []
    paths: list[Path] = []
    for item in [*items, None]:
        if isinstance(item, Document) or item is None:
            sources.extend(list_documents(paths) if paths else [])
            paths = []
            if item is not None:
                sources.append(item)
        else:
            paths.append(Path(item))
    return sources


def _settings(base: Settings | None, options: dict[str, Any]) -> Settings:
    given = {name: value for name, value in options.items() if value is not None}
    if "cache" in given:
        given["cache"] = Path(given["cache"])
    if base is None:
        return Settings(**given)
    return replace(base, **given)


async def aextract(
    documents: Iterable[str | Path | Document] | str | Path | Document,
    *,
    model: str | None = None,
    strategy: Strategy | None = None,
    grounding: Grounding | None = None,
    cache: str | Path | None = None,
    cache_mode: CacheMode | None = None,
    concurrency: int | None = None,
    settings: Settings | None = None,
    on_error: OnError = "raise",
) -> Extractions:
    """Extract and ground `documents` (paths to articles or folders, or `Document`s) and
    return their records; works inside a running event loop.

    Options left None take their value from `settings` (default: `Settings()`). A document
    that fails does not stop the others; with `on_error="raise"` a `DocumentsFailed` error
    names them once all are done and carries the results (`.extractions`), with "collect"
    the failures are in `Extractions.failures`. Errors no document can escape (bad key, a
    model server that does not start, the next document passing the settings' budget:
    BudgetExceeded) are raised as they happen.
    """
    options = {
        "model": model,
        "strategy": strategy,
        "grounding": grounding,
        "cache": cache,
        "cache_mode": cache_mode,
        "concurrency": concurrency,
    }
    resolved = _settings(settings, options)
    sources = _sources(documents)  # type: ignore[arg-type]
    position = _positions(sources)
    started_at, started = datetime.now(UTC), time.perf_counter()
    session = Session(resolved)
    async with session:
        budget = Budget(resolved, session.price, Spend())
        finished = [outcome async for outcome in session.stream(sources, budget)]
    finished.sort(key=lambda outcome: position[outcome.doc_id])
    results = Extractions(finished, session, started_at, time.perf_counter() - started)
    if on_error == "raise" and results.failures:
        raise DocumentsFailed(results.failures, results)
    return results


def _positions(sources: list[Source]) -> dict[str, int]:
    """Each document id's place in the input; an id used twice is an input error (its records
    would overwrite each other in a run directory)."""
    position: dict[str, int] = {}
    for index, source in enumerate(sources):
        doc_id = check_doc_id(source_id(source), source_id(source))
        if doc_id in position:
            raise InputError(f"{doc_id}: document id used twice")
        position[doc_id] = index
    return position


def extract(
    documents: Iterable[str | Path | Document] | str | Path | Document,
    *,
    model: str | None = None,
    strategy: Strategy | None = None,
    grounding: Grounding | None = None,
    cache: str | Path | None = None,
    cache_mode: CacheMode | None = None,
    concurrency: int | None = None,
    settings: Settings | None = None,
    on_error: OnError = "raise",
) -> Extractions:
    """`aextract` from synchronous code (also inside a running event loop, e.g. Jupyter)."""
    return run_sync(
        aextract(
            documents,
            model=model,
            strategy=strategy,
            grounding=grounding,
            cache=cache,
            cache_mode=cache_mode,
            concurrency=concurrency,
            settings=settings,
            on_error=on_error,
        )
    )


def write_run(results: Extractions, run_dir: str | Path) -> dict[str, Any]:
    """Write `results` as a run directory (records/, the CSV tables, rejected.jsonl,
    errors.jsonl, candidates/ and manifest.json) that `dealx eval` and `dealx report` read;
    returns the manifest. InputError when RUN_DIR holds a run extracted with another model,
    strategy, prompt or grounding mode."""
    writer = RunWriter(Path(run_dir), results.session.price)
    writer.check_settings(results.session)
    for outcome in results.outcomes:
        writer.add(outcome)
    return writer.finish(results.session, results.started_at, results.wall_s)
