"""The money, percent and date parsers on phrasings from the seed articles and business news.

Every expected value is worked out by hand from the phrase: "$13.8 billion" is 13.8 * 10**9.
"""

from __future__ import annotations

import pytest

from schemas.values import (
    AMOUNT_MENTION,
    DATE_MENTION,
    PERCENT_MENTION,
    mention_amount,
    parse_amount,
    parse_currency,
    parse_date,
    parse_money,
    parse_percent,
    parse_qualifier,
)

THOUSAND = 10**3
MILLION = 10**6
BILLION = 10**9
TRILLION = 10**12

# (phrase, value in units, ISO currency, qualifier)
SEED_MONEY = [
    ("about $14 billion", 14 * BILLION, "USD", "about"),
    ("$14 billion", 14 * BILLION, "USD", "exact"),
    ("over $10 billion", 10 * BILLION, "USD", "over"),
    ("more than $10 billion", 10 * BILLION, "USD", "over"),
    ("Potential $10B Investment", 10 * BILLION, "USD", "exact"),
    ("about $10B", 10 * BILLION, "USD", "about"),
    ("$870 million", 870 * MILLION, "USD", "exact"),
    ("roughly $870 million", 870 * MILLION, "USD", "about"),
    ("approximately $2 billion", 2 * BILLION, "USD", "about"),
    ("nearing $14 billion", 14 * BILLION, "USD", "under"),
    ("$13.8 billion", 13.8 * BILLION, "USD", "exact"),
    ("$1 billion Series F", 1 * BILLION, "USD", "exact"),
    ("up to $65 billion", 65 * BILLION, "USD", "up_to"),
    ("over $13 billion", 13 * BILLION, "USD", "over"),
    ("a potential valuation reaching $25 billion", 25 * BILLION, "USD", "exact"),
    ("ten billion US dollars", 10 * BILLION, "USD", "exact"),
    ("$1.3bn", 1.3 * BILLION, "USD", "exact"),
]

NEWS_MONEY = [
    ("€2.5bn", 2.5 * BILLION, "EUR", "exact"),
    ("£300m", 300 * MILLION, "GBP", "exact"),
    ("US$1.2 billion", 1.2 * BILLION, "USD", "exact"),
    ("$500,000", 500 * THOUSAND, "USD", "exact"),
    ("HK$3.4 billion", 3.4 * BILLION, "HKD", "exact"),
    ("¥100 billion", 100 * BILLION, "JPY", "exact"),
    ("1.5 trillion yen", 1.5 * TRILLION, "JPY", "exact"),
    ("half a billion dollars", 0.5 * BILLION, "USD", "exact"),
    ("north of $2 billion", 2 * BILLION, "USD", "over"),
    ("as much as $5 billion", 5 * BILLION, "USD", "up_to"),
    ("CHF 200 million", 200 * MILLION, "CHF", "exact"),
    ("$2.5B", 2.5 * BILLION, "USD", "exact"),
    ("$75M", 75 * MILLION, "USD", "exact"),
    ("$10-billion", 10 * BILLION, "USD", "exact"),
    ("$25mm", 25 * MILLION, "USD", "exact"),
    ("$3.5 trn", 3.5 * TRILLION, "USD", "exact"),
    ("5 billion EUR", 5 * BILLION, "EUR", "exact"),
    ("USD 10 million", 10 * MILLION, "USD", "exact"),
    ("A$500m", 500 * MILLION, "AUD", "exact"),
    ("C$1bn", 1 * BILLION, "CAD", "exact"),
    ("Rs 500 crore", 500 * 10**7, "INR", "exact"),
    ("two billion euros", 2 * BILLION, "EUR", "exact"),
    ("twenty-five million dollars", 25 * MILLION, "USD", "exact"),
    ("one hundred million dollars", 100 * MILLION, "USD", "exact"),
    ("$1,234.5 million", 1234.5 * MILLION, "USD", "exact"),
    ("$14\u00a0billion", 14 * BILLION, "USD", "exact"),  # non-breaking space from HTML
    # Hedges: before the amount, or "-plus"/"or more" after it.
    ("some 3 billion euros", 3 * BILLION, "EUR", "about"),
    ("~$5bn", 5 * BILLION, "USD", "about"),
    ("approx. $5bn", 5 * BILLION, "USD", "about"),
    ("just over $2 billion", 2 * BILLION, "USD", "over"),
    ("at least $1 billion", 1 * BILLION, "USD", "over"),
    ("$10 billion-plus", 10 * BILLION, "USD", "over"),
    ("$5bn or more", 5 * BILLION, "USD", "over"),
    ("nearly $1 billion", 1 * BILLION, "USD", "under"),
    ("just under $1 billion", 1 * BILLION, "USD", "under"),
    ("less than $50 million", 50 * MILLION, "USD", "under"),
    # The amount is the number with a currency or scale, not any number in the phrase.
    ("a 10-year, $5 billion contract", 5 * BILLION, "USD", "exact"),
    ("H100 chips worth $500 million", 500 * MILLION, "USD", "exact"),
    # A hedge elsewhere in the sentence is not a hedge on the amount.
    ("$14 billion over three years", 14 * BILLION, "USD", "exact"),
    ("Under the agreement, Meta will invest $14 billion", 14 * BILLION, "USD", "exact"),
    # A spaced dash is a headline separator, not a minus sign.
    ("Scale AI - $14 billion", 14 * BILLION, "USD", "exact"),
    # Two currencies: the one written on the amount wins.
    ("€4.6 billion ($5 billion)", 4.6 * BILLION, "EUR", "exact"),
    # A range is its lower end, which shares the scale of the upper end.
    ("$5 to $7 billion", 5 * BILLION, "USD", "exact"),
    ("$5\u20137 billion", 5 * BILLION, "USD", "exact"),  # en dash
    ("between $5 and $7 billion", 5 * BILLION, "USD", "exact"),
]


