"""Candidate spans for the constrained strategy, and the enum schemas built from them."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pipeline.candidates import find_candidates, find_names, looks_like_person
from pipeline.constrained import PICKS, calls_for
from pipeline.grounding import ground
from pipeline.response import to_document

ARTICLE = (
    "Meta Eyes $10 Billion Investment In Scale AI Amid Boom\n\n"
    "Meta Platforms Inc. is reportedly in talks to invest over $10 billion in Scale AI. "
    "According to Bloomberg, the deal isn’t final. Scale AI co-founder and CEO Alexandr Wang "
    "would join Meta.\n"
    "Notably, Meta’s Chief Executive Officer Mark Zuckerberg wants a 49% stake. Scale recently "
    "secured a contract with the U.S. Department of Defense in March 2025.\n"
)


def test_names_are_capitalised_runs_without_noise() -> None:
    names = find_names(ARTICLE)
    for expected in ["Meta Platforms Inc.", "Scale AI", "Bloomberg", "Alexandr Wang"]:
        assert expected in names
    assert "Mark Zuckerberg" in names and "U.S. Department of Defense" in names
    # Heading words, sentence-initial adverbs, titles and possessives are not names.
    assert not {"Notably", "Eyes", "Chief Executive Officer", "Meta’s"} & set(names)


def test_people_are_told_from_organisations() -> None:
    assert looks_like_person("Alexandr Wang") and looks_like_person("Mark Zuckerberg")
    assert not looks_like_person("Scale AI") and not looks_like_person("Meta")
    candidates = find_candidates(ARTICLE)
    assert "Alexandr Wang" in candidates.people and "Scale AI" in candidates.organisations


def test_values_and_sentences_are_spans_of_the_text() -> None:
    candidates = find_candidates(ARTICLE)
    assert candidates.amounts == ("$10 Billion", "over $10 billion")
    assert candidates.percents == ("49%",)
    assert candidates.dates == ("March 2025",)
    assert {"co-founder", "CEO", "Chief Executive Officer"} <= set(candidates.titles)
    for span in [*candidates.names, *candidates.amounts, *candidates.sentences]:
        assert span in ARTICLE


def models(text: str) -> dict[str, type]:
    return {call.kind: call.response_model for call in calls_for(find_candidates(text))}


def test_enum_schema_admits_only_candidates() -> None:
    candidates = find_candidates(ARTICLE)
    model = models(ARTICLE)["companies"]
    schema = json.dumps(model.model_json_schema())
    assert '"Scale AI"' in schema and '"Bloomberg"' in schema
    sentence = candidates.sentences[1]

    def pick(name: str) -> dict:
        return {"name": name, "org_type": "company", "evidence": [{"quote": sentence}]}

    least = min(PICKS["companies"][0], len(candidates.organisations))
    names = list(candidates.organisations[:least])
    model.model_validate({"companies": [pick(name) for name in names]})
    with pytest.raises(ValidationError):  # a name that is not a span of the article
        model.model_validate({"companies": [pick(name) for name in [*names[:-1], "Apple"]]})
    with pytest.raises(ValidationError):  # fewer picks than the schema asks for
        model.model_validate({"companies": [pick(names[0])]})


def test_every_call_has_a_schema_and_its_answers_are_fully_grounded() -> None:
    candidates = find_candidates(ARTICLE)
    sentence = next(s for s in candidates.sentences if "49%" in s)
    quote = [{"quote": sentence}]
    answers = {
        "companies": {
            "companies": [
                {"name": name, "org_type": "company", "evidence": quote}
                for name in candidates.organisations[: PICKS["companies"][0]]
            ]
        },
        "people": {
            "people": [
                {
                    "name": name,
                    "roles": [{"title": "Chief Executive Officer", "organization": "Meta"}],
                    "evidence": quote,
                }
                for name in candidates.people
            ]
        },
        "deals": {
            "deals": [
                {
                    "deal_type": "investment",
                    "parties": [
                        {"name": "Meta Platforms Inc.", "role": "investor"},
                        {"name": "Scale AI", "role": "target"},
                    ],
                    "amount": "over $10 billion",
                    "stake_percent": "49%",
                    "status": "in_talks",
                    "date": "March 2025",
                    "evidence": quote,
                }
            ]
        },
    }
    schemas = models(ARTICLE)
    assert sorted(schemas) == ["companies", "deals", "people"]
    for kind, model in schemas.items():
        answer = model.model_validate(answers[kind]).model_dump(mode="json")
        _, findings = ground(to_document("d", answer), ARTICLE, "strict")
        assert findings == [], kind
    deal = to_document("d", answers["deals"]).deals[0]
    assert deal.amount is not None and deal.amount.value == 10e9 and deal.amount.qualifier == "over"
    assert deal.stake_percent == 49.0 and deal.date == "2025-03"


def test_no_candidates_no_call() -> None:
    assert calls_for(find_candidates("just lower-case words without any names at all here.")) == []
