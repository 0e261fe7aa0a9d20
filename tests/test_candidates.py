"""Candidate spans for the constrained strategy, deal candidates, and the enum schemas (and
their interpretation) built from them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from pipeline.extraction.candidates import (
    DealCandidate,
    find_candidates,
    find_deal_candidates,
    find_names,
    looks_like_person,
    names_in,
    sentence_spans,
)
from pipeline.extraction.constrained import STATUSES, Labels, calls_for, deal_call, enum_label
from pipeline.extraction.grounding import ground
from schemas.records import DocumentExtraction

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


def test_people_are_told_from_organizations() -> None:
    assert looks_like_person("Alexandr Wang") and looks_like_person("Mark Zuckerberg")
    assert not looks_like_person("Scale AI") and not looks_like_person("Meta")
    candidates = find_candidates(ARTICLE)
    assert "Alexandr Wang" in candidates.people and "Scale AI" in candidates.organizations


def test_values_and_sentences_are_spans_of_the_text() -> None:
    candidates = find_candidates(ARTICLE)
    assert candidates.amounts == ("$10 Billion", "over $10 billion")
    assert candidates.percents == ("49%",)
    assert candidates.dates == ("March 2025",)
    assert {"co-founder", "CEO", "Chief Executive Officer"} <= set(candidates.titles)
    for span in [*candidates.names, *candidates.amounts, *candidates.sentences]:
        assert span in ARTICLE


def test_sentence_spans_index_the_text() -> None:
    text = "  Meta Platforms Inc. agreed.  It pays $10 billion.\nA heading line\nLast one."
    spans = sentence_spans(text)
    assert [text[start:end] for start, end in spans] == [
        "Meta Platforms Inc. agreed.",  # "Inc." ends no sentence
        "It pays $10 billion.",
        "A heading line",
        "Last one.",
    ]


def test_names_in_counts_whole_words_and_not_a_name_inside_a_longer_one() -> None:
    sentence = "Meta Platforms and Scale AI talked; Metaverse fans and Meta cheered."
    names = ("Meta", "Meta Platforms", "Scale AI", "Scale")
    assert names_in(sentence, names) == ["Meta Platforms", "Scale AI", "Meta"]
    assert names_in("Nothing here.", names) == []


def test_countries_demonyms_acronyms_and_lone_surnames_are_no_organizations() -> None:
    text = (
        "Alexandr Wang met officials in China and the EU about the IPO. "
        "Later Wang said American investors and OpenAI-backed firms liked Scale AI."
    )
    candidates = find_candidates(text)
    assert "Scale AI" in candidates.organizations and "Alexandr Wang" in candidates.people
    assert not {"China", "EU", "IPO", "American", "Wang"} & set(candidates.organizations)
    assert not any("-backed" in name for name in candidates.names)


# Deal candidates: sentences with a deal word, an amount or a stake and two possible parties.
INVESTMENT = "Meta Platforms will invest $14.3 billion in Scale AI for a 49% stake in June 2025."


def deal_candidates(text: str) -> list[DealCandidate]:
    return find_deal_candidates(text, find_candidates(text))


def test_investment_sentence_with_two_organizations_is_a_candidate() -> None:
    [candidate] = deal_candidates(INVESTMENT)
    assert candidate.sentence == INVESTMENT and candidate.context is None
    assert candidate.passage == INVESTMENT
    assert candidate.organizations == ("Meta Platforms", "Scale AI")
    assert candidate.types == ("investment",)  # "invest" and "stake" are both investment cues
    assert candidate.statuses == ("agreed",)  # "will invest"
    assert (candidate.amount, candidate.stake, candidate.date) == (
        "$14.3 billion",
        "49%",
        "June 2025",
    )
    assert candidate.valuation is None


def test_valuation_money_is_told_from_the_amount() -> None:
    text = "Meta Platforms invested $14.3 billion in Scale AI, which it values at $29 billion."
    [candidate] = deal_candidates(text)
    assert (candidate.amount, candidate.valuation) == ("$14.3 billion", "$29 billion")


def test_the_company_takes_its_party_from_the_previous_sentence() -> None:
    first = "The data startup Scale AI was founded in 2016."
    second = "Meta Platforms agreed to buy the company for $29 billion."
    [candidate] = deal_candidates(f"{first}\n{second}")
    assert candidate.sentence == second and candidate.context == first
    assert candidate.passage == f"{first} {second}"
    # The sentence's own organization first, then the one its context names.
    assert candidate.organizations == ("Meta Platforms", "Scale AI")
    assert "acquisition" in candidate.types and candidate.amount == "$29 billion"


def test_revenue_sentence_with_one_organization_is_no_candidate() -> None:
    text = "Nvidia Corp reported revenue of $30 billion for the quarter."
    assert find_candidates(text).organizations == ("Nvidia Corp",)
    assert deal_candidates(text) == []


def test_article_without_deal_words_or_amounts_has_no_deal_candidates() -> None:
    text = "Scale AI hired engineers in San Francisco. Meta Platforms opened an office in London."
    assert {"Scale AI", "Meta Platforms"} <= set(find_candidates(text).organizations)
    assert deal_candidates(text) == []
    calls, _, found = calls_for(text)
    assert found == [] and [call.kind for call in calls] == ["companies"]


# Enum labels any grammar converter handles, and the way back to the original text.
HOSTILE = [
    'Acme "Quoted" Co',
    "Back\\slash Inc",
    "{Braces} Ltd",
    "Tab\tand\nnew\x00line\x7fCorp",
    "Rocket \U0001f680 Labs",
    "Caf\u00e9 \u201cCurly\u201d GmbH",
]


def test_enum_label_removes_what_breaks_a_grammar() -> None:
    labels = [enum_label(text) for text in HOSTILE]
    assert labels == [
        "Acme 'Quoted' Co",
        "Back/slash Inc",
        "{Braces} Ltd",
        "Tab and new line Corp",
        "Rocket Labs",
        "Caf\u00e9 \u201cCurly\u201d GmbH",  # BMP characters are fine
    ]
    for label in labels:
        assert '"' not in label and "\\" not in label
        assert not any(ord(char) < 0x20 or ord(char) == 0x7F for char in label)
        assert all(ord(char) <= 0xFFFF for char in label)
        # As JSON, a label needs no escape but \uXXXX for non-ASCII.
        assert "\\" not in json.dumps(label, ensure_ascii=False)


def test_labels_map_back_to_the_originals() -> None:
    labels = Labels([*HOSTILE, "\U0001f680", "Acme 'Quoted' Co"])
    # An empty label is left out; a second original with the same label keeps the first.
    assert labels.values == tuple(enum_label(text) for text in HOSTILE)
    for text in HOSTILE:
        assert labels(enum_label(text)) == text
    assert labels(None) is None and labels("Unknown") == "Unknown"


def test_deal_call_with_hostile_names_answers_in_labels_and_records_originals() -> None:
    sentence = 'Acme "Quoted" Co will invest $5 million in Back\\slash Inc.'
    candidate = DealCandidate(
        sentence=sentence,
        context=None,
        organizations=('Acme "Quoted" Co', "Back\\slash Inc"),
        people=(),
        types=("investment",),
        statuses=("agreed",),
        amount="$5 million",
        valuation=None,
        stake=None,
        date=None,
    )
    call = deal_call(candidate)
    assert enum_values(call.response_model.model_json_schema()) == {
        "Acme 'Quoted' Co",
        "Back/slash Inc",
        "none",
        "investment",
        "agreed",
    }
    answer = {
        "answer": {
            "deal_type": "investment",
            "investors": ["Acme 'Quoted' Co"],
            "target": "Back/slash Inc",
            "status": "agreed",
        }
    }
    dumped = call.response_model.model_validate(answer).model_dump(mode="json")
    [deal] = call.interpret("d", dumped).deals
    assert [(p.name, p.role) for p in deal.parties] == [
        ('Acme "Quoted" Co', "investor"),
        ("Back\\slash Inc", "target"),
    ]
    assert deal.amount is not None and deal.amount.value == 5e6
    assert [e.quote for e in deal.evidence] == [sentence]


# calls_for on a short article: one call for organizations, one for people, one per deal candidate.
ARTICLE_2 = (
    "The data startup Scale AI was founded by Alexandr Wang in 2016.\n"
    "Meta Platforms agreed to invest $14.3 billion in the company for a 49% stake in June 2025.\n"
    "Wang will join Meta Platforms as CEO of a new superintelligence unit.\n"
)
FOUNDED, INVESTS, JOINS = ARTICLE_2.splitlines()


def enum_values(schema: Any) -> set[str]:
    """Every value an enum or const of the schema admits (a one-value enum is a const)."""
    found: set[str] = set()
    if isinstance(schema, dict):
        found.update(v for v in schema.get("enum", []) if isinstance(v, str))
        if isinstance(schema.get("const"), str):
            found.add(schema["const"])
        for value in schema.values():
            found |= enum_values(value)
    elif isinstance(schema, list):
        for value in schema:
            found |= enum_values(value)
    return found


ORG_TYPES = {"company", "government", "nonprofit", "other"}
DEAL_TYPES = {"none", "investment", "funding_round", "acquisition", "merger", "partnership"}
DEAL_TYPES |= {"contract", "licensing"}


def test_calls_admit_only_candidates_and_interpret_into_grounded_records() -> None:
    calls, candidates, deal_candidates_found = calls_for(ARTICLE_2)
    assert candidates.organizations == ("Scale AI", "Meta Platforms")
    assert candidates.people == ("Alexandr Wang",) and candidates.titles == ("CEO",)
    assert [call.kind for call in calls] == ["companies", "people", "deal"]
    [candidate] = deal_candidates_found
    assert candidate.sentence == INVESTS and candidate.context == FOUNDED

    companies, people, deal = calls
    offered = set(candidates.organizations)
    assert enum_values(companies.response_model.model_json_schema()) == offered | ORG_TYPES
    assert enum_values(people.response_model.model_json_schema()) == (
        offered | set(candidates.people) | set(candidates.titles)
    )
    deal_schema = deal.response_model.model_json_schema()
    assert enum_values(deal_schema) - DEAL_TYPES - set(STATUSES) == offered
    assert enum_values(deal_schema) & DEAL_TYPES == {"none", "investment"}  # the cue's type
    assert deal.text == candidate.passage

    answers: dict[str, dict[str, Any]] = {
        "companies": {
            "companies": [
                {"name": "Scale AI", "org_type": "company"},
                {"name": "Meta Platforms", "org_type": "company"},
            ]
        },
        "people": {
            "people": [
                {
                    "name": "Alexandr Wang",
                    "roles": [{"title": "CEO", "organization": "Meta Platforms"}],
                }
            ]
        },
        "deal": {
            "answer": {
                "deal_type": "investment",
                "investors": ["Meta Platforms"],
                "target": "Scale AI",
                "status": "agreed",
            }
        },
    }
    records = DocumentExtraction(doc_id="d")
    for call in calls:
        answer = call.response_model.model_validate(answers[call.kind]).model_dump(mode="json")
        part = call.interpret("d", answer)
        records.companies += part.companies
        records.people += part.people
        records.deals += part.deals

    quotes = {
        **{c.name: [e.quote for e in c.evidence] for c in records.companies},
        **{p.name: [e.quote for e in p.evidence] for p in records.people},
    }
    assert quotes == {
        "Scale AI": [FOUNDED],
        "Meta Platforms": [INVESTS],
        "Alexandr Wang": [FOUNDED, JOINS],  # the name, then the title with its organization
    }
    assert [(r.title, r.organization) for r in records.people[0].roles] == [
        ("CEO", "Meta Platforms")
    ]
    [found_deal] = records.deals
    assert [(p.name, p.role) for p in found_deal.parties] == [
        ("Meta Platforms", "investor"),
        ("Scale AI", "target"),
    ]
    # "the company" is Scale AI: the sentence naming it comes first, then the deal's own.
    assert [e.quote for e in found_deal.evidence] == [FOUNDED, INVESTS]
    assert found_deal.amount is not None and found_deal.amount.value == 14.3e9
    assert found_deal.stake_percent == 49 and found_deal.date == "2025-06"
    assert found_deal.status == "agreed"
    for item in [*records.companies, *records.people, *records.deals]:
        assert all(e.quote in ARTICLE_2 for e in item.evidence)
    # Built from the sentences that mention the values, the evidence supports every one.
    grounded, findings = ground(records, ARTICLE_2, "strict")
    assert findings == []
    assert grounded.support is not None
    assert {k: (s.records, s.records_supported) for k, s in grounded.support.items()} == {
        "company": (2, 2),
        "person": (1, 1),
        "deal": (1, 1),
    }


def test_answers_outside_the_candidates_are_rejected() -> None:
    companies, people, deal = calls_for(ARTICLE_2)[0]
    with pytest.raises(ValidationError):  # a name that is not a span of the article
        companies.response_model.model_validate(
            {"companies": [{"name": "Apple", "org_type": "company"}]}
        )
    with pytest.raises(ValidationError):  # fewer picks than the schema asks for
        companies.response_model.model_validate(
            {"companies": [{"name": "Scale AI", "org_type": "company"}]}
        )
    with pytest.raises(ValidationError):  # a title the article does not write
        people.response_model.model_validate(
            {
                "people": [
                    {"name": "Alexandr Wang", "roles": [{"title": "CTO", "organization": None}]}
                ]
            }
        )
    with pytest.raises(ValidationError):  # a type the sentence's wording does not allow
        deal.response_model.model_validate(
            {"answer": {"deal_type": "merger", "partners": ["Meta Platforms", "Scale AI"]}}
        )


def test_no_deal_and_a_party_on_both_sides_yield_no_deal() -> None:
    deal = calls_for(ARTICLE_2)[0][2]
    for answer in [
        {"deal_type": "none"},
        {
            "deal_type": "investment",
            "investors": ["Scale AI"],
            "target": "Scale AI",
            "status": "agreed",
        },
    ]:
        dumped = deal.response_model.model_validate({"answer": answer}).model_dump(mode="json")
        assert deal.interpret("d", dumped).deals == []


def test_no_candidates_no_call() -> None:
    calls, candidates, deals = calls_for("just lower-case words without any names at all here.")
    assert calls == [] and deals == [] and candidates.names == ()
