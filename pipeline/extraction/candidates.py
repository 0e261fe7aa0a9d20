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
    systems platforms company co news post times journal motors airlines airways pharma
    pharmaceuticals energy health therapeutics biosciences robotics networks semiconductor
    media studios entertainment motor deal talks alliance project underway tech"""
)
# Words that start place names, not people's names ("San Francisco", "New York").
_PLACE_STARTS = _word_set("san santa saint st. new los las el fort port mount lake north south")
# Countries, regions, demonyms and the acronyms of tech news: capitalised, but no organization.
_NOT_ORGANIZATIONS = _word_set(
    """ai us u.s. usa u.s.a. uk u.k. eu china india japan germany france russia israel canada
    europe asia africa america american chinese european british german french indian
    japanese israeli canadian llm llms gpu gpus api apis ipo faq ceo cfo cto"""
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
    organizations: tuple[str, ...]
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
    word = raw.rstrip("\"“”‘’'(),:;")
    if word.endswith(("?", "!")):
        return True
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
    """Two or three capitalised words, none of them an organization word or all-caps, not
    starting like a place name."""
    words = name.split()
    return (
        2 <= len(words) <= 3
        and all(word[0].isupper() and not word.isupper() for word in words)
        and not any(word.casefold().strip(".") in _ORG_WORDS for word in words)
        and words[0].casefold() not in _PLACE_STARTS
    )


def _names_something(name: str, surnames: set[str]) -> bool:
    """Not a country, demonym or acronym, not a person's surname on its own ("Wang"), not a
    hyphenated adjective ("AI-powered")."""
    if name.casefold() in _NOT_ORGANIZATIONS or name in surnames:
        return False
    return not any(re.search(r"-[a-z]", word) for word in name.split())


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence and heading line in the text, stripped of surrounding
    whitespace. A line break ends a sentence only after end punctuation or a short line (a
    heading); an abbreviation ("U.S.", "Inc.") ends none."""
    spans: list[tuple[int, int]] = []
    start = 0

    def close(end: int) -> None:
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))

    for gap in _SENTENCE_GAP.finditer(text):
        before = text[start : gap.start()]
        last_word = before.rsplit(None, 1)[-1] if before.strip() else ""
        if gap.group(0) == "\n":
            line = text[text.rfind("\n", 0, gap.start()) + 1 : gap.start()].strip()
            if line and line[-1] not in ".!?:" and len(line) > _HEADING_CHARS:
                continue  # a hard-wrapped line inside a sentence
        elif not _ends_sentence(last_word):
            continue
        close(gap.start())
        start = gap.end()
    close(len(text))
    return spans


def split_sentences(text: str) -> list[str]:
    """Sentences and heading lines, as they stand in the text (one broken across lines is
    joined with single spaces)."""
    pieces = (text[start:end] for start, end in sentence_spans(text))
    return [" ".join(piece.split()) if "\n" in piece else piece for piece in pieces]


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
    found = _unique(find_names(text))
    people = tuple(name for name in found if looks_like_person(name))
    # A lone surname after the full name ("Mark Zuckerberg" ... "Zuckerberg") is that person.
    order = {name: index for index, name in enumerate(found)}
    surnames = {
        surname for person in people if order.get(surname := person.split()[-1], -1) > order[person]
    }
    names = tuple(name for name in found if name in people or _names_something(name, surnames))
    return Candidates(
        names=names,
        people=people,
        organizations=tuple(name for name in names if name not in people),
        amounts=_unique(_parseable([m.group(0) for m in _MONEY.finditer(text)], parse_money)),
        percents=_unique([m.group(0) for m in _PERCENT.finditer(text)]),
        dates=_unique(_parseable([m.group(0) for m in _DATE.finditer(text)], parse_date)),
        titles=_unique([m.group(0) for m in _TITLE.finditer(text)]),
        sentences=_unique(find_sentences(text)),
    )


