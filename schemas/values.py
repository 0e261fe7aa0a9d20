"""Parsers for the values that news wording and models write: money, percents and dates.

General-purpose parsers fail on news wording ("$1.3bn", "ten billion US dollars", "north of
$2 billion"), so this is a small, tested parser for exactly the phrasings business news uses.
"""

from __future__ import annotations

import re
from datetime import date as Date
from typing import Literal

Qualifier = Literal["exact", "about", "over", "under", "up_to"]

_SCALES: dict[str, float] = {
    "thousand": 1e3,
    "k": 1e3,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "mln": 1e6,
    "mil": 1e6,
    "m": 1e6,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "bln": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "tn": 1e12,
    "t": 1e12,
}

_NUMBER_WORDS: dict[str, float] = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "half a": 0.5,
}

# Longest first so that "US$" wins over "$" and "more than" over "more".
_CURRENCY_SYMBOLS: list[tuple[str, str]] = [
    ("us$", "USD"),
    ("hk$", "HKD"),
    ("c$", "CAD"),
    ("ca$", "CAD"),
    ("a$", "AUD"),
    ("au$", "AUD"),
    ("s$", "SGD"),
    ("r$", "BRL"),
    ("$", "USD"),
    ("€", "EUR"),
    ("£", "GBP"),
    ("¥", "JPY"),
    ("₹", "INR"),
    ("₩", "KRW"),
]

_CURRENCY_WORDS: dict[str, str] = {
    "us dollars": "USD",
    "u.s. dollars": "USD",
    "dollars": "USD",
    "dollar": "USD",
    "euros": "EUR",
    "euro": "EUR",
    "pounds sterling": "GBP",
    "pounds": "GBP",
    "sterling": "GBP",
    "yen": "JPY",
    "yuan": "CNY",
    "renminbi": "CNY",
    "rmb": "CNY",
    "rupees": "INR",
    "swiss francs": "CHF",
    "francs": "CHF",
}

_ISO_CODES = {
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CNY",
    "INR",
    "CHF",
    "CAD",
    "AUD",
    "HKD",
    "SGD",
    "KRW",
    "BRL",
    "SEK",
    "NOK",
    "DKK",
}

_QUALIFIERS: list[tuple[str, Qualifier]] = [
    ("more than", "over"),
    ("in excess of", "over"),
    ("upwards of", "over"),
    ("north of", "over"),
    ("over", "over"),
    ("above", "over"),
    ("at least", "over"),
    ("exceeding", "over"),
    ("less than", "under"),
    ("just under", "under"),
    ("under", "under"),
    ("below", "under"),
    ("nearly", "under"),
    ("nearing", "under"),
    ("almost", "under"),
    ("up to", "up_to"),
    ("as much as", "up_to"),
    ("as high as", "up_to"),
    ("as many as", "up_to"),
    ("approximately", "about"),
    ("about", "about"),
    ("around", "about"),
    ("roughly", "about"),
    ("some", "about"),
    ("an estimated", "about"),
    ("estimated", "about"),
    ("circa", "about"),
    ("~", "about"),
]

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_WORD_NUMBER_RE = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len, reverse=True)) + r")\b"
)
_SCALE_RE = re.compile(
    r"^\s*-?\s*(" + "|".join(sorted(_SCALES, key=len, reverse=True)) + r")\b", re.IGNORECASE
)


def _clean(text: str) -> str:
    """Fold the typography that news text carries: non-breaking spaces, dashes, curly quotes."""
    for src, dst in (("\u00a0", " "), ("\u202f", " "), ("\u2212", "-"), ("\u2019", "'")):
        text = text.replace(src, dst)
    return " ".join(text.split())


def parse_qualifier(text: str) -> Qualifier:
    """The hedge in front of an amount ("about", "over", "up to"), or "exact" when there is none."""
    lowered = _clean(text).lower()
    for phrase, qualifier in _QUALIFIERS:
        if re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", lowered):
            return qualifier
    return "exact"


def parse_currency(text: str, default: str = "USD") -> str:
    """The ISO 4217 code named by a symbol, word or code in the text."""
    lowered = _clean(text).lower()
    for code in _ISO_CODES:
        if re.search(r"\b" + code.lower() + r"\b", lowered):
            return code
    for symbol, code in _CURRENCY_SYMBOLS:
        if symbol in lowered:
            return code
    for word, code in _CURRENCY_WORDS.items():
        if re.search(r"\b" + re.escape(word) + r"\b", lowered):
            return code
    return default


