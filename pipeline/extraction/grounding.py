"""Ground an extraction in its article: a record is kept only when its own evidence supports it.

Each evidence quote is located in the original text (exact, then normalized, then fuzzy with
rapidfuzz). Then every value that comes from the text is looked for *inside the located quotes*
of its record, not anywhere in the article: a company's name or an alias, a person's name or
surname, every party of a deal (by name or its company's alias), each amount and valuation by
value within rounding ("$14.3 billion" = 14,300,000,000), the stake, the date, titles,
organizations, the founding year and the headquarters. A found value gets a `ValueSpan` with
the offsets of its own mention, so `text[start:end]` is the value as written.

A value the evidence does not state is dropped under `strict` and flagged under `flag`; a
record whose identifying values (name; a deal's parties) or evidence are unsupported is dropped
or flagged as a whole. Every such finding names the value, the quotes and the reason, for
rejected.jsonl, and the support counts (before anything was dropped) go into the extraction.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from rapidfuzz import fuzz

from pipeline.settings import Grounding
from schemas.normalize import (
    GENERATIONAL_SUFFIXES,
    LEGAL_SUFFIXES,
    fold,
    normalize_company,
    normalize_title,
)
from schemas.records import (
    Company,
    Deal,
    DocumentExtraction,
    Evidence,
    Person,
    Role,
    Support,
    ValueSpan,
    record_label,
)
from schemas.values import (
    AMOUNT_MENTION,
    DATE_MENTION,
    PERCENT_MENTION,
    mention_amount,
    parse_date,
)

FUZZY_MIN_SCORE = 90.0
MONEY_REL_TOL = 0.005  # a value must be the article's number, give or take rounding

_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "′": "'"})
# How a title is written when its normal form is not: "CEO" as "chief executive officer",
# "co-founder" as "founded by", "head of <unit>" as "lead <unit>".
_TITLE_VARIANTS: dict[str, tuple[str, ...]] = {
    "ceo": ("ceo", "chief executive officer", "chief executive"),
    "cfo": ("cfo", "chief financial officer"),
    "cto": ("cto", "chief technology officer"),
    "coo": ("coo", "chief operating officer"),
    "co founder": ("co-founder", "cofounder", "co-founded", "founder", "founded"),
    "founder": ("founder", "founded"),
    "chair": ("chair", "chairman", "chairwoman", "chairperson"),
}
Action = Literal["dropped", "flagged"]


def normalize(text: str) -> tuple[str, array[int]]:
    """NFKC, straight quotes, one space for any whitespace run, case-folded; plus, for each
    character of the result, the offset in `text` it came from (and a final sentinel). The
    offsets are a compact array: a list of Python ints costs 36 bytes a character, 180 MB for
    a 5 MB article."""
    parts: list[str] = []
    index = array("L")
    # Whether the result so far is empty or ends in a space: whitespace then adds nothing.
    spaced = True
    position = 0
    if not text.isascii():
        for other in _NON_ASCII.finditer(text):
            spaced = _normalize_ascii(text, position, other.start(), parts, index, spaced)
            spaced = _normalize_other(text, other.start(), other.end(), parts, index, spaced)
            position = other.end()
    _normalize_ascii(text, position, len(text), parts, index, spaced)
    index.append(len(text))
    return "".join(parts), index


# ASCII is its own NFKC form and has no curly quotes: only its case and whitespace change, so
# a run of it is normalized with string methods, not a character at a time (about a tenth of
# the 0.25 µs a character the Python loop took; most text is ASCII).
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# One byte table for both (str.translate looks each character up in a dict): lower case, and
# a space for every character str.isspace takes, \x1c-\x1f included.
_ASCII_FOLD = bytes(
    ord(" ") if char.isspace() else ord(char.lower()) for char in map(chr, range(128))
) + bytes(range(128, 256))
_SPACES = re.compile(" *")


def _normalize_ascii(
    text: str, start: int, end: int, parts: list[str], index: array[int], spaced: bool
) -> bool:
    """Append the ASCII run text[start:end] normalized to `parts` and its offsets to `index`;
    returns whether the result now ends in a space (`spaced`: it did before, or was empty)."""
    run = text[start:end].encode("ascii").translate(_ASCII_FOLD).decode("ascii")
    if not run:
        return spaced
    kept = _SPACES.match(run).end() if spaced else 0
    double = run.find("  ", kept)
    while double >= 0:
        cut = double + 1  # the first space of a run stands for all of it
        parts.append(run[kept:cut])
        index.extend(range(start + kept, start + cut))
        kept = _SPACES.match(run, cut).end()
        double = run.find("  ", kept)
    parts.append(run[kept:])
    index.extend(range(start + kept, end))
    return run[-1] == " "


def _normalize_other(
    text: str, start: int, end: int, parts: list[str], index: array[int], spaced: bool
) -> bool:
    """`_normalize_ascii` for a run of non-ASCII text, a character at a time: NFKC may expand
    one character into several, each of which keeps the offset it came from."""
    for offset in range(start, end):
        for char in _fold(text[offset]):
            if char.isspace():
                if spaced:
                    continue
                char = " "
            parts.append(char)
            index.append(offset)
            spaced = char == " "
    return spaced


@functools.lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    """One non-ASCII character NFKC-normalized, quotes straightened and case-folded; articles
    use the same few (quotes, dashes, accented letters) over and over."""
    return unicodedata.normalize("NFKC", char).translate(_QUOTES).casefold()


@functools.lru_cache(maxsize=4096)
def normalized_form(form: str) -> str:
    """A name, title or value form as `normalize` writes it, without the offsets; the same few
    forms are looked up for every record of a run."""
    return normalize(form)[0].strip()


def occurs_as_words(needle: str, haystack: str) -> bool:
    """Whether `needle` occurs in `haystack` with no word character glued to either end."""
    return find_word(needle, haystack) >= 0


def find_word(needle: str, haystack: str, start: int = 0) -> int:
    """The first position of `needle` in `haystack` from `start` with no word character glued
    to either end, as the regex (?<!\\w)needle(?!\\w) would find it, or -1; a plain search,
    because compiling each name into a regex cost more than the rest of grounding."""
    if not needle:
        return -1
    position = haystack.find(needle, start)
    while position >= 0:
        end = position + len(needle)
        if not (_word_char_at(haystack, position - 1) or _word_char_at(haystack, end)):
            return position
        position = haystack.find(needle, position + 1)
    return -1


def _word_char_at(text: str, index: int) -> bool:
    return 0 <= index < len(text) and (text[index].isalnum() or text[index] == "_")


@dataclass(frozen=True)
class Span:
    """Where a quote was found in the original text, and how."""

    start: int
    end: int
    method: Literal["exact", "normalized", "fuzzy"]


Mention = tuple[int, int]  # start and end of a value's mention in the original text


@dataclass
class Article:
    """An article prepared for grounding; its normalized form is computed only when an exact
    match fails."""

    text: str
    # A record's quotes are searched once per value: each region is normalized once.
    _regions: dict[Mention, tuple[str, array[int]]] = field(default_factory=dict, repr=False)

    @cached_property
    def _normalized(self) -> tuple[str, array[int]]:
        return normalize(self.text)

    def _normalized_region(self, start: int, end: int) -> tuple[str, array[int]]:
        found = self._regions.get((start, end))
        if found is None:
            found = self._regions[start, end] = normalize(self.text[start:end])
        return found

    def locate(self, quote: str) -> Span | None:
        """The span of `quote` in the text: exact, else normalized, else fuzzy (score >= 90)."""
        position = self.text.find(quote)
        if position >= 0:
            return Span(position, position + len(quote), "exact")
        wanted = normalize(quote)[0].strip()
        if not wanted:
            return None
        normalized, index = self._normalized
        position = normalized.find(wanted)
        if position >= 0:
            end = position + len(wanted)
            return Span(index[position], index[end - 1] + 1, "normalized")
        if len(wanted) < 12:  # too short for a fuzzy match to mean anything
            return None
        found = fuzz.partial_ratio_alignment(wanted, normalized, score_cutoff=FUZZY_MIN_SCORE)
        if found is None or found.dest_end <= found.dest_start:
            return None
        return Span(index[found.dest_start], index[found.dest_end - 1] + 1, "fuzzy")

    def find_phrase(self, forms: Iterable[str], regions: Iterable[Mention]) -> Mention | None:
        """The first whole-word mention of any of `forms` inside `regions` of the text, matched
        normalized (case, curly quotes, NBSP, NFKC); offsets index the original text."""
        wanted = [w for w in dict.fromkeys(normalized_form(f) for f in forms) if w]
        best: Mention | None = None
        for start, end in regions:
            normalized, index = self._normalized_region(start, end)
            for form in wanted:
                at = find_word(form, normalized)
                if at >= 0:
                    found = (start + index[at], start + index[at + len(form) - 1] + 1)
                    # The earliest mention, and of two starting there the longer form.
                    if best is None or (found[0], -found[1]) < (best[0], -best[1]):
                        best = found
        return best

    def find_pattern(
        self, pattern: re.Pattern[str], regions: Iterable[Mention], accept: Callable[[Any], bool]
    ) -> Mention | None:
        """The first match of `pattern` inside `regions` that `accept` takes."""
        for start, end in sorted(regions):
            for match in pattern.finditer(self.text, start, end):
                if accept(match):
                    return match.start(), match.end()
        return None

    @property
    def whole(self) -> list[Mention]:
        return [(0, len(self.text))]


def name_forms(name: str) -> list[str]:
    """A name and its shorter forms without legal suffixes: "Meta Platforms Inc." ->
    ["Meta Platforms Inc.", "Meta Platforms", "Meta"]."""
    forms = [name.strip()]
    words = forms[0].split()
    while len(words) > 1 and fold(words[-1]) in LEGAL_SUFFIXES:
        words.pop()
        forms.append(" ".join(words).rstrip(","))
    return forms


def person_forms(name: str) -> list[str]:
    """A person's full name, then the surname alone ("Alexandr Wang" -> "Wang"); a generational
    suffix is not a surname ("Martin Luther King Jr." -> "King": a "Jr." anywhere would
    support any name ending in one)."""
    words = name.split()
    while len(words) > 1 and fold(words[-1]) in GENERATIONAL_SUFFIXES:
        words.pop()
    return [name.strip(), words[-1]] if len(words) > 1 else [name.strip()]


def title_forms(title: str) -> list[str]:
    """How a title may be written: its own words, and the variants of its normal form."""
    core = normalize_title(title).removeprefix("former ")
    forms = [title, core, *_TITLE_VARIANTS.get(core, ())]
    if core.startswith("head of "):
        unit = core.removeprefix("head of ")
        forms += [f"lead a new {unit}", f"lead a {unit}", f"lead the {unit}", f"lead {unit}"]
        forms += [f"leads {unit}", f"head of the {unit}"]
    return forms


def _money_agrees(value: float) -> Callable[[re.Match[str]], bool]:
    return lambda m: abs(mention_amount(m) - value) <= MONEY_REL_TOL * max(value, mention_amount(m))


def _date_agrees(date: str) -> Callable[[re.Match[str]], bool]:
    """A date mention agrees at the record's granularity; a month written without its year
    ("in March", "June 12", "12 June") states the month (and the day, when written) of a date
    whose year the article leaves implicit."""

    def accept(match: re.Match[str]) -> bool:
        written = match.group(0).replace(" of ", " ")
        try:
            mention = parse_date(written)
        except ValueError:
            if len(date) < 7:
                return False
            try:
                # The year is a stand-in: only the month and the day are compared.
                month_day = parse_date(f"{written} 2000")[5:]
            except ValueError:
                return False
            same_day = len(date) < 10 or month_day[3:] in ("", date[8:])
            return month_day[:2] == date[5:7] and same_day
        return len(mention) >= len(date) and mention[: len(date)] == date

    return accept


@dataclass(frozen=True)
class Finding:
    """One unsupported record or value, as written to rejected.jsonl: which value, in which
    quotes, why, and what grounding did about it."""

    record_type: str
    index: int  # the record's position in the document's list of its type, before grounding
    record: str
    field: str
    value: Any
    quotes: list[str]
    reason: str
    action: Action
    level: Literal["record", "value"]

    def to_json(self, doc_id: str) -> dict[str, Any]:
        return {"doc_id": doc_id, **self.__dict__}


@dataclass
class _Check:
    """The grounding of one record: its located evidence, the spans of the values found in
    it, and what was not found."""

    article: Article
    mode: Grounding
    kind: str
    index: int
    record: Company | Person | Deal
    findings: list[Finding]
    regions: list[Mention] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    spans: list[ValueSpan] = field(default_factory=list)
    values: int = 0
    supported: int = 0
    identity_lost: bool = False

    @property
    def strict(self) -> bool:
        return self.mode == "strict"

    def locate_evidence(self) -> None:
        for item in self.record.evidence:
            span = self.article.locate(item.quote)
            if span is not None:
                self.regions.append((span.start, span.end))
                located = {"start": span.start, "end": span.end, "grounded": True}
                self.evidence.append(item.model_copy(update=located))
                continue
            self._note("evidence", item.quote, "quote not found in the article", "value")
            if not self.strict:
                self.evidence.append(item.model_copy(update={"grounded": False}))
        if not self.regions:
            self._note("evidence", None, "no evidence quote found in the article", "record")
            self.identity_lost = True

    def _note(self, name: str, value: Any, reason: str, level: Literal["record", "value"]) -> None:
        action: Action = "dropped" if self.strict else "flagged"
        if hasattr(value, "model_dump"):  # a Money or Role is reported as its fields
            value = value.model_dump(exclude={"spans"})
        quotes = [item.quote for item in self.record.evidence]
        label = record_label(self.record)
        finding = Finding(self.kind, self.index, label, name, value, quotes, reason, action, level)
        self.findings.append(finding)

    def _span(self, name: str, mention: Mention, grounded: bool = True) -> None:
        start, end = mention
        text = self.article.text[start:end]
        self.spans.append(ValueSpan(field=name, text=text, start=start, end=end, grounded=grounded))

    def value(
        self,
        name: str,
        value: Any,
        find: Callable[[list[Mention]], Mention | None],
        *,
        identifying: bool = False,
    ) -> bool:
        """Look for one value in the evidence; returns whether to keep it. An identifying value
        that is not there costs the whole record (see `finish`); any other is dropped (strict)
        or flagged."""
        self.values += 1
        found = find(self.regions) if self.regions else None
        if found is not None:
            self.supported += 1
            self._span(name, found)
            return True
        level: Literal["record", "value"] = "record" if identifying else "value"
        self._note(name, value, f"{name} is not in the record's evidence", level)
        self.identity_lost |= identifying
        if self.strict:
            return identifying  # an identifying value goes with its record, not alone
        elsewhere = find(self.article.whole)
        if elsewhere is not None:
            self._span(name, elsewhere, grounded=False)
        return True

    def phrase(self, forms: list[str]) -> Callable[[list[Mention]], Mention | None]:
        return lambda regions: self.article.find_phrase(forms, regions)

    def finish(self, **update: Any) -> Any:
        """The grounded record, or None when strict mode drops it."""
        if self.identity_lost and self.strict:
            return None
        problems = self.supported < self.values or len(self.evidence) < len(self.record.evidence)
        grounded = self.strict or not (problems or self.identity_lost)
        changes = {**update, "evidence": self.evidence, "spans": self.spans, "grounded": grounded}
        return self.record.model_copy(update=changes)

    @property
    def fully_supported(self) -> bool:
        """Before anything was dropped: the evidence is there and states every value."""
        located_all = len(self.regions) == len(self.record.evidence) > 0
        return located_all and self.supported == self.values and not self.identity_lost


@dataclass
class _Grounder:
    """Grounds the records of one document, collecting findings and support counts."""

    article: Article
    mode: Grounding
    aliases: dict[str, list[str]]
    findings: list[Finding] = field(default_factory=list)
    # Support's fields by record type, as plain counts (a pydantic model validated each one).
    counts: dict[str, list[int]] = field(default_factory=dict)

    def _start(self, kind: str, record: Company | Person | Deal) -> _Check:
        index = self.counts[kind][0] if kind in self.counts else 0
        check = _Check(self.article, self.mode, kind, index, record, self.findings)
        check.locate_evidence()
        return check

    def _count(self, kind: str, check: _Check) -> None:
        counts = self.counts.setdefault(kind, [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += check.fully_supported
        counts[2] += check.values
        counts[3] += check.supported

    def support(self, kind: str) -> Support:
        """The support counts of one record type."""
        records, records_supported, values, values_supported = self.counts.get(kind, (0,) * 4)
        return Support(
            records=records,
            records_supported=records_supported,
            values=values,
            values_supported=values_supported,
        )

    def company(self, company: Company) -> Company | None:
        check = self._start("company", company)
        forms = [*name_forms(company.name), *company.aliases]
        check.value("name", company.name, check.phrase(forms), identifying=True)
        aliases = [
            alias
            for index, alias in enumerate(company.aliases)
            if check.value(f"aliases[{index}]", alias, check.phrase([alias]))
        ]
        update: dict[str, Any] = {"aliases": aliases}
        if company.founded_year is not None:
            year = str(company.founded_year)
            found = check.phrase([year])
            update["founded_year"] = (
                company.founded_year if check.value("founded_year", year, found) else None
            )
        if company.headquarters is not None:
            place = company.headquarters
            forms_hq = [place, place.split(",", 1)[0]]
            kept = check.value("headquarters", place, check.phrase(forms_hq))
            update["headquarters"] = place if kept else None
        self._count("company", check)
        return check.finish(**update)

    def person(self, person: Person) -> Person | None:
        check = self._start("person", person)
        check.value("name", person.name, check.phrase(person_forms(person.name)), identifying=True)
        roles = [role for index, role in enumerate(person.roles) if self._role(check, index, role)]
        self._count("person", check)
        return check.finish(roles=roles)

    def _role(self, check: _Check, index: int, role: Role) -> bool:
        title = check.value(
            f"roles[{index}].title", role.title, check.phrase(title_forms(role.title))
        )
        if role.organization is None:
            return title
        forms = self.organization_forms(role.organization)
        organization = check.value(
            f"roles[{index}].organization", role.organization, check.phrase(forms)
        )
        return title and organization

    def deal(self, deal: Deal) -> Deal | None:
        check = self._start("deal", deal)
        for index, party in enumerate(deal.parties):
            forms = self.organization_forms(party.name)
            check.value(f"parties[{index}].name", party.name, check.phrase(forms), identifying=True)
        update: dict[str, Any] = {}
        for name in ("amount", "valuation"):
            money = getattr(deal, name)
            if money is not None:
                agrees = _money_agrees(money.value)
                find = self._pattern(AMOUNT_MENTION, agrees)
                update[name] = money if check.value(name, money, find) else None
        if deal.stake_percent is not None:
            stake = deal.stake_percent
            find = self._pattern(PERCENT_MENTION, lambda m: abs(float(m.group(1)) - stake) < 0.05)
            update["stake_percent"] = stake if check.value("stake_percent", stake, find) else None
        if deal.date is not None:
            find = self._pattern(DATE_MENTION, _date_agrees(deal.date))
            update["date"] = deal.date if check.value("date", deal.date, find) else None
        self._count("deal", check)
        return check.finish(**update)

    def _pattern(
        self, pattern: re.Pattern[str], accept: Callable[[Any], bool]
    ) -> Callable[[list[Mention]], Mention | None]:
        return lambda regions: self.article.find_pattern(pattern, regions, accept)

    def organization_forms(self, name: str) -> list[str]:
        """A party's or employer's name, its shorter forms, and the aliases the same document
        gives that company ("Meta" is also "Meta Platforms")."""
        return [*name_forms(name), *self.aliases.get(normalize_company(name), [])]


def company_aliases(companies: list[Company]) -> dict[str, list[str]]:
    """Every name and alias of the document's companies, by normalized name."""
    aliases: dict[str, list[str]] = {}
    for company in companies:
        names = [company.name, *company.aliases]
        for name in names:
            aliases.setdefault(normalize_company(name), []).extend(names)
    return aliases


def ground(
    record: DocumentExtraction, text: str, mode: Grounding
) -> tuple[DocumentExtraction, list[Finding]]:
    """Locate the evidence of `record` in `text` and check that it supports every value, as
    `mode` says; returns the grounded extraction (with its support counts) and the findings."""
    if mode == "off":
        return record, []
    grounder = _Grounder(Article(text), mode, company_aliases(record.companies))
    companies = [c for c in map(grounder.company, record.companies) if c is not None]
    people = [p for p in map(grounder.person, record.people) if p is not None]
    deals = [d for d in map(grounder.deal, record.deals) if d is not None]
    support = {kind: grounder.support(kind) for kind in ("company", "person", "deal")}
    grounded = record.model_copy(
        update={"companies": companies, "people": people, "deals": deals, "support": support}
    )
    return grounded, grounder.findings
