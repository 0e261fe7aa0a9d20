"""Grounding: quotes located exactly, normalised or fuzzily with offsets into the original text;
names, amounts, percents and years checked against the article; strict / flag / off."""

from __future__ import annotations

import pytest

from pipeline.grounding import Article, ground
from schemas.records import DocumentExtraction

TEXT = (
    "Meta Platforms has reached a deal with Scale\u00a0AI.\n\n"
    "Under the agreement, Meta will acquire a 49 percent stake for about $14 billion.\n"
    "Scale AI\u2019s co-founder  Alexandr Wang will join Meta in June 2025."
)


def test_exact_quote_offsets_index_the_original() -> None:
    span = Article(TEXT).locate("Meta will acquire a 49 percent stake")
    assert span is not None and span.method == "exact"
    assert TEXT[span.start : span.end] == "Meta will acquire a 49 percent stake"


@pytest.mark.parametrize(
    ("quote", "original"),
    [
        # straight apostrophe, single space where the text has two
        ("Scale AI's co-founder Alexandr Wang", "Scale AI\u2019s co-founder  Alexandr Wang"),
        # a plain space where the text has a non-breaking one, and other case
        ("REACHED A DEAL WITH SCALE AI", "reached a deal with Scale\u00a0AI"),
    ],
)
def test_normalised_match_maps_back_to_original_characters(quote: str, original: str) -> None:
    span = Article(TEXT).locate(quote)
    assert span is not None and span.method == "normalised"
    assert TEXT[span.start : span.end] == original


def test_nfkc_folds_ligatures_and_fullwidth_digits_back_to_the_original() -> None:
    text = "The \ufb01nancing of \uff11\uff14 billion dollars closed."  # "ﬁ", fullwidth "14"
    span = Article(text).locate("financing of 14 billion")
    assert span is not None and span.method == "normalised"
    assert text[span.start : span.end] == "\ufb01nancing of \uff11\uff14 billion"


def test_fuzzy_match_above_threshold() -> None:
    # One word changed in a long quote: not exact, not normalised, still the same sentence.
    span = Article(TEXT).locate(
        "Under the agreement, Meta will acquire a 49 percent stake for around $14 billion"
    )
    assert span is not None and span.method == "fuzzy"
    assert TEXT[span.start : span.end].startswith("Under the agreement, Meta will acquire")


def test_unrelated_quote_is_not_found() -> None:
    assert Article(TEXT).locate("Apple acquired Meta for $999 billion in a surprise move") is None


def record(**kinds: list[dict]) -> DocumentExtraction:
    return DocumentExtraction.model_validate({"doc_id": "d", **kinds})


def evidence(quote: str) -> list[dict]:
    return [{"quote": quote}]


DEAL = {
    "deal_type": "investment",
    "parties": [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}],
    "amount": "about $14 billion",
    "stake_percent": 49,
    "date": "2025-06",
    "evidence": evidence("Meta will acquire a 49 percent stake"),
}


def test_supported_record_is_kept_with_offsets_and_grounded() -> None:
    grounded, findings = ground(record(deals=[DEAL]), TEXT, "strict")
    assert findings == []
    [deal] = grounded.deals
    assert deal.grounded is True and deal.amount is not None and deal.amount.value == 14e9
    [quote] = deal.evidence
    assert TEXT[quote.start : quote.end] == quote.quote and quote.grounded is True


def test_strict_drops_unsupported_values_and_records_with_reasons() -> None:
    invented = {**DEAL, "amount": "$999 billion", "stake_percent": 51}
    stranger = {"name": "Apple", "evidence": evidence("Meta Platforms has reached a deal")}
    meta = {
        "name": "Meta",
        "aliases": ["Meta Platforms", "Facebook"],
        "evidence": evidence("Meta Platforms has reached a deal"),
    }
    grounded, findings = ground(
        record(deals=[invented], companies=[stranger, meta]), TEXT, "strict"
    )
    [deal] = grounded.deals
    assert deal.amount is None and deal.stake_percent is None
    # The parties do occur in the article: the deal stays with them as given.
    parties = [(p.name, p.role) for p in deal.parties]
    assert parties == [("Meta", "investor"), ("Scale AI", "target")]
    assert [c.name for c in grounded.companies] == ["Meta"]
    assert grounded.companies[0].aliases == ["Meta Platforms"]
    reasons = {(f.record, f.field, f.action) for f in findings}
    assert ("Apple", "name", "dropped") in reasons
    assert ("Meta", "aliases", "dropped") in reasons
    assert ("investment: Meta (investor), Scale AI (target)", "amount", "dropped") in reasons
    assert ("investment: Meta (investor), Scale AI (target)", "stake_percent", "dropped") in reasons


def test_record_without_a_locatable_quote_is_dropped_in_strict_mode() -> None:
    made_up = {"name": "Meta", "evidence": evidence("Meta announced a merger with Apple today")}
    grounded, findings = ground(record(companies=[made_up]), TEXT, "strict")
    assert grounded.companies == []
    assert {f.field for f in findings} == {"evidence"}


def test_flag_keeps_everything_marked_ungrounded() -> None:
    invented = {**DEAL, "parties": [{"name": "Apple", "role": "acquirer"}], "amount": "$999bn"}
    grounded, findings = ground(record(deals=[invented]), TEXT, "flag")
    [deal] = grounded.deals
    assert deal.grounded is False and deal.amount is not None and deal.amount.value == 999e9
    assert {f.action for f in findings} == {"flagged"}
    assert {f.field for f in findings} == {"parties", "amount"}


def test_off_changes_nothing() -> None:
    original = record(deals=[{**DEAL, "amount": "$999bn"}])
    grounded, findings = ground(original, TEXT, "off")
    assert grounded == original and findings == []


def test_party_named_by_alias_with_legal_suffix_is_supported() -> None:
    deal = {**DEAL, "parties": [{"name": "Meta Platforms Inc.", "role": "investor"}]}
    grounded, findings = ground(record(deals=[deal]), TEXT, "strict")
    assert findings == [] and len(grounded.deals) == 1