def parse_amount(text: str) -> float:
    """The number an amount phrase stands for, in units: "$1.3bn" -> 1.3e9, "ten billion" -> 1e10.

    Raises ValueError when the text holds no number.
    """
    cleaned = _clean(text)
    match = _NUMBER_RE.search(cleaned)
    if match:
        number = float(match.group(0).replace(",", ""))
        rest = cleaned[match.end() :]
    else:
        word = _WORD_NUMBER_RE.search(cleaned.lower())
        if not word:
            raise ValueError(f"no number in {text!r}")
        number = _NUMBER_WORDS[word.group(1)]
        rest = cleaned[word.end() :]
    scale = _SCALE_RE.match(rest)
    if scale:
        number *= _SCALES[scale.group(1).lower()]
    before = cleaned[: match.start()] if match else ""
    if re.search(r"-\s*(?:[a-z]{0,2}\$|[€£¥₹₩])?\s*$", before, re.IGNORECASE):
        number = -number
    return number


def parse_money(text: str) -> dict[str, float | str]:
    """Split an amount phrase into the fields of `Money`: value, currency and qualifier."""
    return {
        "value": parse_amount(text),
        "currency": parse_currency(text),
        "qualifier": parse_qualifier(text),
    }


def parse_percent(value: str | float | int) -> float:
    """A percent as a number of percent points: "49 percent", "49%", "49.5 per cent" -> 49.0."""
    if isinstance(value, bool):
        raise ValueError("a percent must be a number, not a boolean")
    if isinstance(value, int | float):
        return float(value)
    cleaned = _clean(value)
    match = _NUMBER_RE.search(cleaned)
    if match:
        number = float(match.group(0).replace(",", ""))
        if cleaned[: match.start()].rstrip().endswith("-"):
            number = -number
        return number
    word = _WORD_NUMBER_RE.search(cleaned.lower())
    if word and "half" not in word.group(1):
        return float(_NUMBER_WORDS[word.group(1)])
    raise ValueError(f"no percent in {value!r}")


_MONTHS = {
    name: index
    for index, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ISO_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_MONTH_DAY_YEAR_RE = re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.I)
_DAY_MONTH_YEAR_RE = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+(\d{4})", re.I)
_MONTH_YEAR_RE = re.compile(_MONTH + r",?\s+(\d{4})", re.I)
_YEAR_RE = re.compile(r"^(?:in\s+)?(\d{4})$", re.I)


def _iso(year: int, month: int | None = None, day: int | None = None) -> str:
    """Format a partial date, checking that it exists on the calendar."""
    Date(year, month or 1, day or 1)  # raises ValueError for 2025-02-30 and month 13
    if month is None:
        return f"{year:04d}"
    if day is None:
        return f"{year:04d}-{month:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def parse_date(text: str) -> str:
    """A partial ISO date (YYYY, YYYY-MM or YYYY-MM-DD) from ISO or news wording.

    "June 11, 2025" -> "2025-06-11", "May 2024" -> "2024-05", "2016" -> "2016".
    """
    cleaned = _clean(text).strip()
    iso = _ISO_DATE_RE.match(cleaned)
    if iso:
        year, month, day = (int(g) if g else None for g in iso.groups())
        return _iso(year, month, day)  # type: ignore[arg-type]
    found = _MONTH_DAY_YEAR_RE.search(cleaned)
    if found:
        return _iso(int(found.group(3)), _MONTHS[found.group(1).lower()], int(found.group(2)))
    found = _DAY_MONTH_YEAR_RE.search(cleaned)
    if found:
        return _iso(int(found.group(3)), _MONTHS[found.group(2).lower()], int(found.group(1)))
    found = _MONTH_YEAR_RE.search(cleaned)
    if found:
        return _iso(int(found.group(2)), _MONTHS[found.group(1).lower()])
    found = _YEAR_RE.match(cleaned)
    if found:
        return _iso(int(found.group(1)))
    raise ValueError(f"not a date (expected YYYY, YYYY-MM or YYYY-MM-DD): {text!r}")
