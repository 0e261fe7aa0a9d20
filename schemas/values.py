"""Parsers for the values that news wording and models write: money, percents and dates.

General-purpose parsers fail on news wording ("$1.3bn", "ten billion US dollars", "north of
$2 billion"), so this is a small, tested parser for exactly the phrasings business news uses.

Money phrases are read around one amount: the first number that carries a currency sign or a
scale word ("$", "billion"), so that "a 10-year, $5 billion contract" is 5e9 and not 10. The
currency and the hedge ("about", "over") are the ones written next to that amount.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date as Date
from typing import Literal

Qualifier = Literal["exact", "about", "over", "under", "up_to"]

_SCALES: dict[str, float] = {
    "thousand": 1e3,
    "k": 1e3,
    "lakh": 1e5,
    "million": 1e6,
    "millions": 1e6,
    "mn": 1e6,
    "mln": 1e6,
    "mil": 1e6,
    "mm": 1e6,  # finance shorthand: "$25mm"
    "m": 1e6,
    "crore": 1e7,
    "billion": 1e9,
    "billions": 1e9,
    "bn": 1e9,
    "bln": 1e9,
    "b": 1e9,
    "trillion": 1e12,
    "trn": 1e12,
    "tn": 1e12,
    "t": 1e12,
}
# After a number word only spelled-out scales count: "a B round" is not a billion.
_SPELLED_SCALES = [
    "thousand",
    "lakh",
    "million",
    "millions",
    "crore",
    "billion",
    "billions",
    "trillion",
]

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
    "half an": 0.5,
}

# Longest first so that "US$" wins over "$" and "more than" over "more".
_CURRENCY_SYMBOLS: list[tuple[str, str]] = [
    ("us$", "USD"),
    ("hk$", "HKD"),
    ("ca$", "CAD"),
    ("au$", "AUD"),
    ("c$", "CAD"),
    ("a$", "AUD"),
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
    ("close to", "under"),
    ("up to", "up_to"),
    ("as much as", "up_to"),
    ("as high as", "up_to"),
    ("as many as", "up_to"),
    ("approximately", "about"),
    ("approx", "about"),
    ("about", "about"),
    ("around", "about"),
    ("roughly", "about"),
    ("some", "about"),
    ("an estimated", "about"),
    ("estimated", "about"),
    ("circa", "about"),
    ("~", "about"),
]


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first so that "mn" wins over "m"."""
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_WORD = _alternation(_NUMBER_WORDS)
_WORD_RE = re.compile(r"\b(?:" + _WORD + r")\b", re.I)
_WORDS_RE = re.compile(r"\b(?:" + _WORD + r")(?:[\s-]+(?:" + _WORD + r"))*\b", re.I)
_SCALE = _alternation(_SCALES)
_SCALE_RE = re.compile(rf"^\s*-?\s*({_SCALE})\b", re.I)
_SPELLED_SCALE_RE = re.compile(rf"^\s*-?\s*({_alternation(_SPELLED_SCALES)})\b", re.I)
_SYMBOL = _alternation(symbol for symbol, _ in _CURRENCY_SYMBOLS)
_CODE = "|".join(sorted(_ISO_CODES))
# A currency written right before a number: a symbol, an ISO code ("CHF 200") or "Rs".
_PREFIX = rf"(?:{_SYMBOL}|\b(?:{_CODE}|rs)(?![a-z])\.?)"
# What sits right before the number: an optional sign glued to it, and the currency.
# "- $14 billion" (a spaced dash) is a headline separator, not a minus.
_LEAD_RE = re.compile(rf"(?P<sign>(?<![\w-])-)?(?P<currency>{_PREFIX})?\s*(?P<sign2>-)?$", re.I)
# A currency named right after the scale: "1.5 trillion yen", "5 billion EUR".
_SUFFIX_RE = re.compile(rf"^\s*({_alternation(_CURRENCY_WORDS)}|{_CODE})(?![a-z])", re.I)
# The upper end of a range, whose scale the lower end shares: "$5 to $7 billion", "$5-7bn".
_RANGE_RE = re.compile(
    rf"^\s*(?:-|to|and)\s*(?:{_SYMBOL})?\s*(?:{_NUMBER})(?=\s*-?\s*(?:{_SCALE})\b)", re.I
)
_PERCENT_SIGN = r"\s*(?:%|percent\b|per\s+cent\b|pct\b)"
# A percent as an article writes it: "49%", "49 percent", "49-percent", "49 per cent", "49 pct".
PERCENT_MENTION = re.compile(r"(\d+(?:\.\d+)?)-?" + _PERCENT_SIGN, re.I)
_PERCENT_AFTER_RE = re.compile(r"(?:\s*(?:-|to)\s*(?:" + _NUMBER + r"))?" + _PERCENT_SIGN, re.I)


