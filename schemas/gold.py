"""Gold records: the extraction schemas plus the `optional` flags of gold/GUIDELINES.md."""

from __future__ import annotations

from pydantic import Field, StrictBool, model_validator

from schemas.records import Company, Deal, DocumentExtraction, Person, Record


class GoldFlags(Record):
    """`optional: true` marks a whole record as ambiguous; `optional_fields` marks single fields.

    An extractor is neither rewarded nor penalised for what is optional.
    """

    optional: bool = False
    optional_fields: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _optional_fields_exist(self) -> GoldFlags:
        # Identifying fields (name, parties, deal_type) decide the match, so only values can be
        # optional.
        identifying = {"name", "parties", "deal_type", "optional", "optional_fields", "evidence"}
        known = set(type(self).model_fields) - identifying
        unknown = [name for name in self.optional_fields if name not in known]
        if unknown:
            names = ", ".join(unknown)
            raise ValueError(f"optional_fields names fields that cannot be optional: {names}")
        return self

    @model_validator(mode="after")
    def _has_evidence(self) -> GoldFlags:
        if not getattr(self, "evidence", None):
            raise ValueError("a gold record needs at least one evidence quote")
        return self


class GoldCompany(GoldFlags, Company):
    """A hand-labeled company."""


class GoldPerson(GoldFlags, Person):
    """A hand-labeled person."""


class GoldDeal(GoldFlags, Deal):
    """A hand-labeled deal."""


class GoldDocument(DocumentExtraction):
    """A hand-labeled document, validated by the same schemas as an extraction."""

    companies: list[GoldCompany] = Field(default_factory=list)  # type: ignore[assignment]
    people: list[GoldPerson] = Field(default_factory=list)  # type: ignore[assignment]
    deals: list[GoldDeal] = Field(default_factory=list)  # type: ignore[assignment]
    # False in a draft made from a run's records (`dealx gold draft`) until an annotator has
    # reviewed it (gold/GUIDELINES.md section 10); the gold checks refuse such a file. Never
    # dumped: the records of a gold document are validated as an extraction's.
    reviewed: StrictBool = Field(default=True, exclude=True)
