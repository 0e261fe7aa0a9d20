"""The records dealx extracts: per article, one `DocumentExtraction` of companies, people, deals."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.values import Qualifier, parse_currency, parse_date, parse_money, parse_percent

OrgType = Literal["company", "government", "nonprofit", "other"]
DealType = Literal[
    "investment",
    "acquisition",
    "merger",
    "funding_round",
    "partnership",
    "contract",
    "licensing",
    "other",
]
PartyRole = Literal[
    "investor",
    "acquirer",
    "target",
    "seller",
    "partner",
    "customer",
    "supplier",
    "licensor",
    "licensee",
]
# Set by the pipeline's grounding step (never by a model): True when the value or record is
# supported by the article, False when --grounding flag kept it although it is not, None
# when grounding was off.
GROUNDED = "Set by the pipeline: whether the article supports this."
SPANS = "Set by the pipeline: where each value is written in the article."
DealStatus = Literal["rumored", "in_talks", "agreed", "completed", "terminated"]


class Record(BaseModel):
    """Base of every schema model: unknown keys are errors, so typos in gold files surface."""

    model_config = ConfigDict(extra="forbid")


class Evidence(Record):
    """A verbatim span of the article; the pipeline, not the model, fills in `start`/`end`."""

    quote: str = Field(min_length=1, description="A verbatim quote from the article.")
    start: int | None = Field(default=None, ge=0)
    end: int | None = Field(default=None, ge=0)
    grounded: bool | None = Field(default=None, description=GROUNDED)

    @model_validator(mode="after")
    def _offsets_ordered(self) -> Evidence:
        if (self.start is None) != (self.end is None):
            raise ValueError("evidence needs both start and end offsets, or neither")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"evidence end ({self.end}) is before start ({self.start})")
        return self


class ValueSpan(Record):
    """Where one value of a record is written in the article: `text[start:end]` is `text` (the
    value as written, e.g. "$14 billion" for an amount of 14e9). Set by the pipeline's grounding
    step, never by a model; `field` names the value as a path: "name", "aliases[0]",
    "parties[1].name", "roles[0].title", "amount", "stake_percent", "date"."""

    field: str = Field(min_length=1)
    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    # True: inside the record's evidence. False: --grounding flag kept a value its evidence does
    # not state; the span is then its first mention elsewhere in the article.
    grounded: bool = True

    @model_validator(mode="after")
    def _offsets_ordered(self) -> ValueSpan:
        if self.end < self.start:
            raise ValueError(f"span end ({self.end}) is before start ({self.start})")
        return self


class Money(Record):
    """An amount in units of a currency, with the hedge the article puts on it."""

    # allow_inf_nan=False: NaN passes the `< 0` check below and inf is no amount.
    value: float = Field(
        allow_inf_nan=False, description="The amount in units, e.g. 14000000000 for $14 billion."
    )
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    qualifier: Qualifier = "exact"

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: Any) -> Any:
        if isinstance(data, str):
            return parse_money(data)
        if isinstance(data, int | float) and not isinstance(data, bool):
            return {"value": data}
        return data

    @field_validator("currency", mode="before")
    @classmethod
    def _currency_code(cls, value: Any) -> Any:
        # Models write "usd", "$" or "US dollars" as often as "USD".
        if isinstance(value, str) and value.strip():
            code = value.strip().upper()
            if len(code) == 3 and code.isalpha():
                return code
            return parse_currency(value, default="") or value  # unknown: the pattern rejects it
        return value

    @field_validator("value")
    @classmethod
    def _not_negative(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"a money value must not be negative, got {value:g}")
        return value


class Company(Record):
    """An organization named in the article."""

    name: str = Field(min_length=1, description="The name the article uses most.")
    aliases: list[str] = Field(
        default_factory=list, description="Other names the same article uses for it."
    )
    org_type: OrgType = "company"
    founded_year: int | None = Field(default=None, ge=1600, le=2100)
    headquarters: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    grounded: bool | None = Field(default=None, description=GROUNDED)
    spans: list[ValueSpan] = Field(default_factory=list, description=SPANS)


class Role(Record):
    """A title a person holds (or will hold) at an organization."""

    title: str = Field(min_length=1)
    organization: str | None = None


class Person(Record):
    """A person the article reports on (not its byline or editors)."""

    name: str = Field(min_length=1)
    roles: list[Role] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    grounded: bool | None = Field(default=None, description=GROUNDED)
    spans: list[ValueSpan] = Field(default_factory=list, description=SPANS)


class Party(Record):
    """One side of a deal."""

    name: str = Field(min_length=1)
    role: PartyRole


class Deal(Record):
    """A specific transaction or agreement between named parties."""

    deal_type: DealType
    parties: list[Party] = Field(min_length=1)
    amount: Money | None = None
    stake_percent: float | None = Field(default=None, description="Percent points, e.g. 49.0.")
    valuation: Money | None = None
    status: DealStatus | None = None
    date: str | None = Field(default=None, description="ISO YYYY, YYYY-MM or YYYY-MM-DD.")
    evidence: list[Evidence] = Field(default_factory=list)
    grounded: bool | None = Field(default=None, description=GROUNDED)
    spans: list[ValueSpan] = Field(default_factory=list, description=SPANS)

    @field_validator("stake_percent", mode="before")
    @classmethod
    def _parse_percent(cls, value: Any) -> Any:
        return None if value is None else parse_percent(value)

    @field_validator("stake_percent")
    @classmethod
    def _percent_in_range(cls, value: float | None) -> float | None:
        if value is not None and not 0 <= value <= 100:
            raise ValueError(f"stake_percent must be between 0 and 100, got {value:g}")
        return value

    @field_validator("date", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> Any:
        return None if value is None else parse_date(str(value))


def record_label(record: Company | Person | Deal) -> str:
    """A short human-readable name for a record: its name, or a deal's type and parties."""
    if isinstance(record, Deal):
        parties = ", ".join(f"{p.name} ({p.role})" for p in record.parties)
        return f"{record.deal_type}: {parties}"
    return record.name


class Support(Record):
    """What grounding found for one record type of one document, counted before `strict`
    dropped anything: records (and values) checked, and those whose evidence supports them."""

    records: int = Field(default=0, ge=0)
    records_supported: int = Field(default=0, ge=0)
    values: int = Field(default=0, ge=0)
    values_supported: int = Field(default=0, ge=0)


SupportKey = Literal["company", "person", "deal"]


class DocumentExtraction(Record):
    """Everything extracted from one article."""

    doc_id: str
    companies: list[Company] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    deals: list[Deal] = Field(default_factory=list)
    # Set by grounding (None when it was off): the support counts per record type.
    support: dict[SupportKey, Support] | None = None
