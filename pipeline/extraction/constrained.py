"""The constrained strategy: small questions whose JSON Schema only admits what the article offers.

The article's own candidates (pipeline.extraction.candidates) become enums, so a small model can
choose badly but cannot invent. Per chunk, one call picks the organizations and one the people;
then each deal candidate (a sentence with a deal word, an amount or a stake, and the
organizations it or its neighbor names) gets its own question over that passage: is it a deal,
which type (among those its wording allows), who is on each side, which status. The model never
quotes: the pipeline knows where every candidate occurs, so it builds each record's evidence
from the sentences that mention its values, and reads amounts, stakes, valuations and dates from
the candidate's own mentions.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from pipeline.extraction.candidates import (
    Candidates,
    DealCandidate,
    find_candidates,
    find_deal_candidates,
    names_in,
    sentence_spans,
)
from pipeline.extraction.response import CachedSchema
from schemas.normalize import normalize_company
from schemas.records import (
    Company,
    Deal,
    DocumentExtraction,
    Evidence,
    Money,
    OrgType,
    Party,
    Person,
    Role,
)
from schemas.values import parse_date, parse_money, parse_percent

Kind = Literal["companies", "people", "deal"]
# (at least, at most) picks per call; "at least" is capped by how many candidates there are.
PICKS: dict[str, tuple[int, int]] = {"companies": (5, 8), "people": (2, 4)}
# defer_build: a nested pick or deal shape is only ever validated inside its question, so it
# is built there, not once more on its own (about a quarter of the CPU of a new question).
_FORBID = ConfigDict(extra="forbid", defer_build=True)
# How many question models of each kind stay built. A model depends only on the options it
# offers, so questions with the same options (the same organizations in many sentences, the
# same passage in overlapping chunks) share one class and its schema; the bound keeps memory
# constant however many articles a run reads, and older classes are collected.
KEPT_QUESTION_MODELS = 64
STATUSES = ("rumored", "in_talks", "agreed", "completed", "terminated")

INSTRUCTIONS: dict[Kind, str] = {
    "companies": (
        "Pick the organizations (companies, government bodies) this article reports on, most "
        "important first; not news outlets cited as sources, not products, not places. For "
        "each, pick its type."
    ),
    "people": (
        "Pick the people this article reports on, most important first; not its authors or "
        "editors. For each, pick their title and organization if the article gives them."
    ),
    "deal": (
        "Does this passage report a specific deal between the organizations it names: an "
        "investment, funding round, acquisition, merger, contract, partnership or licensing "
        "agreement? Clients, competitors, revenue, valuations and spending plans are no deal. "
        "If there is no such deal, answer deal_type none. Otherwise give its type, which named "
        "party is on each side, and its status."
    ),
}
# Per deal type, the JSON fields that name its sides and the role each gives its parties.
# Investors of an investment are split into one deal each; a round keeps them together.
SIDES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "investment": (("investors", "investor", True), ("target", "target", False)),
    "funding_round": (("investors", "investor", True), ("target", "target", False)),
    "acquisition": (("acquirer", "acquirer", False), ("target", "target", False)),
    "merger": (("partners", "partner", True),),
    "partnership": (("partners", "partner", True),),
    "contract": (("supplier", "supplier", False), ("customer", "customer", False)),
    "licensing": (("licensor", "licensor", False), ("licensee", "licensee", False)),
}

# llama-cpp-python turns an enum value into a grammar literal with json.dumps and escapes only
# quotes and line breaks after that, not the backslashes json.dumps wrote: a value holding a
# straight quote, a backslash or a control character yields a broken grammar (the server died
# of SIGSEGV on one), and one outside the Basic Multilingual Plane (emoji) a surrogate pair.
# So enum values are labels with those characters replaced, mapped back to the original text.
_UNSAFE = re.compile(r'["\\\x00-\x1f\x7f]|[^\u0000-\uffff]')


def enum_label(text: str) -> str:
    """The text as an enum value any grammar converter handles: straight quotes become
    apostrophes, backslashes slashes, control characters spaces, emoji are dropped."""
    replaced = _UNSAFE.sub(lambda m: {'"': "'", "\\": "/"}.get(m.group(0), " "), text)
    return " ".join(replaced.split())


class Labels:
    """Enum labels for a list of candidate strings, and the way back to the originals."""

    def __init__(self, originals: Iterable[str]) -> None:
        self.original: dict[str, str] = {}
        for text in originals:
            label = enum_label(text)
            if label:
                self.original.setdefault(label, text)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(self.original)

    def enum(self) -> Any:
        return Literal[self.values]  # type: ignore[valid-type]

    def __call__(self, label: str | None) -> str | None:
        return None if label is None else self.original.get(label, label)


@dataclass(frozen=True)
class ConstrainedCall:
    """One question: the text the model reads, what it asks, the schema its answer must fit,
    and how the answer becomes records (with evidence from the text, not from the model)."""

    kind: Kind
    text: str
    instruction: str
    response_model: type[BaseModel]
    interpret: Callable[[str, dict[str, Any]], DocumentExtraction]


class Sentences:
    """The sentences of a text, to build evidence from the mentions of values."""

    def __init__(self, text: str) -> None:
        self.items = [text[start:end] for start, end in sentence_spans(text)]

    def first(self, *wanted: Iterable[str]) -> str | None:
        """The first sentence that contains, for each group of `wanted` forms, one of them."""
        groups = [[form for form in forms if form] for forms in wanted]
        for sentence in self.items:
            if all(any(_has_word(sentence, form) for form in forms) for forms in groups):
                return sentence
        return None


def _has_word(sentence: str, form: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(form)}(?!\w)", sentence) is not None


def _evidence(sentences: Iterable[str | None]) -> list[Evidence]:
    return [Evidence(quote=quote) for quote in dict.fromkeys(s for s in sentences if s)]


def _picks(kind: str, item: type[BaseModel], available: int) -> type[BaseModel]:
    least, most = PICKS[kind]
    picks = Field(min_length=min(least, available), max_length=most)
    # CachedSchema (an OpenAISchema): instructor uses the class as it is instead of wrapping it
    # on every call, and its schema is generated once.
    return create_model(
        f"{kind.title()}Answer",
        __base__=CachedSchema,
        **{kind: (list[item], picks)},  # type: ignore[valid-type]
    )


@functools.lru_cache(maxsize=KEPT_QUESTION_MODELS)
def _company_model(organizations: tuple[str, ...]) -> tuple[type[BaseModel], Labels]:
    """The companies question over these organizations, and their labels."""
    names = Labels(organizations)
    pick = create_model(
        "CompanyPick", __config__=_FORBID, name=(names.enum(), ...), org_type=(OrgType, ...)
    )
    return _picks("companies", pick, len(names.values)), names


def company_call(text: str, candidates: Candidates) -> ConstrainedCall:
    """Pick organizations; each picked name becomes a company with its article's other forms
    of the same name as aliases and the sentences naming it as evidence."""
    model, names = _company_model(candidates.organizations)

    def interpret(doc_id: str, answer: dict[str, Any]) -> DocumentExtraction:
        sentences = Sentences(text)  # here, not per question built: only answers need it
        companies = []
        for item in answer["companies"]:
            name = names(item["name"])
            assert name is not None
            forms = same_company(name, candidates.organizations)
            main = most_used(forms, sentences)
            aliases = [form for form in forms if form != main]
            quotes = [sentences.first([main])] + [sentences.first([alias]) for alias in aliases]
            companies.append(
                Company(
                    name=main,
                    aliases=aliases,
                    org_type=item["org_type"],
                    evidence=_evidence(quotes),
                )
            )
        return DocumentExtraction(doc_id=doc_id, companies=companies)

    return ConstrainedCall("companies", text, INSTRUCTIONS["companies"], model, interpret)


def same_company(name: str, organizations: Iterable[str]) -> list[str]:
    """The forms of one organization the article uses ("Meta", "Meta Platforms Inc."), in
    order of first appearance among the candidates."""
    key = normalize_company(name)
    return [form for form in organizations if normalize_company(form) == key] or [name]


def most_used(forms: list[str], text: str | Sentences) -> str:
    """The form written most often (a shorter form inside a longer one does not count);
    ties go to the longer form."""
    counts = Counter(names_in_text(text, forms))
    return max(forms, key=lambda form: (counts[form], len(form)))


def names_in_text(text: str | Sentences, forms: list[str]) -> list[str]:
    """Every whole-word occurrence of the forms, a longer one first."""
    found = []
    sentences = text if isinstance(text, Sentences) else Sentences(text)
    for sentence in sentences.items:
        remaining = sentence
        for form in sorted(forms, key=len, reverse=True):
            pattern = rf"(?<!\w){re.escape(form)}(?!\w)"
            found += [form] * len(re.findall(pattern, remaining))
            remaining = re.sub(pattern, " ", remaining)
    return found


@functools.lru_cache(maxsize=KEPT_QUESTION_MODELS)
def _person_model(
    people: tuple[str, ...], titles: tuple[str, ...], organizations: tuple[str, ...]
) -> tuple[type[BaseModel], Labels, Labels, Labels]:
    """The people question over these names, titles and organizations, and their labels."""
    names, title_labels, org_labels = Labels(people), Labels(titles), Labels(organizations)
    fields: dict[str, Any] = {"name": (names.enum(), ...)}
    if title_labels.values:
        organization = org_labels.enum() | None if org_labels.values else None
        role = create_model(
            "RolePick",
            __config__=_FORBID,
            title=(title_labels.enum(), ...),
            organization=(organization, ...),
        )
        fields["roles"] = (list[role], Field(max_length=2))  # type: ignore[valid-type]
    pick = create_model("PersonPick", __config__=_FORBID, **fields)
    return _picks("people", pick, len(names.values)), names, title_labels, org_labels


def person_call(text: str, candidates: Candidates) -> ConstrainedCall:
    """Pick people with their titles and organizations; the evidence is the sentence naming
    the person and, per role, one naming the person (or surname) with the title."""
    model, names, titles, organizations = _person_model(
        candidates.people, candidates.titles, candidates.organizations
    )

    def interpret(doc_id: str, answer: dict[str, Any]) -> DocumentExtraction:
        sentences = Sentences(text)
        people = []
        for item in answer["people"]:
            name = names(item["name"])
            assert name is not None
            forms = [name, name.split()[-1]]
            quotes = [sentences.first([name])]
            roles = []
            for picked in item.get("roles", []):
                title, organization = titles(picked["title"]), organizations(picked["organization"])
                assert title is not None
                roles.append(Role(title=title, organization=organization))
                with_org = sentences.first(forms, [title], [organization]) if organization else None
                quotes.append(with_org or sentences.first(forms, [title]))
            people.append(Person(name=name, roles=roles, evidence=_evidence(quotes)))
        return DocumentExtraction(doc_id=doc_id, people=people)

    return ConstrainedCall("people", text, INSTRUCTIONS["people"], model, interpret)


# The "no deal" shape offers nothing of a candidate's, so every deal question shares it.
_NO_DEAL = create_model("NoDeal", __config__=_FORBID, deal_type=(Literal["none"], ...))


@functools.lru_cache(maxsize=KEPT_QUESTION_MODELS)
def _deal_model(
    organizations: tuple[str, ...],
    people: tuple[str, ...],
    types: tuple[str, ...],
    statuses: tuple[str, ...],
) -> tuple[type[BaseModel], Labels]:
    """The deal question over these parties, types and statuses, and the parties' labels."""
    org_labels = Labels(organizations)
    parties = Labels((*organizations, *people))
    status = Literal[tuple(s for s in STATUSES if s in statuses)]  # type: ignore[misc]
    shapes: list[Any] = [_NO_DEAL]
    for deal_type in (t for t in SIDES if t in types):
        fields: dict[str, Any] = {"deal_type": (Literal[deal_type], ...)}  # type: ignore[valid-type]
        for key, role, many in SIDES[deal_type]:
            names = parties if role == "investor" else org_labels
            if many:
                least = 2 if role == "partner" else 1
                fields[key] = (list[names.enum()], Field(min_length=least, max_length=3))
            else:
                fields[key] = (names.enum(), ...)
        fields["status"] = (status, ...)
        shapes.append(
            create_model(deal_type.title().replace("_", ""), __config__=_FORBID, **fields)
        )
    model = create_model(
        "DealAnswer",
        __base__=CachedSchema,
        answer=(Union[tuple(shapes)], ...),  # type: ignore[valid-type]  # noqa: UP007
    )
    return model, parties