# Words that say which kind of deal a sentence reports; a sentence with none of them may still
# report one (a bare "deal" or an amount), and then every type is open.
_TYPE_CUES: dict[str, str] = {
    "investment": r"invest\w*|stakes?|backing|backers?|backed|equity",
    "funding_round": r"rounds?|rais(?:e|es|ed|ing)|series [a-z]\b|funding",
    "acquisition": r"acqui\w+|buy(?:s|ing)?|bought|purchas\w+|takeover|take over",
    "merger": r"merg\w+",
    "partnership": r"partner\w*|collaborat\w+|alliance|joint venture|team(?:s|ed)? up|"
    r"working (?:together|on)",
    "contract": r"contracts?|awarded|procure\w*",
    "licensing": r"licen[cs]\w*",
}
_GENERIC_CUE = r"deals?|agreements?|transactions?|pact"
_STATUS_CUES: dict[str, str] = {
    "rumored": r"plans?|planning|might|consider\w*|eyes|eyeing|weigh\w*|explor\w+|potential|"
    r"rumou?r\w*",
    "in_talks": r"talks|discussions?|negotiat\w+",
    "agreed": r"agreed|agreement to|reached (?:a|an) (?:deal|agreement)|will (?:acquire|take|"
    r"invest|buy|pay|license|merge)|to invest|finali[sz]\w+|announced",
    "completed": r"completed|closed|has invested|have invested|invested|previously|earlier|"
    r"landed|secured|won|raised|participated|acquired|bought|formed|holds?|backers|received|"
    r"are working|are collaborating|signed",
    "terminated": r"called off|terminated|collapsed|abandoned|scrapped|walked away",
}
_TYPE_RE = {kind: re.compile(rf"\b(?:{cue})\b", re.I) for kind, cue in _TYPE_CUES.items()}
_STATUS_RE = {kind: re.compile(rf"\b(?:{cue})\b", re.I) for kind, cue in _STATUS_CUES.items()}
_DEAL_CUE = re.compile(rf"\b(?:{'|'.join([*_TYPE_CUES.values(), _GENERIC_CUE])})\b", re.IGNORECASE)
# "the company", "the startup", "it": the sentence names a party only by description.
_ANAPHOR = re.compile(
    r"\b(?:the|this|that) (?:company|startup|firm|group|business|lab|maker|two companies)\b|"
    r"\b(?:it|its)\b",
    re.IGNORECASE,
)
_VALUATION_CUE = re.compile(r"valu\w*", re.IGNORECASE)
_NOT_DEAL_MONEY = re.compile(
    r"revenue|sales|earnings|forecast|spend\w*|budget|committed|profit|loss|income",
    re.IGNORECASE,
)
_STAKE_CUE = re.compile(r"stake|share|interest|ownership", re.IGNORECASE)
_CONTEXT_SENTENCES = 3  # how far back a sentence that names the party is looked for


@dataclass(frozen=True)
class DealCandidate:
    """A sentence that may report a deal: the organizations (and, for investors, people) it
    or its neighbor names, the deal types and statuses its wording allows, and the amount,
    valuation, stake and date written in it."""

    sentence: str
    context: str | None  # the earlier sentence naming a party the sentence only describes
    organizations: tuple[str, ...]
    people: tuple[str, ...]
    types: tuple[str, ...]
    statuses: tuple[str, ...]
    amount: str | None
    valuation: str | None
    stake: str | None
    date: str | None

    @property
    def passage(self) -> str:
        return f"{self.context} {self.sentence}" if self.context else self.sentence


def names_in(sentence: str, names: tuple[str, ...]) -> list[str]:
    """The names that occur in `sentence` as whole words, in order; a name inside a longer one
    ("Meta" in "Meta Platforms") is not counted."""
    found: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for name in sorted(names, key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", sentence):
            if not any(s < match.end() and match.start() < e for s, e in taken):
                taken.append(match.span())
                found.append((match.start(), name))
    return list(dict.fromkeys(name for _, name in sorted(found)))


def _values(sentence: str) -> tuple[str | None, str | None, str | None, str | None]:
    """The amount, valuation, stake and date a deal sentence states: money after a valuation
    word is the valuation, money after revenue or spending words is no deal's."""
    amount = valuation = None
    for match in _MONEY.finditer(sentence):
        before = sentence[max(0, match.start() - 40) : match.start()]
        if _VALUATION_CUE.search(before):
            valuation = valuation or match.group(0)
        elif not _NOT_DEAL_MONEY.search(before):
            amount = amount or match.group(0)
    stake = next(
        (
            m.group(0)
            for m in _PERCENT.finditer(sentence)
            if _STAKE_CUE.search(sentence[m.end() : m.end() + 30])
        ),
        None,
    )
    dates = _parseable([m.group(0) for m in _DATE.finditer(sentence)], parse_date)
    return amount, valuation, stake, dates[0] if dates else None


def find_deal_candidates(text: str, candidates: Candidates) -> list[DealCandidate]:
    """Every body sentence with a deal cue (a deal word, an amount or a stake) that names, with
    its neighbor, at least two possible parties. Headline-style lines are left out: they
    repeat the body."""
    sentences = [text[start:end] for start, end in sentence_spans(text)]
    found = []
    for index, sentence in enumerate(sentences):
        has_money = _MONEY.search(sentence) or _PERCENT.search(sentence)
        if not (_DEAL_CUE.search(sentence) or has_money) or _is_heading(_TOKEN.findall(sentence)):
            continue
        organizations = names_in(sentence, candidates.organizations)
        context = None
        if len(organizations) < 2 or _ANAPHOR.search(sentence):
            for earlier in reversed(sentences[max(0, index - _CONTEXT_SENTENCES) : index]):
                named = [n for n in names_in(earlier, candidates.organizations)]
                if any(name not in organizations for name in named):
                    context = earlier
                    organizations += [n for n in named if n not in organizations]
                    break
        people = (
            names_in(sentence, candidates.people) if _TYPE_RE["investment"].search(sentence) else []
        )
        if len(organizations) + len(people) < 2 or not organizations:
            continue
        types = tuple(kind for kind, cue in _TYPE_RE.items() if cue.search(sentence))
        statuses = tuple(kind for kind, cue in _STATUS_RE.items() if cue.search(sentence))
        found.append(
            DealCandidate(
                sentence=sentence,
                context=context,
                organizations=tuple(organizations),
                people=tuple(people),
                types=types or tuple(_TYPE_CUES),
                statuses=statuses or tuple(_STATUS_CUES),
                amount=(values := _values(sentence))[0],
                valuation=values[1],
                stake=values[2],
                date=values[3],
            )
        )
    return found
