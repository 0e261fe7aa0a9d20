"""Normalize names, titles, places, money, percents and dates so that equal facts compare equal.

Money amounts are already parsed into numbers by `schemas.values` when a record is validated; what
is left here is how close two parsed values must be to count as the same fact.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# The issue asks for "within 2%" but also that 13.8 vs 14.0 billion (1.4% apart) is wrong and
# 14.0 vs 14.1 (0.7%) right; the seeds report a $13.8 billion valuation next to "nearing $14
# billion" as different facts. 1% is the tolerance that keeps those apart.
MONEY_REL_TOL = 0.01
# Percent points: 49 and 49.0 agree, 49 and 49.5 do not.
PERCENT_ABS_TOL = 0.05

# Words that name the legal form or the business line rather than the organization, stripped from
# the end of a company name: "Meta Platforms Inc." and "Meta" are the same company.
LEGAL_SUFFIXES = frozenset(
    {
        "ab",
        "ag",
        "asa",
        "bv",
        "co",
        "company",
        "corp",
        "corporation",
        "gmbh",
        "group",
        "holding",
        "holdings",
        "inc",
        "incorporated",
        "kk",
        "limited",
        "llc",
        "llp",
        "lp",
        "ltd",
        "nv",
        "oy",
        "plc",
        "platforms",
        "pty",
        "sa",
        "sas",
        "se",
        "spa",
        "srl",
        "systems",
        "technologies",
        "technology",
    }
)
_HONORIFICS = frozenset({"dr", "mr", "mrs", "ms", "prof", "sir"})
# The fixed title spellings of gold/GUIDELINES.md 4.3, in folded form.
_TITLE_FORMS = {
    "chief executive": "ceo",
    "chief executive officer": "ceo",
    "chief financial officer": "cfo",
    "chief technology officer": "cto",
    "chief operating officer": "coo",
    "cofounder": "co founder",
    "chairman": "chair",
    "chairwoman": "chair",
}
# Apostrophes and dots vanish ("McDonald’s" = "McDonalds", "Scale A.I." = "Scale AI"); every other
# non-word character separates words. Unicode word characters stay, so non-Latin names survive.
_DROPPED = re.compile(r"['’‘`´.]")
_SEPARATORS = re.compile(r"[\W_]+")


@lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """Lower-case, strip accents, apostrophes and punctuation, collapse spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    bare = _DROPPED.sub("", bare.casefold().replace("&", " and "))
    return _SEPARATORS.sub(" ", bare).strip()


@lru_cache(maxsize=1 << 16)
def normalize_company(name: str) -> str:
    """A company name without its legal suffixes: "Meta Platforms, Inc." -> "meta"."""
    words = fold(name).split()
    if len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


# What may follow a surname (folded): "Jr.", "Sr.", "III".
GENERATIONAL_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})


@lru_cache(maxsize=1 << 16)
def normalize_person(name: str) -> str:
    """A person's name without honorifics: "Dr. Lucy Guo" -> "lucy guo"."""
    words = fold(name).split()
    while len(words) > 1 and words[0] in _HONORIFICS:
        words = words[1:]
    return " ".join(words)


@lru_cache(maxsize=1 << 12)
def normalize_title(title: str) -> str:
    """A job title in the guidelines' normal form: "Chief Executive Officer" -> "ceo"."""
    folded = fold(title)
    former = folded.startswith("former ")
    core = folded.removeprefix("former ")
    core = _TITLE_FORMS.get(core, core)
    return f"former {core}" if former else core


@lru_cache(maxsize=1 << 12)
def normalize_place(place: str) -> str:
    """The city of a place (before the first comma): "Menlo Park, Calif." -> "menlo park"."""
    return fold(place.split(",", 1)[0])


def money_agrees(predicted: float, gold: float) -> bool:
    """True when the predicted amount is within MONEY_REL_TOL of the gold amount."""
    return abs(predicted - gold) <= MONEY_REL_TOL * abs(gold)


def percent_agrees(predicted: float, gold: float) -> bool:
    """True when two percents differ by at most PERCENT_ABS_TOL points."""
    return abs(predicted - gold) <= PERCENT_ABS_TOL


def date_agrees(predicted: str, gold: str) -> bool:
    """Compare partial ISO dates at the gold's granularity: "2025-03-14" matches gold "2025-03".

    A prediction coarser than the gold ("2025" for "2025-03") does not match.
    """
    return len(predicted) >= len(gold) and predicted[: len(gold)] == gold