def deal_call(candidate: DealCandidate) -> ConstrainedCall:
    """One deal candidate's question: a union of "none" and one shape per deal type its wording
    allows, each naming its sides from the organizations (and, as investors, people) offered."""
    model, parties = _deal_model(
        candidate.organizations, candidate.people, candidate.types, candidate.statuses
    )

    def interpret(doc_id: str, answer: dict[str, Any]) -> DocumentExtraction:
        return DocumentExtraction(
            doc_id=doc_id, deals=deals_from(answer["answer"], candidate, parties)
        )

    return ConstrainedCall("deal", candidate.passage, INSTRUCTIONS["deal"], model, interpret)


def deals_from(answer: dict[str, Any], candidate: DealCandidate, labels: Labels) -> list[Deal]:
    """The deals one answer reports: none, one, or one per investor of an investment."""
    deal_type = answer["deal_type"]
    if deal_type == "none":
        return []
    sides: list[list[tuple[str, str]]] = []
    for key, role, many in SIDES[deal_type]:
        picked = answer[key] if many else [answer[key]]
        names = [labels(label) for label in dict.fromkeys(picked)]
        sides.append([(name, role) for name in names if name])
    if deal_type == "investment":  # one deal per investor (gold/GUIDELINES.md 5.2)
        groups = [[investor, *sides[1]] for investor in sides[0]]
    else:
        groups = [[party for side in sides for party in side]]
    deals = []
    for group in groups:
        names = [name for name, _ in group]
        if len(set(names)) < 2 or len(set(names)) < len(names):
            continue  # a party on both sides, or one party alone: no deal
        deals.append(_deal(deal_type, group, answer["status"], candidate))
    return deals


