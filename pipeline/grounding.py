"""Ground an extraction in its article: find every quote's span, check every key value.

Quotes are located in three steps (exact, then normalised, then fuzzy with rapidfuzz), and
offsets always index the original text, so `text[start:end]` is the span. Names, amounts,
percents and years must occur in the article. `strict` drops what is unsupported, `flag` keeps
it marked `grounded: false`; either way every finding is reported for rejected.jsonl.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from rapidfuzz import fuzz

from eval.normalize import normalize_company
from pipeline.settings import Grounding
from schemas.records import Company, Deal, DocumentExtraction, Person, record_label
from schemas.values import amounts_in

FUZZY_MIN_SCORE = 90.0
MONEY_REL_TOL = 0.005  # a value must be the article's number, give or take rounding

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "′": "'"})
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[6-9]\d\d|20\d\d|2100)\b")


def normalise(text: str) -> tuple[str, array[int]]:
    """NFKC, straight quotes, one space for any whitespace run, case-folded; plus, for each
    character of the result, the offset in `text` it came from (and a final sentinel). The
    offsets are a compact array: a list of Python ints costs 36 bytes a character, 180 MB for
    a 5 MB article."""
    chars: list[str] = []
    index = array("L")
    for offset, original in enumerate(text):
        for char in unicodedata.normalize("NFKC", original).translate(_QUOTES).casefold():
            if char.isspace():
                if not chars or chars[-1] == " ":
                    continue
                char = " "
            chars.append(char)
            index.append(offset)
    index.append(len(text))
    return "".join(chars), index


def occurs_as_words(needle: str, haystack: str) -> bool:
    """Whether `needle` occurs in `haystack` with no word character glued to either end, as
    the regex (?<!\\w)needle(?!\\w) would say; a plain search, because compiling each name
    into a regex cost more than the rest of grounding."""
    start = haystack.find(needle)
    while start >= 0:
        end = start + len(needle)
        if not (_word_char_at(haystack, start - 1) or _word_char_at(haystack, end)):
            return True
        start = haystack.find(needle, start + 1)
    return False


def _word_char_at(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")


@dataclass(frozen=True)
class Span:
    """Where a quote was found in the original text, and how."""

    start: int
    end: int
    method: Literal["exact", "normalised", "fuzzy"]


@dataclass
class Article:
    """An article prepared for grounding: the values it mentions and, computed only when an
    exact match fails, its normalised form."""

    text: str

    @cached_property
    def _normalised(self) -> tuple[str, array[int]]:
        return normalise(self.text)

    @property
    def normalised(self) -> str:
        return self._normalised[0]

    def _original_span(self, start: int, end: int) -> tuple[int, int]:
        index = self._normalised[1]
        return index[start], index[end - 1] + 1

    def locate(self, quote: str) -> Span | None:
        """The span of `quote` in the text: exact, else normalised, else fuzzy (score >= 90)."""
        position = self.text.find(quote)
        if position >= 0:
            return Span(position, position + len(quote), "exact")
        wanted = normalise(quote)[0].strip()
        if not wanted:
            return None
        position = self.normalised.find(wanted)
        if position >= 0:
            return Span(*self._original_span(position, position + len(wanted)), "normalised")
        if len(wanted) < 12:  # too short for a fuzzy match to mean anything
            return None
        found = fuzz.partial_ratio_alignment(wanted, self.normalised, score_cutoff=FUZZY_MIN_SCORE)
        if found is None or found.dest_end <= found.dest_start:
            return None
        return Span(*self._original_span(found.dest_start, found.dest_end), "fuzzy")

    @cached_property
    def folded(self) -> str:
        return self.text.casefold()

    def mentions_name(self, name: str) -> bool:
        """Whether the name, or the name without a legal suffix ("Meta Platforms Inc." ->
        "Meta Platforms"), occurs as whole words in the article."""
        for form in {name.strip(), normalize_company(name)}:
            # The case-folded search settles nearly every name without normalising the text.
            if form and occurs_as_words(form.casefold(), self.folded):
                return True
            wanted = normalise(form)[0].strip()
            if wanted and occurs_as_words(wanted, self.normalised):
                return True
        return False

    @cached_property
    def amounts(self) -> list[float]:
        return amounts_in(self.text)

    @cached_property
    def percents(self) -> set[float]:
        return {float(match.group(1)) for match in _PERCENT.finditer(self.text)}

    @cached_property
    def years(self) -> set[str]:
        return set(_YEAR.findall(self.text))

    def mentions_amount(self, value: float) -> bool:
        return any(abs(value - seen) <= MONEY_REL_TOL * max(value, seen) for seen in self.amounts)


@dataclass(frozen=True)
class Finding:
    """One unsupported record or value, as written to rejected.jsonl."""

    record_type: str
    record: str
    field: str
    value: Any
    reason: str
    action: Literal["dropped", "flagged"]

    def to_json(self, doc_id: str) -> dict[str, Any]:
        return {"doc_id": doc_id, **self.__dict__}


@dataclass
class _Checker:
    """Checks records one by one, collecting findings; strict drops, flag marks."""

    article: Article
    mode: Grounding
    findings: list[Finding] = field(default_factory=list)

    def company(self, company: Company) -> Company | None:
        check = _RecordCheck(self, "company", company)
        check.require(self.article.mentions_name(company.name), "name", company.name)
        aliases = check.keep("aliases", company.aliases, self.article.mentions_name)
        return check.finish(aliases=aliases)

    def person(self, person: Person) -> Person | None:
        check = _RecordCheck(self, "person", person)
        check.require(self.article.mentions_name(person.name), "name", person.name)
        roles = check.keep(
            "roles",
            person.roles,
            lambda role: not role.organization or self.article.mentions_name(role.organization),
        )
        return check.finish(roles=roles)

    def deal(self, deal: Deal) -> Deal | None:
        check = _RecordCheck(self, "deal", deal)
        for party in deal.parties:
            check.require(self.article.mentions_name(party.name), "parties", party.name)
        amounts = self.article.mentions_amount
        update = {
            "amount": check.value("amount", deal.amount, lambda m: amounts(m.value)),
            "valuation": check.value("valuation", deal.valuation, lambda m: amounts(m.value)),
            "stake_percent": check.value(
                "stake_percent", deal.stake_percent, lambda p: p in self.article.percents
            ),
            "date": check.value("date", deal.date, lambda d: d[:4] in self.article.years),
        }
        return check.finish(**update)


@dataclass
class _RecordCheck:
    """The findings about one record: record-level ones drop it (strict), value-level ones
    drop the value (strict); in flag mode either marks the record `grounded: false`."""

    checker: _Checker
    kind: str
    record: Company | Person | Deal
    problems: int = 0
    record_problems: int = 0

    @property
    def strict(self) -> bool:
        return self.checker.mode == "strict"

    def _note(self, name: str, value: Any, reason: str) -> None:
        action: Literal["dropped", "flagged"] = "dropped" if self.strict else "flagged"
        label = record_label(self.record)
        if hasattr(value, "model_dump"):  # a Money or Role is reported as its fields
            value = value.model_dump()
        self.checker.findings.append(Finding(self.kind, label, name, value, reason, action))
        self.problems += 1

    def require(self, supported: bool, name: str, value: Any) -> None:
        """A value the record stands or falls with (a name, a party)."""
        if not supported:
            self._note(name, value, f"{name} not in the article")
            self.record_problems += 1

    def value(self, name: str, value: Any, supported: Any) -> Any:
        """A single value: kept when supported (or absent), else dropped or flagged."""
        if value is None or supported(value):
            return value
        self._note(name, value, f"{name} not in the article")
        return None if self.strict else value

    def keep(self, name: str, items: list[Any], supported: Any) -> list[Any]:
        """The items of a list field that are supported (in flag mode: all of them)."""
        kept = []
        for item in items:
            if supported(item):
                kept.append(item)
                continue
            self._note(name, item, f"{name} not in the article")
            if not self.strict:
                kept.append(item)
        return kept

    def finish(self, **update: Any) -> Any:
        """The grounded record, or None when strict mode drops it."""
        evidence = []
        for item in self.record.evidence:
            span = self.checker.article.locate(item.quote)
            if span is not None:
                located = {"start": span.start, "end": span.end, "grounded": True}
                evidence.append(item.model_copy(update=located))
                continue
            self._note("evidence", item.quote, "quote not found in the article")
            if not self.strict:
                evidence.append(item.model_copy(update={"grounded": False}))
        if not any(item.grounded for item in evidence):
            self._note("evidence", None, "no evidence quote found in the article")
            self.record_problems += 1
        if self.record_problems and self.strict:
            return None
        grounded = self.strict or self.problems == 0
        return self.record.model_copy(update={**update, "evidence": evidence, "grounded": grounded})


def ground(
    record: DocumentExtraction, text: str, mode: Grounding
) -> tuple[DocumentExtraction, list[Finding]]:
    """Locate the quotes of `record` in `text` and check its values, as `mode` says."""
    if mode == "off":
        return record, []
    checker = _Checker(Article(text), mode)
    companies = [c for c in map(checker.company, record.companies) if c is not None]
    people = [p for p in map(checker.person, record.people) if p is not None]
    deals = [d for d in map(checker.deal, record.deals) if d is not None]
    grounded = record.model_copy(update={"companies": companies, "people": people, "deals": deals})
    return grounded, checker.findings
