"""Candidate spans of an article, for the constrained strategy: the names, amounts, percents,
dates and sentences a small model may choose from (as JSON Schema enums) instead of writing.

No NLP library in the registries ships its model inside the package, so this is a small,
tested heuristic: capitalised word runs for names, and the money/percent/date patterns that
schemas.values already parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from schemas.values import parse_date, parse_money

MAX_SENTENCES = 60
MAX_SENTENCE_CHARS = 400
MIN_SENTENCE_CHARS = 25

_TOKEN = re.compile(r"[^\s—–]+")  # dashes separate words like spaces
_POSSESSIVE = re.compile(r"['’]s$")
_CONNECTORS = frozenset({"of", "for", "de", "du", "von", "van", "&"})
_EDGE_PUNCTUATION = "\"“”‘’'(),:;!?"


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Capitalised words that start sentences or headings, or are titles, but name nothing.
_NOT_NAMES = _word_set(
    """a an the this that these those it its in on at as if of for by with from to and or but
    after before while when where which who what how why both all any some many most more such
    each every other another one two three first last new our we they he she his her their you
    your i update original content summary ad ads recommendation tags comments replying back
    previous page read more share join according founded published updated edited by about
    brief news report technology business however meanwhile also still yet so then there here
    despite ceo cfo cto coo chief executive officer president chairman chair founder co-founder
    cofounder director head mr ms dr january february march april may june july august
    september october november december monday tuesday wednesday thursday friday saturday
    sunday"""
)
_ORG_WORDS = _word_set(
    """ai inc corp corporation ltd llc group bank labs lab capital ventures partners department
    agency commission ministry university institute foundation fund holdings technologies
    systems platforms company co news post times journal"""
)
_QUALIFIER = (
    r"(?:(?:about|around|approximately|roughly|nearly|nearing|almost|over|more than|"
    r"less than|under|up to|as much as|some|an estimated|at least)\s+)?"
)
_MONEY = re.compile(
    _QUALIFIER
    + r"(?:US\$|HK\$|C\$|A\$|\$|€|£|¥)\s?\d[\d,]*(?:\.\d+)?"
    + r"(?:\s?-?\s?(?:trillion|billion|million|thousand|bn|mn|[bmk])\b)?",
    re.IGNORECASE,
)
_PERCENT = re.compile(r"\d+(?:\.\d+)?\s?(?:%|percent\b|per cent\b)", re.IGNORECASE)
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)"
)
_DATE = re.compile(rf"{_MONTHS}(?:\s+\d{{1,2}}(?:st|nd|rd|th)?,?)?\s+\d{{4}}")
_TITLE = re.compile(
    r"\b(?:co-?founder|founder|chief executive(?: officer)?|chief \w+ officer|CEO|CFO|CTO|COO|"
    r"president|chair(?:man|woman)?|director|partner|head of [\w ]{3,40}?(?= at| of|[,.])|"
    r"(?:managing|general) partner|publisher|analyst|investor)\b",
    re.IGNORECASE,
)
_SENTENCE_GAP = re.compile(r"(?<=[.!?])\s+(?=[\"“A-Z0-9])|\n")
_HEADING_CHARS = 80


@dataclass(frozen=True)
class Candidates:
    """What the article offers, each list in order of first appearance, without repeats."""

    names: tuple[str, ...]
    people: tuple[str, ...]
    organisations: tuple[str, ...]
    amounts: tuple[str, ...]
    percents: tuple[str, ...]
    dates: tuple[str, ...]
    titles: tuple[str, ...]
    sentences: tuple[str, ...]


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def _is_heading(words: list[str]) -> bool:
    """A title-case line ("Meta In Talks For Potential $10B Investment"): its capitals mark
    style, not names, so it offers no candidates (the names in it recur in the body)."""
    alphabetic = [word for word in words if word[:1].isalpha()]
    capitalised = [word for word in alphabetic if word[0].isupper()]
    return len(alphabetic) >= 4 and len(capitalised) >= 0.75 * len(alphabetic)


def _close(run: list[str], names: list[str]) -> None:
    """End a run of capitalised words: keep it as a name unless it is a lone letter."""
    while run and run[-1].casefold() in _CONNECTORS:
        run.pop()
    if run and not (len(run) == 1 and len(run[0]) < 2):
        names.append(" ".join(run))
    run.clear()


def _ends_sentence(raw: str) -> bool:
    """A word ending in a full stop that is no abbreviation ("U.S.", "Inc.", "J.")."""
    word = raw.rstrip(_EDGE_PUNCTUATION)
    return word.endswith(".") and not re.search(
        r"\.\w+\.$|^[A-Z]\.$|^(?:Inc|Corp|Ltd|Co|Jr|Sr)\.$", word.lstrip(_EDGE_PUNCTUATION)
    )


def find_names(text: str) -> list[str]:
    """Runs of capitalised words in one sentence ("Scale AI", "US Department of Defense",
    "Alexandr Wang"): a run ends at a lower-case word, a sentence end, a possessive or a word
    that names nothing ("Chief", "June", "The")."""
    names: list[str] = []
    # A lone capitalised word seen only where every word is capitalised ("Notably", "Under")
    # is no name; one seen mid-sentence at least once ("according to Bloomberg") is.
    mid_sentence: set[str] = set()
    for sentence in split_sentences(text):
        words = _TOKEN.findall(sentence)
        if _is_heading(words):
            continue
        run: list[str] = []
        sentence_start = True
        for raw in words:
            ends_sentence = _ends_sentence(raw)
            word = _POSSESSIVE.sub("", raw.strip(_EDGE_PUNCTUATION))
            possessive = word != raw.strip(_EDGE_PUNCTUATION)
            word = word.removesuffix(".") if ends_sentence else word
            if not sentence_start and not run:
                mid_sentence.add(word)
            folded = word.casefold()
            if (folded in _CONNECTORS and run) or (word[:1].isupper() and folded not in _NOT_NAMES):
                run.append(word)
            else:
                _close(run, names)
            if ends_sentence or possessive or raw[-1:] in ",:;)":
                _close(run, names)
            sentence_start = ends_sentence
        _close(run, names)
    return [name for name in names if " " in name or name in mid_sentence]


def looks_like_person(name: str) -> bool:
    """Two or three capitalised words, none of them an organisation word or all-caps."""
    words = name.split()
    return (
        2 <= len(words) <= 3
        and all(word[0].isupper() and not word.isupper() for word in words)
        and not any(word.casefold().strip(".") in _ORG_WORDS for word in words)
    )


def split_sentences(text: str) -> list[str]:
    """Sentences and heading lines, as they stand in the text. A line break ends a sentence
    only after end punctuation or a short line (a heading); an abbreviation ("U.S.",
    "Inc.") ends none."""
    pieces: list[str] = []
    start = 0
    for gap in _SENTENCE_GAP.finditer(text):
        before = text[start : gap.start()]
        last_word = before.rsplit(None, 1)[-1] if before.strip() else ""
        if gap.group(0) == "\n":
            line = text[text.rfind("\n", 0, gap.start()) + 1 : gap.start()].strip()
            if line and line[-1] not in ".!?:" and len(line) > _HEADING_CHARS:
                continue  # a hard-wrapped line inside a sentence
        elif not _ends_sentence(last_word):
            continue
        pieces.append(before.strip())
        start = gap.end()
    pieces.append(text[start:].strip())
    return [" ".join(piece.split()) if "\n" in piece else piece for piece in pieces if piece]


def find_sentences(text: str) -> list[str]:
    """Sentences of a useful length for quotes, verbatim (one broken across lines is left
    out: its quote would not occur in the text)."""
    sentences = [
        sentence
        for sentence in split_sentences(text)
        if MIN_SENTENCE_CHARS <= len(sentence) <= MAX_SENTENCE_CHARS and sentence in text
    ]
    return sentences[:MAX_SENTENCES]


def _parseable(spans: list[str], parse: object) -> list[str]:
    kept = []
    for span in spans:
        try:
            parse(span)  # type: ignore[operator]
        except ValueError:
            continue
        kept.append(span)
    return kept


def find_candidates(text: str) -> Candidates:
    """Every candidate the constrained strategy offers the model for this text."""
    names = _unique(find_names(text))
    people = tuple(name for name in names if looks_like_person(name))
    return Candidates(
        names=names,
        people=people,
        organisations=tuple(name for name in names if name not in people),
        amounts=_unique(_parseable([m.group(0) for m in _MONEY.finditer(text)], parse_money)),
        percents=_unique([m.group(0) for m in _PERCENT.finditer(text)]),
        dates=_unique(_parseable([m.group(0) for m in _DATE.finditer(text)], parse_date)),
        titles=_unique([m.group(0) for m in _TITLE.finditer(text)]),
        sentences=_unique(find_sentences(text)),
    )