def _deal(
    deal_type: str,
    group: list[tuple[str, str]],
    status: str,
    candidate: DealCandidate,
) -> Deal:
    """A deal with the amount, valuation, stake and date of the candidate's own sentence, and
    as evidence that sentence plus, for a party it only describes, the one naming it."""
    quotes = [candidate.sentence]
    if candidate.context and any(not names_in(candidate.sentence, (n,)) for n, _ in group):
        quotes.insert(0, candidate.context)  # the earlier sentence that names the party
    return Deal(
        deal_type=deal_type,  # type: ignore[arg-type]
        parties=[Party(name=name, role=role) for name, role in group],  # type: ignore[arg-type]
        amount=Money.model_validate(parse_money(candidate.amount)) if candidate.amount else None,
        valuation=(
            Money.model_validate(parse_money(candidate.valuation)) if candidate.valuation else None
        ),
        stake_percent=parse_percent(candidate.stake) if candidate.stake else None,
        status=status,  # type: ignore[arg-type]
        date=parse_date(candidate.date) if candidate.date else None,
        evidence=_evidence(quotes),
    )


def calls_for(
    text: str, asked: set[Hashable] | None = None
) -> tuple[list[ConstrainedCall], Candidates, list[DealCandidate]]:
    """The questions for one text (an article or a chunk of one), with the candidates they
    offer: organizations, people, then one question per deal candidate. A deal candidate in
    `asked` (the same sentence, context and options seen earlier in the article, e.g. in the
    overlap of two chunks or in repeated text) is not asked again; those asked are added."""
    asked = set() if asked is None else asked
    candidates = find_candidates(text)
    deal_candidates = find_deal_candidates(text, candidates)
    calls = []
    if candidates.organizations:
        calls.append(company_call(text, candidates))
    if candidates.people:
        calls.append(person_call(text, candidates))
    for candidate in deal_candidates:
        # The same candidate is the same request and the same answer: one ask is enough.
        if candidate not in asked:
            asked.add(candidate)
            calls.append(deal_call(candidate))
    return calls, candidates, deal_candidates
