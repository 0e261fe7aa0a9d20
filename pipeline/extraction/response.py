"""The response model the LLM fills, and its conversion into a `DocumentExtraction`.

It is the record schema with two differences: evidence is a bare quote (offsets are the
pipeline's job, never the model's) and lists and strings are bounded, because with decoding
constrained to the schema the bounds are what stop a small model from looping forever.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any

import instructor
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from schemas.records import Company, Deal, DocumentExtraction, Party, Person, Role, ValueSpan

MAX_RECORDS = 12
MAX_NAME = 80


class Quote(BaseModel):
    """A verbatim quote from the article that supports a record."""

    model_config = ConfigDict(extra="forbid")

    quote: str = Field(min_length=1, max_length=300)


class CompanyDraft(Company):
    grounded: SkipJsonSchema[None] = None  # the pipeline's to set, never the model's
    spans: SkipJsonSchema[list[ValueSpan]] = Field(default_factory=list)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    aliases: list[str] = Field(default_factory=list, max_length=4)
    evidence: list[Quote] = Field(default_factory=list, max_length=2)  # type: ignore[assignment]


class RoleDraft(Role):
    title: str = Field(min_length=1, max_length=MAX_NAME)


class PersonDraft(Person):
    grounded: SkipJsonSchema[None] = None
    spans: SkipJsonSchema[list[ValueSpan]] = Field(default_factory=list)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    roles: list[RoleDraft] = Field(default_factory=list, max_length=4)  # type: ignore[assignment]
    evidence: list[Quote] = Field(default_factory=list, max_length=2)  # type: ignore[assignment]


class PartyDraft(Party):
    name: str = Field(min_length=1, max_length=MAX_NAME)


class DealDraft(Deal):
    grounded: SkipJsonSchema[None] = None
    spans: SkipJsonSchema[list[ValueSpan]] = Field(default_factory=list)
    parties: list[PartyDraft] = Field(min_length=1, max_length=4)  # type: ignore[assignment]
    evidence: list[Quote] = Field(default_factory=list, max_length=2)  # type: ignore[assignment]


class _Schema:
    """A class's schema as JSON text, and its hash once asked for."""

    __slots__ = ("sha256", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha256: str | None = None


# Weak keys: the constrained strategy builds question classes per article, and a cache that
# kept every class alive grew with the number of articles (244 MB for 1,200 articles).
_SCHEMAS: weakref.WeakKeyDictionary[type[BaseModel], _Schema] = weakref.WeakKeyDictionary()


class CachedSchema(instructor.OpenAISchema):
    """A response model whose JSON Schema is generated once per class.

    instructor asks for the schema on every call, and dealx again for the cache key and the
    extra body; generating it costs ~20 ms of CPU for ArticleExtraction, more than everything
    else a cached replay does, and it never changes for a class. Subclassing OpenAISchema
    likewise stops instructor from re-wrapping the class on every call."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if args or kwargs:  # nobody asks for a variant today; not worth a cache entry
            return super().model_json_schema(*args, **kwargs)
        cached = _SCHEMAS.get(cls)
        if cached is None:
            cached = _SCHEMAS[cls] = _Schema(json.dumps(super().model_json_schema()))
        # Each caller gets its own copy (json.loads of the text is ~10x faster than deepcopy).
        return json.loads(cached.text)


class ArticleExtraction(CachedSchema):
    """What the model returns for one article (or one chunk of a long one)."""

    model_config = ConfigDict(extra="forbid")

    companies: list[CompanyDraft] = Field(default_factory=list, max_length=MAX_RECORDS)
    people: list[PersonDraft] = Field(default_factory=list, max_length=MAX_RECORDS)
    deals: list[DealDraft] = Field(default_factory=list, max_length=MAX_RECORDS)


def schema_sha256(model: type[BaseModel]) -> str:
    """SHA-256 of a response model's JSON Schema (recorded in the manifest and cache key)."""
    cached = _SCHEMAS.get(model)
    if cached is None:  # (a CachedSchema has stored its text by now)
        text = json.dumps(model.model_json_schema())
        cached = _SCHEMAS.setdefault(model, _Schema(text))
    if cached.sha256 is None:
        canonical = json.dumps(json.loads(cached.text), sort_keys=True, separators=(",", ":"))
        cached.sha256 = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return cached.sha256


def to_document(doc_id: str, record: dict[str, Any]) -> DocumentExtraction:
    """Validate an answer (an ArticleExtraction as stored in the cache) as a DocumentExtraction;
    its quotes get offsets later."""
    return DocumentExtraction.model_validate({"doc_id": doc_id, **record})
