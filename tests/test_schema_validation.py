"""Validation of the extraction records: what they accept from news wording and what they reject."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.records import Company, Deal, DocumentExtraction, Evidence, Money, Person

BILLION = 10**9
MILLION = 10**6

PARTIES = [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}]


def deal(**fields: Any) -> Deal:
    """A valid investment deal between Meta and Scale AI, with `fields` changed."""
    return Deal.model_validate({"deal_type": "investment", "parties": PARTIES, **fields})


def error_locations(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[int | str, ...]]:
    return [error["loc"] for error in exc.value.errors()]


def test_money_from_news_wording() -> None:
    money = Money.model_validate("about $14 billion")
    assert money == Money(value=14 * BILLION, currency="USD", qualifier="about")


def test_money_from_a_plain_number_is_exact_usd() -> None:
    assert Money.model_validate(870 * MILLION) == Money(value=870 * MILLION)
    assert Money(value=1).model_dump() == {"value": 1.0, "currency": "USD", "qualifier": "exact"}


def test_deal_reads_amount_stake_and_date_from_the_article_wording() -> None:
    parsed = deal(
        amount="$14 billion",
        valuation="over $13 billion",
        stake_percent="a 49 percent stake",
        date="June 11, 2025",
    )
    assert parsed.amount == Money(value=14 * BILLION)
    assert parsed.valuation == Money(value=13 * BILLION, qualifier="over")
    assert parsed.stake_percent == 49.0
    assert parsed.date == "2025-06-11"


@pytest.mark.parametrize("stake", [49, "49%", "49 percent", "49.0"])
def test_stake_percent_forms(stake: object) -> None:
    assert deal(stake_percent=stake).stake_percent == 49.0


@pytest.mark.parametrize(("stake", "shown"), [(140, "140"), ("140%", "140"), (-5, "-5")])
def test_stake_percent_out_of_range_names_the_field(stake: object, shown: str) -> None:
    with pytest.raises(ValidationError) as exc:
        deal(stake_percent=stake)
    assert error_locations(exc) == [("stake_percent",)]
    assert f"stake_percent must be between 0 and 100, got {shown}" in str(exc.value)


@pytest.mark.parametrize("stake", ["a majority stake", [49], {"value": 49}])
def test_unreadable_stake_percent_is_a_validation_error(stake: object) -> None:
    # Not an AttributeError escaping the validator, which would crash `dealx validate-gold`.
    with pytest.raises(ValidationError) as exc:
        deal(stake_percent=stake)
    assert error_locations(exc) == [("stake_percent",)]


@pytest.mark.parametrize("amount", [{"value": -5 * MILLION}, -5 * MILLION, "-$5 million"])
def test_negative_amount_names_the_field(amount: object) -> None:
    with pytest.raises(ValidationError) as exc:
        deal(amount=amount)
    assert error_locations(exc) == [("amount", "value")]
    assert "must not be negative" in str(exc.value)
    assert "amount.value" in str(exc.value)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_money_value_must_be_finite(value: float) -> None:
    with pytest.raises(ValidationError) as exc:
        Money(value=value)
    assert error_locations(exc) == [("value",)]


def test_money_without_a_number_names_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        deal(valuation="a multimillion-dollar valuation")
    assert error_locations(exc) == [("valuation",)]
    assert "no number" in str(exc.value)


@pytest.mark.parametrize(
    ("written", "code"), [("usd", "USD"), ("$", "USD"), ("US dollars", "USD"), ("€", "EUR")]
)
def test_money_currency_is_normalized_to_an_iso_code(written: str, code: str) -> None:
    assert Money(value=1, currency=written).currency == code


@pytest.mark.parametrize("currency", ["dollarz", "bitcoin", "12"])
def test_money_currency_that_names_no_currency_is_an_error(currency: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Money(value=1, currency=currency)
    assert error_locations(exc) == [("currency",)]


def test_deal_without_parties_is_an_error() -> None:
    with pytest.raises(ValidationError) as exc:
        deal(parties=[])
    assert error_locations(exc) == [("parties",)]
    with pytest.raises(ValidationError) as exc:
        Deal.model_validate({"deal_type": "investment"})
    assert error_locations(exc) == [("parties",)]


@pytest.mark.parametrize(("date", "shown"), [("2025-02-30", "day"), ("2025-13", "month")])
def test_impossible_date_names_the_field(date: str, shown: str) -> None:
    with pytest.raises(ValidationError) as exc:
        deal(date=date)
    assert error_locations(exc) == [("date",)]
    assert shown in str(exc.value)


@pytest.mark.parametrize(
    ("model", "data", "typo"),
    [
        (Money, {"value": 1, "curency": "USD"}, "curency"),
        (Deal, {"deal_type": "investment", "parties": PARTIES, "amout": "$1 billion"}, "amout"),
        (Company, {"name": "Scale AI", "founded": 2016}, "founded"),
        (Person, {"name": "Alexandr Wang", "title": "CEO"}, "title"),
        (DocumentExtraction, {"doc_id": "000", "deal": []}, "deal"),
    ],
)
def test_unknown_keys_are_rejected(model: type[Any], data: dict[str, Any], typo: str) -> None:
    with pytest.raises(ValidationError) as exc:
        model.model_validate(data)
    assert [(e["loc"], e["type"]) for e in exc.value.errors()] == [((typo,), "extra_forbidden")]


def test_unknown_key_deep_in_a_document_is_located() -> None:
    data = {"doc_id": "000", "deals": [{"deal_type": "investment", "parties": [PARTIES[0]]}]}
    data["deals"][0]["parties"][0] = {**PARTIES[0], "share": 49}
    with pytest.raises(ValidationError) as exc:
        DocumentExtraction.model_validate(data)
    assert error_locations(exc) == [("deals", 0, "parties", 0, "share")]


def test_company_validation() -> None:
    company = Company(name="Scale AI", founded_year=2016, headquarters="San Francisco")
    assert company.org_type == "company"
    assert company.aliases == []
    with pytest.raises(ValidationError) as exc:
        Company(name="Scale AI", founded_year=16)
    assert error_locations(exc) == [("founded_year",)]
    with pytest.raises(ValidationError) as exc:
        Company(name="")
    assert error_locations(exc) == [("name",)]
    with pytest.raises(ValidationError) as exc:
        Company.model_validate({"name": "Meta", "org_type": "startup"})
    assert error_locations(exc) == [("org_type",)]


def test_evidence_offsets_must_be_ordered() -> None:
    assert Evidence(quote="a 49 percent stake", start=10, end=28).end == 28
    with pytest.raises(ValidationError, match="before start"):
        Evidence(quote="a 49 percent stake", start=28, end=10)
    with pytest.raises(ValidationError):
        Evidence(quote="")


def test_document_round_trips_through_json() -> None:
    document = DocumentExtraction(
        doc_id="000_0709ac1d3ffb39f1",
        companies=[Company(name="Scale AI", founded_year=2016)],
        deals=[deal(amount="about $14 billion", stake_percent="49 percent", date="2025-06")],
    )
    assert DocumentExtraction.model_validate_json(document.model_dump_json()) == document