@pytest.mark.parametrize(("phrase", "value", "currency", "qualifier"), SEED_MONEY + NEWS_MONEY)
def test_parse_money(phrase: str, value: float, currency: str, qualifier: str) -> None:
    money = parse_money(phrase)
    assert money["value"] == pytest.approx(value, rel=1e-12)
    assert money["currency"] == currency
    assert money["qualifier"] == qualifier


@pytest.mark.parametrize(
    "phrase",
    [
        "multimillion-dollar",  # seed 003: an amount without a number
        "a multimillion-dollar deal",
        "an undisclosed sum",
        "a Series B round",  # "a" is not one and "B" is not a billion
        "",
    ],
)
def test_parse_amount_without_a_number_is_an_error(phrase: str) -> None:
    with pytest.raises(ValueError, match="no number"):
        parse_amount(phrase)


@pytest.mark.parametrize(
    ("phrase", "value"),
    [("-$5 million", -5 * MILLION), ("$-5 million", -5 * MILLION), ("-€2bn", -2 * BILLION)],
)
def test_parse_amount_keeps_a_glued_minus_sign(phrase: str, value: float) -> None:
    # The sign survives parsing so that Money can reject the negative amount by name.
    assert parse_amount(phrase) == pytest.approx(value)


def test_parse_qualifier_of_a_bare_hedge() -> None:
    assert parse_qualifier("about") == "about"
    assert parse_qualifier("up to") == "up_to"
    assert parse_qualifier("undisclosed") == "exact"


def test_parse_currency_defaults_when_none_is_named() -> None:
    assert parse_currency("about 10 million") == "USD"
    assert parse_currency("an undisclosed sum", default="EUR") == "EUR"


@pytest.mark.parametrize(
    ("phrase", "percent"),
    [
        ("49 percent", 49.0),
        ("49%", 49.0),
        ("a 49 percent stake", 49.0),  # seed 000
        ("49% non-controlling stake", 49.0),  # seed 004
        ("49.9 per cent", 49.9),
        ("10 %", 10.0),
        ("5 pct", 5.0),
        ("twenty-five percent", 25.0),
        ("a 2025 deal for 49%", 49.0),  # the number marked as a percent wins
        ("49-51%", 49.0),  # a range is its lower end
        ("-5%", -5.0),  # kept, so that the schema's range check names the field
        (49, 49.0),
        (49.5, 49.5),
    ],
)
def test_parse_percent(phrase: str | float, percent: float) -> None:
    assert parse_percent(phrase) == pytest.approx(percent)