def _clean(text: str) -> str:
    """Fold the typography that news text carries: non-breaking spaces, dashes, curly quotes."""
    for src, dst in (
        ("\u00a0", " "),
        ("\u202f", " "),
        ("\u2212", "-"),  # minus sign
        ("\u2013", "-"),  # en dash, as in "$5–7 billion"
        ("\u2019", "'"),
    ):
        text = text.replace(src, dst)
    return " ".join(text.split())


def _words_value(phrase: str) -> float:
    """The value of a run of number words: "twenty-five" -> 25, "one hundred" -> 100."""
    total = 0.0
    for word in _WORD_RE.findall(phrase.lower()):
        total = (total or 1) * 100 if word == "hundred" else total + _NUMBER_WORDS[word]
    return total


@dataclass(frozen=True)
class _Amount:
    """One amount found in a phrase, with where it starts (its sign and currency) and ends."""

    value: float
    currency: str | None
    start: int
    end: int


def _currency_code(written: str) -> str:
    """The ISO code for a currency as written next to a number: "HK$" -> HKD, "rs." -> INR."""
    lowered = written.lower().rstrip(".")
    symbols = dict(_CURRENCY_SYMBOLS)
    if lowered in symbols:
        return symbols[lowered]
    if lowered in _CURRENCY_WORDS:
        return _CURRENCY_WORDS[lowered]
    return "INR" if lowered == "rs" else lowered.upper()


def _find_amount(cleaned: str) -> _Amount:
    """The amount a phrase is about; raises ValueError when it holds none."""
    found: list[tuple[int, int, float, bool]] = [
        (m.start(), m.end(), float(m.group(0).replace(",", "")), False)
        for m in _NUMBER_RE.finditer(cleaned)
    ]
    found += [
        (m.start(), m.end(), _words_value(m.group(0)), True) for m in _WORDS_RE.finditer(cleaned)
    ]
    fallback: _Amount | None = None
    for start, end, number, is_words in sorted(found):
        lead = _LEAD_RE.search(cleaned[:start])
        assert lead is not None  # every part of _LEAD_RE is optional
        # Number words need a spelled-out scale, else "a deal" would be an amount of 1.
        scale = (_SPELLED_SCALE_RE if is_words else _SCALE_RE).match(cleaned[end:])
        if is_words and scale is None:
            continue
        if scale is None:
            upper = _RANGE_RE.match(cleaned[end:])
            if upper:
                end += upper.end()
                scale = _SCALE_RE.match(cleaned[end:])
        if scale:
            number *= _SCALES[scale.group(1).lower()]
            end += scale.end()
        if lead.group("sign") or lead.group("sign2"):
            number = -number
        currency = _currency_code(lead.group("currency")) if lead.group("currency") else None
        suffix = _SUFFIX_RE.match(cleaned[end:])
        if suffix:
            currency = currency or _currency_code(suffix.group(1))
            end += suffix.end()
        amount = _Amount(number, currency, lead.start(), end)
        if scale or currency:
            return amount
        if fallback is None:
            fallback = amount  # a bare number ("500000") counts when nothing better is there
    if fallback is None:
        raise ValueError(f"no number in {cleaned!r}")
    return fallback


def parse_qualifier(text: str) -> Qualifier:
    """The hedge on an amount ("about", "over", "up to"), or "exact" when there is none.

    Only the words right before the amount ("about $14 billion") or right after it ("$10
    billion-plus") count, so "$14 billion over three years" stays exact.
    """
    lowered = _clean(text).lower()
    try:
        amount = _find_amount(lowered)
    except ValueError:
        amount = None
    if amount is None:  # a bare hedge such as "about": look anywhere
        before, ending = lowered, r"(?![a-z])"
    else:
        before, ending = lowered[: amount.start], r"\.?\s*$"
    for phrase, qualifier in _QUALIFIERS:
        if re.search(r"(?<![a-z])" + re.escape(phrase) + ending, before):
            return qualifier
    if amount is not None:
        after = lowered[amount.end :]
        if re.match(r"\s*(?:-?\s*plus\b|\+|or more\b)", after):
            return "over"
        if re.match(r"\s*or less\b", after):
            return "under"
    return "exact"


def parse_currency(text: str, default: str = "USD") -> str:
    """The ISO 4217 code of the amount in the text: the one written next to it, else any named."""
    lowered = _clean(text).lower()
    try:
        attached = _find_amount(lowered).currency
    except ValueError:
        attached = None
    if attached:
        return attached
    for code in sorted(_ISO_CODES):
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
    return _find_amount(_clean(text)).value


# An amount as an article writes it: an optional currency ("$", "US$", "EUR "), the number, and
# the scale word after it ("14.3 bln", "$1.3bn", "25mm"); what grounding checks a value against.
AMOUNT_MENTION = re.compile(rf"(?:{_PREFIX}\s?)?({_NUMBER})(?:\s?-?\s?({_SCALE})\b)?", re.I)


def mention_amount(match: re.Match[str]) -> float:
    """The amount an AMOUNT_MENTION match stands for, in units: "$14 billion" -> 1.4e10,
    "49" -> 49.0 (currencies and hedges are not read)."""
    number, scale = match.group(1), match.group(2)
    return float(number.replace(",", "")) * (_SCALES[scale.lower()] if scale else 1.0)


