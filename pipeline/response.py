"""The response model the LLM fills, and its conversion into a `DocumentExtraction`.

It is the record schema with two differences: evidence is a bare quote (offsets are the
pipeline's job, never the model's) and lists and strings are bounded, because with decoding
constrained to the schema the bounds are what stop a small model from looping forever.
"""

from __future__ import annotations

import functools
import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field

from schemas.records import Company, Deal, DocumentExtraction, Party, Person, Role

MAX_RECORDS = 12
MAX_NAME = 80


class Quote(BaseModel):
    """A verbatim quote from the article that supports a record."""

    model_config = ConfigDict(extra="forbid")

    quote: str = Field(min_length=1, max_length=300)


class CompanyDraft(Company):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    aliases: list[str] = Field(default_factory=list, max_length=4)
    evidence: list[Quote] = Field(default_factory=list, max_length=2)  # type: ignore[assignment]


class RoleDraft(Role):
    title: str = Field(min_length=1, max_length=MAX_NAME)


class PersonDraft(Person):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    roles: list[RoleDraft] = Field(default_factory=list, max_length=4)  # type: ignore[assignment]
    evidence: list[Quote] = Field(default_factory=list, max_length=2)  # type: ignore[assignment]


class PartyDraft(Party):
    name: str = Field(min_length=1, max_length=MAX_NAME)


class DealDraft(Deal):
    parties: list[PartyDraft] = Field(min_length=1, max_length=4)  # type: ignore[assignment]
    evidence: list[Quote] = Field(default_factory=list, max_length=2)  # type: ignore[assignment]


class ArticleExtraction(BaseModel):
    """What the model returns for one article (or one chunk of a long one)."""

    model_config = ConfigDict(extra="forbid")

    companies: list[CompanyDraft] = Field(default_factory=list, max_length=MAX_RECORDS)
    people: list[PersonDraft] = Field(default_factory=list, max_length=MAX_RECORDS)
    deals: list[DealDraft] = Field(default_factory=list, max_length=MAX_RECORDS)


@functools.cache
def schema_sha256(model: type[BaseModel]) -> str:
    """SHA-256 of a response model's JSON Schema (recorded in the manifest and cache key)."""
    canonical = json.dumps(model.model_json_schema(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def to_document(doc_id: str, extraction: ArticleExtraction) -> DocumentExtraction:
    """Re-validate the model's answer as a DocumentExtraction; quotes get offsets later."""
    return DocumentExtraction.model_validate({"doc_id": doc_id, **extraction.model_dump()})