@pytest.mark.parametrize("phrase", ["a majority stake", "one-third", "half", "", True, [49], None])
def test_parse_percent_without_a_percent_is_a_value_error(phrase: object) -> None:
    # ValueError (not TypeError/AttributeError): pydantic turns only ValueError into a field error.
    with pytest.raises(ValueError):
        parse_percent(phrase)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("phrase", "iso"),
    [
        ("June 11, 2025", "2025-06-11"),
        ("June 09, 2025", "2025-06-09"),
        ("Update as of June 11, 2025:", "2025-06-11"),  # seed 000
        ("Published: June 09, 2025 at 10:30 am", "2025-06-09"),  # seed 001
        ("May 2024", "2024-05"),
        ("2016", "2016"),
        ("in 2016", "2016"),
        ("11th March 2024", "2024-03-11"),
        ("9 June 2025", "2025-06-09"),
        ("Sept. 3, 2024", "2024-09-03"),
        ("March 3rd, 2024", "2024-03-03"),
        ("2025-06-11", "2025-06-11"),
        ("2025-6", "2025-06"),
        ("2025-06-11T10:30:00Z", "2025-06-11"),  # a model's timestamp: the day is kept
        ("2024-02-29", "2024-02-29"),  # leap year
    ],
)
def test_parse_date(phrase: str, iso: str) -> None:
    assert parse_date(phrase) == iso


@pytest.mark.parametrize(
    "phrase",
    [
        "March",  # seed 002: no year, so no date
        "2025-02-30",
        "2025-13",
        "2025-13-01",
        "2025-00",
        "2025-06-00",
        "June 31, 2025",
        "2023-02-29",  # not a leap year
        "06/11/2025",  # June 11 or November 6?
        "Q2 2025",
        "dismay 2024",
        "",
    ],
)
def test_parse_date_rejects_what_is_not_a_calendar_date(phrase: str) -> None:
    with pytest.raises(ValueError):
        parse_date(phrase)


# The mentions grounding looks for in an article: each as written, and its amount.
@pytest.mark.parametrize(
    ("text", "written", "amount"),
    [
        ("Meta pays $14.3 billion for it.", "$14.3 billion", 14.3 * BILLION),
        ("Meta pays US$14,300,000,000.", "US$14,300,000,000", 14.3 * BILLION),
        ("a $14.3 bln deal", "$14.3 bln", 14.3 * BILLION),
        ("EUR 25mm in fees", "EUR 25mm", 25 * MILLION),
        ("Rs 500 crore", "Rs 500 crore", 5 * BILLION),
        ("a $5-billion round", "$5-billion", 5 * BILLION),
    ],
)
def test_amount_mentions_are_read_with_their_scale(text: str, written: str, amount: float) -> None:
    match = AMOUNT_MENTION.search(text)
    assert match is not None and match.group(0) == written
    assert mention_amount(match) == pytest.approx(amount)


def test_percent_mentions_in_the_ways_news_writes_them() -> None:
    text = "49%, 49 percent, a 49-percent stake, 49 per cent, 49 pct, 49.5%; not 49 people"
    found = [match.group(1) for match in PERCENT_MENTION.finditer(text)]
    assert found == ["49", "49", "49", "49", "49", "49.5"]


def test_date_mentions_month_first_day_first_iso_and_years() -> None:
    text = (
        "On June 12, 2025 (12 June 2025; the 12th of June; 2025-06-12) Meta, which may "
        "invest in May, said in 2024"
    )
    found = [match.group(0) for match in DATE_MENTION.finditer(text)]
    assert found == [
        "June 12, 2025",
        "12 June 2025",
        "12th of June",
        "2025-06-12",
        "May",
        "2024",
    ]