def parse_money(text: str) -> dict[str, float | str]:
    """Split an amount phrase into the fields of `Money`: value, currency and qualifier."""
    return {
        "value": parse_amount(text),
        "currency": parse_currency(text),
        "qualifier": parse_qualifier(text),
    }


def parse_percent(value: str | float | int) -> float:
    """A percent as a number of percent points: "49 percent", "49%", "49.5 per cent" -> 49.0.

    A number marked as a percent wins over other numbers ("a 2025 deal for 49%" -> 49.0).
    Fractions in words ("one-third", "half") are not read: raise ValueError.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        # pydantic turns only ValueError into a validation error, so never let a TypeError out.
        raise ValueError(f"a percent must be a number or text, got {type(value).__name__}")
    if not isinstance(value, str):
        return float(value)
    cleaned = _clean(value)
    numbers = list(_NUMBER_RE.finditer(cleaned))
    # The lower end of a range is the percent, as for money: "49-51%" -> 49.0.
    marked = [m for m in numbers if _PERCENT_AFTER_RE.match(cleaned[m.end() :])]
    for match in marked or numbers[:1]:
        number = float(match.group(0).replace(",", ""))
        # A minus glued to the number: "-5%", not the hyphen of "non-controlling 49%".
        return -number if re.search(r"(?<![\w-])-$", cleaned[: match.start()]) else number
    for words in _WORDS_RE.finditer(cleaned.lower()):
        if re.match(_PERCENT_SIGN, cleaned[words.end() :], re.I):
            return _words_value(words.group(0))
    raise ValueError(f"no percent in {value!r}")


MONTHS = {
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
# \b so that "dismay 2024" is not May 2024.
_MONTH = r"\b(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
# A month's name as running text writes it: capitalized, so that "may" the verb is no month.
_MONTH_NAME = "|".join(name.capitalize() for name in sorted(MONTHS, key=len, reverse=True))
# A date as news text writes it, for grounding to find: ISO ("2025-06-12"), day first
# ("12 June 2025", "12th of June"), month first ("June 12, 2025", "June 2025", "June"), or a
# year alone. parse_date reads each (with " of " dropped; a stand-in year for one without).
DATE_MENTION = re.compile(
    r"\b(?:\d{4}-\d{2}(?:-\d{2})?"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTH_NAME})\.?(?:,?\s+\d{{4}})?"
    rf"|(?:{_MONTH_NAME})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?,?)?(?:\s+\d{{4}})?"
    r"|\d{4})\b"
)
# A time of day after an ISO date ("2025-06-11T10:30:00Z") is dropped: deals are dated by day.
_ISO_DATE_RE = re.compile(
    r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2})(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?)?)?)?$",
    re.I,
)
_MONTH_DAY_YEAR_RE = re.compile(_MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", re.I)
_DAY_MONTH_YEAR_RE = re.compile(r"(\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH + r",?\s+(\d{4})", re.I)
_MONTH_YEAR_RE = re.compile(_MONTH + r",?\s+(\d{4})", re.I)
_YEAR_RE = re.compile(r"^(?:in\s+)?(\d{4})$", re.I)


def _iso(year: int, month: int | None = None, day: int | None = None) -> str:
    """Format a partial date, checking that it exists on the calendar."""
    # `is None`, not `or`: month 0 and day 0 must fail, not become January and the 1st.
    Date(year, 1 if month is None else month, 1 if day is None else day)
    if month is None:
        return f"{year:04d}"
    if day is None:
        return f"{year:04d}-{month:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def parse_date(text: str) -> str:
    """A partial ISO date (YYYY, YYYY-MM or YYYY-MM-DD) from ISO or news wording.

    "June 11, 2025" -> "2025-06-11", "May 2024" -> "2024-05", "2016" -> "2016". A month without
    a year ("March") and numeric forms such as "06/11/2025" (US or European?) raise ValueError.
    """
    cleaned = _clean(text).strip()
    iso = _ISO_DATE_RE.match(cleaned)
    if iso:
        year, month, day = (int(g) if g else None for g in iso.groups())
        return _iso(year, month, day)  # type: ignore[arg-type]
    found = _MONTH_DAY_YEAR_RE.search(cleaned)
    if found:
        return _iso(int(found.group(3)), MONTHS[found.group(1).lower()], int(found.group(2)))
    found = _DAY_MONTH_YEAR_RE.search(cleaned)
    if found:
        return _iso(int(found.group(3)), MONTHS[found.group(2).lower()], int(found.group(1)))
    found = _MONTH_YEAR_RE.search(cleaned)
    if found:
        return _iso(int(found.group(2)), MONTHS[found.group(1).lower()])
    found = _YEAR_RE.match(cleaned)
    if found:
        return _iso(int(found.group(1)))
    raise ValueError(f"not a date (expected YYYY, YYYY-MM or YYYY-MM-DD): {text!r}")
