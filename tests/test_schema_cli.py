"""`dealx schema` prints a valid JSON Schema that real extractions satisfy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from schemas.records import (
    Company,
    Deal,
    DocumentExtraction,
    Evidence,
    Money,
    Party,
    Person,
    Role,
)
from tests.dealx_process import Dealx


@pytest.fixture(scope="module")
def schema(dealx: Dealx) -> dict[str, Any]:
    result = dealx("schema")  # once per module: starting the CLI takes seconds
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def extraction() -> DocumentExtraction:
    """The Meta / Scale AI deal of seed 000, with every kind of record and optional field."""
    quote = "Meta will acquire a 49 percent stake in the startup"
    return DocumentExtraction(
        doc_id="000_0709ac1d3ffb39f1",
        companies=[
            Company(name="Meta", aliases=["Meta Platforms"]),
            Company(
                name="Scale AI",
                founded_year=2016,
                headquarters="San Francisco",
                evidence=[Evidence(quote="Founded in 2016 in San Francisco")],
            ),
        ],
        people=[
            Person(
                name="Alexandr Wang",
                roles=[Role(title="CEO", organization="Scale AI"), Role(title="co-founder")],
            )
        ],
        deals=[
            Deal(
                deal_type="investment",
                parties=[
                    Party(name="Meta", role="investor"),
                    Party(name="Scale AI", role="target"),
                ],
                amount=Money.model_validate("about $14 billion"),
                stake_percent="49 percent",  # type: ignore[arg-type]
                valuation=Money(value=14e9, currency="USD"),
                status="agreed",
                date="June 11, 2025",
                evidence=[Evidence(quote=quote, start=300, end=300 + len(quote))],
            ),
            Deal(deal_type="funding_round", parties=[Party(name="Scale AI", role="target")]),
        ],
    )


def test_schema_is_valid_json_schema(schema: dict[str, Any]) -> None:
    Draft202012Validator.check_schema(schema)
    assert schema["title"] == "DocumentExtraction"
    assert schema == DocumentExtraction.model_json_schema()


def test_extraction_validates_against_the_printed_schema(
    schema: dict[str, Any], extraction: DocumentExtraction
) -> None:
    instance = extraction.model_dump(mode="json")
    assert instance["deals"][0]["amount"]["value"] == 14e9  # parsed, not the raw string
    errors = list(Draft202012Validator(schema).iter_errors(instance))
    assert errors == []


def test_empty_extraction_validates(schema: dict[str, Any]) -> None:
    instance = DocumentExtraction(doc_id="empty").model_dump(mode="json")
    Draft202012Validator(schema).validate(instance)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda doc: doc.update(extra_key=1), "unknown key, as extra='forbid'"),
        (lambda doc: doc["deals"][0].update(parties=[]), "a deal needs a party"),
        (lambda doc: doc["deals"][0]["amount"].update(currency="usd"), "currency is ISO 4217"),
        (lambda doc: doc["deals"][0].update(deal_type="ipo"), "deal_type is an enum"),
        (lambda doc: doc.pop("doc_id"), "doc_id is required"),
    ],
)
def test_schema_rejects_what_the_model_rejects(
    schema: dict[str, Any], extraction: DocumentExtraction, change: Any, why: str
) -> None:
    instance = extraction.model_dump(mode="json")
    change(instance)
    assert not Draft202012Validator(schema).is_valid(instance), why
