"""Every schema dealx sends to OpenAI with `"strict": true` meets the strict-mode subset, and an
answer that fills it in validates with the model dealx parses it with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from pipeline.extraction import constrained
from pipeline.extraction.response import ArticleExtraction, schema_sha256
from pipeline.providers.strict_schema import strict_json_schema

SEEDS = sorted(Path(__file__).resolve().parents[1].joinpath("seeds").glob("*.txt"))
# OpenAI's Structured Outputs guide, "Supported schemas" (checked independently of the
# transform in pipeline/providers/strict_schema.py).
SUPPORTED = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "enum",
    "$ref",
    "$defs",
    "title",
    "description",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
}
MAX_NESTING = 10
MAX_PROPERTIES = 5000
MAX_ENUM_VALUES = 1000


def strict_mode_violations(schema: dict[str, Any]) -> list[str]:
    """What breaks OpenAI's strict-mode rules in a response schema (empty when nothing)."""
    problems: list[str] = []
    counts = {"properties": 0, "enum": 0}
    defs = schema.get("$defs", {})
    if schema.get("type") != "object" or "anyOf" in schema:
        problems.append("root: must be an object, not anyOf")

    def walk(node: dict[str, Any], path: str, depth: int) -> None:
        if depth > MAX_NESTING:
            problems.append(f"{path}: nested deeper than {MAX_NESTING}")
        for key in set(node) - SUPPORTED:
            problems.append(f"{path}: keyword {key!r} is not supported")
        if "$ref" in node:
            if len(node) > 1:
                problems.append(f"{path}: $ref with sibling keywords")
            if node["$ref"].rsplit("/", 1)[-1] not in defs:
                problems.append(f"{path}: $ref to a missing definition")
            return
        types = node.get("type")
        types = types if isinstance(types, list) else [types]
        if "object" in types or "properties" in node:
            properties = node.get("properties", {})
            counts["properties"] += len(properties)
            if node.get("additionalProperties") is not False:
                problems.append(f"{path}: additionalProperties must be false")
            if set(node.get("required", [])) != set(properties):
                problems.append(f"{path}: every property must be required")
            for name, sub in properties.items():
                walk(sub, f"{path}.{name}", depth + 1)
        if "items" in node:
            walk(node["items"], f"{path}[]", depth + 1)
        for i, sub in enumerate(node.get("anyOf", [])):
            walk(sub, f"{path}|{i}", depth)
        counts["enum"] += len(node.get("enum", []))

    walk({k: v for k, v in schema.items() if k != "$defs"}, "$", 1)
    for name, sub in defs.items():
        walk(sub, f"$defs.{name}", 1)
    if counts["properties"] > MAX_PROPERTIES:
        problems.append(f"more than {MAX_PROPERTIES} properties")
    if counts["enum"] > MAX_ENUM_VALUES:
        problems.append(f"more than {MAX_ENUM_VALUES} enum values")
    return problems


def models_sent() -> list[type[BaseModel]]:
    """The plain response model and every constrained question built from the seeds."""
    models: list[type[BaseModel]] = [ArticleExtraction]
    for seed in SEEDS:
        calls, _, _ = constrained.calls_for(seed.read_text(encoding="utf-8"))
        models += [call.response_model for call in calls]
    return models


def test_the_checker_catches_what_strict_mode_rejects() -> None:
    loose = ArticleExtraction.model_json_schema()
    problems = " ".join(strict_mode_violations(loose))
    for expected in ("'default'", "'maxLength'", "every property must be required"):
        assert expected in problems


def test_every_schema_sent_to_openai_meets_strict_mode() -> None:
    models = models_sent()
    assert len(models) > 20 and any(m.__name__ == "DealAnswer" for m in models)
    for model in models:
        assert strict_mode_violations(strict_json_schema(model)) == [], model.__name__


def test_the_transform_changes_neither_the_model_nor_its_plain_schema() -> None:
    before = schema_sha256(ArticleExtraction)
    strict_json_schema(ArticleExtraction)
    assert schema_sha256(ArticleExtraction) == before
    assert "default" in json.dumps(ArticleExtraction.model_json_schema())


FULL_ANSWER = {
    "companies": [
        {
            "name": "Meta",
            "aliases": [],
            "org_type": "company",
            "founded_year": None,
            "headquarters": None,
            "evidence": [{"quote": "Meta agreed"}],
        }
    ],
    "people": [
        {
            "name": "Alexandr Wang",
            "roles": [{"title": "CEO", "organization": None}],
            "evidence": [],
        }
    ],
    "deals": [
        {
            "deal_type": "investment",
            "parties": [{"name": "Meta", "role": "investor"}],
            "amount": {"value": 14e9, "currency": "USD", "qualifier": "about"},
            "stake_percent": None,
            "valuation": None,
            "status": None,
            "date": None,
            "evidence": [],
        }
    ],
}


@pytest.mark.parametrize("model", [ArticleExtraction])
def test_an_answer_with_every_property_validates(model: type[BaseModel]) -> None:
    # A strict answer carries every property, null for those left empty; it must fit the
    # strict schema and still validate with the pydantic model dealx parses answers with.
    jsonschema.validate(FULL_ANSWER, strict_json_schema(model))
    parsed = model.model_validate_json(json.dumps(FULL_ANSWER), strict=True)
    assert parsed.model_dump(mode="json")["deals"][0]["amount"]["value"] == 14e9
