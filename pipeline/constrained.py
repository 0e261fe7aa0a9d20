"""The constrained strategy: small calls whose JSON Schema only admits spans of the article.

The article's own candidates (see pipeline.candidates) become enums: one call picks the
organisations, one the people, one the deals, whose parties, amounts, percents, dates and
quotes are all spans of the text. A small model left free invents names and loops; asked
politely for "all companies" it lists one or none. So each list asks for a minimum number of
picks (as many as the article offers, up to a few): which ones is still the model's choice,
and every pick is a real span. The task comes after the article in the prompt, so llama.cpp
reuses the cached article prefix across a document's calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import instructor
from pydantic import BaseModel, ConfigDict, Field, create_model

from pipeline.candidates import Candidates
from schemas.records import DealStatus, DealType, OrgType, PartyRole

Kind = Literal["companies", "people", "deals"]
# (at least, at most) picks per call; "at least" is capped by how many candidates there are.
PICKS: dict[Kind, tuple[int, int]] = {"companies": (5, 8), "people": (2, 4), "deals": (1, 4)}
_FORBID = ConfigDict(extra="forbid")

INSTRUCTIONS: dict[Kind, str] = {
    "companies": (
        "Pick the organisations (companies, government bodies) this article reports on, most "
        "important first; not news outlets cited as sources, not products. For each, pick "
        "its type and the sentence that mentions it."
    ),
    "people": (
        "Pick the people this article reports on, most important first; not its authors or "
        "editors. For each, pick their title and organisation if the article gives them, and "
        "the sentence that mentions them."
    ),
    "deals": (
        "Pick the specific deals between named parties: investments, acquisitions, funding "
        "rounds, partnerships, contracts. For each, pick the parties and their roles, the "
        "amount, the stake, the status, the date, and the sentence that reports it."
    ),
}


@dataclass(frozen=True)
class ConstrainedCall:
    """One call: what it asks for, and the schema its answer must fit."""

    kind: Kind
    instruction: str
    response_model: type[BaseModel]


def _one_of(values: tuple[str, ...]) -> Any:
    return Literal[values]  # type: ignore[valid-type]


def _optional(values: tuple[str, ...]) -> tuple[Any, Any]:
    """A required field that is one of `values` or null (always null when there are none)."""
    return (_one_of(values) | None, ...) if values else (None, None)


def _call(kind: Kind, item: type[BaseModel], available: int) -> ConstrainedCall:
    least, most = PICKS[kind]
    picks = Field(min_length=min(least, available), max_length=most)
    # OpenAISchema: instructor uses the class as it is instead of wrapping it on every call.
    model = create_model(
        f"{kind.title()}Answer",
        __base__=instructor.OpenAISchema,
        **{kind: (list[item], picks)},  # type: ignore[valid-type]
    )
    return ConstrainedCall(kind, INSTRUCTIONS[kind], model)


def calls_for(candidates: Candidates) -> list[ConstrainedCall]:
    """The calls for one text: companies, people and deals, each when the text offers any."""
    if not candidates.sentences:
        return []
    quote = create_model(
        "SentencePick", __config__=_FORBID, quote=(_one_of(candidates.sentences), ...)
    )
    evidence = (list[quote], Field(min_length=1, max_length=1))  # type: ignore[valid-type]
    calls = []
    if candidates.organisations:
        company = create_model(
            "CompanyPick",
            __config__=_FORBID,
            name=(_one_of(candidates.organisations), ...),
            org_type=(OrgType, ...),
            evidence=evidence,
        )
        calls.append(_call("companies", company, len(candidates.organisations)))
    if candidates.people:
        role = create_model(
            "RolePick",
            __config__=_FORBID,
            title=(_one_of(candidates.titles), ...) if candidates.titles else (None, None),
            organization=_optional(candidates.organisations),
        )
        person = create_model(
            "PersonPick",
            __config__=_FORBID,
            name=(_one_of(candidates.people), ...),
            roles=(list[role], Field(max_length=2 if candidates.titles else 0)),  # type: ignore[valid-type]
            evidence=evidence,
        )
        calls.append(_call("people", person, len(candidates.people)))
    if len(candidates.names) >= 2:
        names = _one_of(candidates.names)
        party = create_model(
            "PartyPick", __config__=_FORBID, name=(names, ...), role=(PartyRole, ...)
        )
        deal = create_model(
            "DealPick",
            __config__=_FORBID,
            deal_type=(DealType, ...),
            parties=(list[party], Field(min_length=2, max_length=3)),  # type: ignore[valid-type]
            amount=_optional(candidates.amounts),
            stake_percent=_optional(candidates.percents),
            status=(DealStatus, ...),
            date=_optional(candidates.dates),
            evidence=evidence,
        )
        calls.append(_call("deals", deal, 1))
    return calls
