"""Build the model request for one article and its content-addressed cache key."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import instructor
from instructor.cache import make_cache_key
from pydantic import BaseModel

from pipeline.extraction.prompts import PromptTemplate
from pipeline.extraction.response import schema_sha256, to_document
from schemas.records import DocumentExtraction

# The decoding parameters instructor's make_cache_key hashes; a request may use no others,
# so nothing that changes the answer can be left out of the key.
KEYED_DECODING = frozenset({"temperature", "top_p", "seed", "max_tokens", "stop"})
CACHE_KEY_VERSION = 2
# Request digests kept per run: a plain run has one schema, a constrained run one per question
# model (per article, mostly), so the digests are kept for the most recent ones only.
KEPT_DIGESTS = 256


def strip_credentials(url: str | None) -> str | None:
    """A base URL without user:password@ or query string, safe to hash, store and print."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class RequestSettings:
    """What every request of a run shares: endpoint, mode, prompt, decoding."""

    provider: str
    model: str
    base_url: str | None
    mode: instructor.Mode
    prompt: PromptTemplate
    decoding: dict[str, Any] = field(default_factory=dict)
    _digests: OrderedDict[str, str] = field(default_factory=OrderedDict, compare=False, repr=False)

    def __post_init__(self) -> None:
        unkeyed = set(self.decoding) - KEYED_DECODING
        if unkeyed:
            raise ValueError(f"decoding parameters not covered by the cache key: {unkeyed}")

    def digest(self, schema_sha256: str, extra_body: dict[str, Any]) -> str:
        """instructor's make_cache_key over everything but the messages: provider, model,
        mode, decoding parameters, and a namespace with what that key leaves out (the endpoint
        without credentials, the extra body sent to the server, prompt and schema hashes).
        Computed once per response schema (among the recent ones), not per document."""
        digest = self._digests.get(schema_sha256)
        if digest is not None:
            self._digests.move_to_end(schema_sha256)
            return digest
        namespace = json.dumps(
            {
                "v": CACHE_KEY_VERSION,
                "base_url": strip_credentials(self.base_url),
                "extra_body": extra_body,
                "prompt_sha256": self.prompt.sha256,
                "schema_sha256": schema_sha256,
            },
            sort_keys=True,
        )
        digest = self._digests[schema_sha256] = make_cache_key(
            messages=None,
            model=self.model,
            response_model=None,
            mode=self.mode.value,
            provider=self.provider,
            namespace=namespace,
            request_kwargs=self.decoding,
        )
        if len(self._digests) > KEPT_DIGESTS:
            self._digests.popitem(last=False)
        return digest


@dataclass(frozen=True)
class ModelRequest:
    """Everything that determines a model's answer for one article, chunk or task."""

    doc_id: str
    messages: list[dict[str, str]]
    response_model: type[BaseModel]
    extra_body: dict[str, Any]
    settings: RequestSettings
    # How a (validated) answer becomes records; not part of the request sent or its key.
    interpret: Callable[[str, dict[str, Any]], DocumentExtraction] = field(
        default=to_document, compare=False
    )

    @property
    def schema_sha256(self) -> str:
        return schema_sha256(self.response_model)

    def cache_key(self) -> str:
        """SHA-256 of the shared request digest and this request's canonical messages."""
        digest = self.settings.digest(self.schema_sha256, self.extra_body)
        messages = json.dumps(self.messages, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(f"{digest}\n{messages}".encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """The request as stored beside a cache entry: reviewable, and free of credentials."""
        s = self.settings
        return {
            "provider": s.provider,
            "model": s.model,
            "base_url": strip_credentials(s.base_url),
            "mode": s.mode.value,
            "prompt": s.prompt.name,
            "prompt_sha256": s.prompt.sha256,
            "schema_sha256": self.schema_sha256,
            "decoding": s.decoding,
            "extra_body": self.extra_body,
            "messages": self.messages,
        }
