"""Grounding: quotes located exactly, normalized or fuzzily with offsets into the original text;
then every value checked *inside its record's own located quotes* (names, parties, amounts by
value, stakes, dates at their granularity, titles); strict drops, flag marks, off does nothing."""

from __future__ import annotations

import random
import unicodedata
from array import array

import pytest

from pipeline.extraction.grounding import Article, ground, normalize, person_forms
from schemas.records import DocumentExtraction

TEXT = (
    "Meta Platforms has reached a deal with Scale\u00a0AI.\n\n"
    "Under the agreement, Meta will acquire a 49 percent stake for about $14 billion.\n"
    "Scale AI\u2019s co-founder  Alexandr Wang will join Meta in June 2025."
)
# The three sentences of TEXT as a model would quote them (plain space, straight apostrophe).
AGREEMENT = "Meta Platforms has reached a deal with Scale AI."
STAKE = "Under the agreement, Meta will acquire a 49 percent stake for about $14 billion."
WANG = "Scale AI's co-founder Alexandr Wang will join Meta in June 2025."


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
def test_normalized_match_maps_back_to_original_characters(quote: str, original: str) -> None:
    span = Article(TEXT).locate(quote)
    assert span is not None and span.method == "normalized"
    assert TEXT[span.start : span.end] == original


def test_nfkc_folds_ligatures_and_fullwidth_digits_back_to_the_original() -> None:
    text = "The \ufb01nancing of \uff11\uff14 billion dollars closed."  # "ﬁ", fullwidth "14"
    span = Article(text).locate("financing of 14 billion")
    assert span is not None and span.method == "normalized"
    assert text[span.start : span.end] == "\ufb01nancing of \uff11\uff14 billion"


def test_normalize_keeps_an_offset_per_character() -> None:
    normalized, index = normalize("A\u00a0 \ufb01\u2019")
    assert normalized == "a fi'"
    # "fi" both come from the ligature at offset 3; the sentinel is the text's length.
    assert list(index) == [0, 1, 3, 3, 4, 5]


def normalize_per_character(text: str) -> tuple[str, array[int]]:
    """The definition `normalize` is checked against: its earlier code, a character at a time."""
    quotes = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "′": "'"})
    chars: list[str] = []
    index = array("L")
    for offset, original in enumerate(text):
        if original < "\x80":
            expanded = original.lower()
        else:
            expanded = unicodedata.normalize("NFKC", original).translate(quotes).casefold()
        for char in expanded:
            if char.isspace():
                if not chars or chars[-1] == " ":
                    continue
                char = " "
            chars.append(char)
            index.append(offset)
    index.append(len(text))
    return "".join(chars), index


# ASCII letters, digits and punctuation; every ASCII whitespace (\x1c-\x1f are whitespace to
# str.isspace); and non-ASCII that NFKC expands, maps to whitespace or to quotes: NBSP, the
# ideographic and em spaces, line and paragraph separators, NEL, curly quotes, the "fi"
# ligature, fullwidth letters, a diaeresis (NFKC: a space and a combining mark), Greek capital
# sigma (case-folded), the German sharp s ("ss"), and text outside the Basic Multilingual Plane.
ALPHABET = (
    "aZ09 .,'\"-$%"
    "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f  "
    "\u00a0\u3000\u2003\u2028\u2029\u0085"
    "\u2018\u2019\u201a\u201c\u201d\u201e\u2032"
    "\ufb01\uff21\uff11\u00a8\u03a3\u00df\u00e9\U0001d400"
)


@pytest.mark.parametrize("seed", range(20))
def test_normalize_equals_the_per_character_definition(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        text = "".join(rng.choices(ALPHABET, k=rng.randrange(0, 40)))
        assert normalize(text) == normalize_per_character(text), repr(text)


def test_fuzzy_match_above_threshold() -> None:
    # One word changed in a long quote: not exact, not normalized, still the same sentence.
    span = Article(TEXT).locate(
        "Under the agreement, Meta will acquire a 49 percent stake for around $14 billion"
    )
    assert span is not None and span.method == "fuzzy"
    assert TEXT[span.start : span.end].startswith("Under the agreement, Meta will acquire")


def test_unrelated_quote_is_not_found() -> None:
    assert Article(TEXT).locate("Apple acquired Meta for $999 billion in a surprise move") is None


def record(**kinds: list[dict]) -> DocumentExtraction:
    return DocumentExtraction.model_validate({"doc_id": "d", **kinds})


def evidence(*quotes: str) -> list[dict]:
    return [{"quote": quote} for quote in quotes]


DEAL = {
    "deal_type": "investment",
    "parties": [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}],
    "amount": "about $14 billion",
    "stake_percent": 49,
    "date": "2025-06",
    "evidence": evidence(AGREEMENT, STAKE, WANG),
}
DEAL_LABEL = "investment: Meta (investor), Scale AI (target)"


def assert_spans_index(text: str, extraction: DocumentExtraction) -> None:
    for item in [*extraction.companies, *extraction.people, *extraction.deals]:
        for span in item.spans:
            assert text[span.start : span.end] == span.text, span
        for quote in item.evidence:
            if quote.grounded:
                assert quote.start is not None and quote.end is not None


def test_supported_record_is_kept_with_offsets_and_grounded() -> None:
    grounded, findings = ground(record(deals=[DEAL]), TEXT, "strict")
    assert findings == []
    [deal] = grounded.deals
    assert deal.grounded is True and deal.amount is not None and deal.amount.value == 14e9
    assert deal.stake_percent == 49 and deal.date == "2025-06"
    assert [quote.grounded for quote in deal.evidence] == [True, True, True]
    # The first quote was matched normalized (NBSP in the text): its offsets cover the original.
    assert TEXT[deal.evidence[0].start : deal.evidence[0].end] == (
        "Meta Platforms has reached a deal with Scale\u00a0AI."
    )
    assert TEXT[deal.evidence[1].start : deal.evidence[1].end] == STAKE
    spans = {span.field: span.text for span in deal.spans}
    assert spans == {
        "parties[0].name": "Meta",  # the first whole-word "Meta" is in "Meta Platforms"
        "parties[1].name": "Scale\u00a0AI",
        "amount": "$14 billion",
        "stake_percent": "49 percent",
        "date": "June 2025",
    }
    assert all(span.grounded for span in deal.spans)
    assert_spans_index(TEXT, grounded)


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
    assert deal.amount is None and deal.stake_percent is None and deal.date == "2025-06"
    # The parties are named in the deal's quotes: the deal stays with them as given.
    parties = [(p.name, p.role) for p in deal.parties]
    assert parties == [("Meta", "investor"), ("Scale AI", "target")]
    assert [c.name for c in grounded.companies] == ["Meta"]
    assert grounded.companies[0].aliases == ["Meta Platforms"]
    reasons = {(f.record, f.field, f.action, f.level) for f in findings}
    assert reasons == {
        ("Apple", "name", "dropped", "record"),
        ("Meta", "aliases[1]", "dropped", "value"),
        (DEAL_LABEL, "amount", "dropped", "value"),
        (DEAL_LABEL, "stake_percent", "dropped", "value"),
    }
    by_field = {f.field: f for f in findings}
    assert by_field["amount"].value == {"value": 999e9, "currency": "USD", "qualifier": "exact"}
    assert by_field["stake_percent"].value == 51
    assert by_field["aliases[1]"].value == "Facebook"
    assert by_field["aliases[1]"].index == 1  # Meta is the second company of the document


def test_record_without_a_locatable_quote_is_dropped_in_strict_mode() -> None:
    made_up = {"name": "Meta", "evidence": evidence("Meta announced a merger with Apple today")}
    grounded, findings = ground(record(companies=[made_up]), TEXT, "strict")
    assert grounded.companies == []
    # The quote is not found; with no evidence at all the name is not in it either.
    assert {(f.field, f.level) for f in findings} == {
        ("evidence", "value"),
        ("evidence", "record"),
        ("name", "record"),
    }
    assert {f.action for f in findings} == {"dropped"}


def test_flag_keeps_everything_marked_ungrounded() -> None:
    invented = {**DEAL, "parties": [{"name": "Apple", "role": "acquirer"}], "amount": "$999bn"}
    grounded, findings = ground(record(deals=[invented]), TEXT, "flag")
    [deal] = grounded.deals
    assert deal.grounded is False and deal.amount is not None and deal.amount.value == 999e9
    assert {f.action for f in findings} == {"flagged"}
    assert {f.field for f in findings} == {"parties[0].name", "amount"}
    # Neither "Apple" nor "$999bn" is anywhere in the article: no span for them.
    assert {span.field for span in deal.spans} == {"stake_percent", "date"}


def test_off_changes_nothing() -> None:
    original = record(deals=[{**DEAL, "amount": "$999bn"}])
    grounded, findings = ground(original, TEXT, "off")
    assert grounded == original and findings == [] and grounded.support is None


def test_party_named_by_alias_with_legal_suffix_is_supported() -> None:
    deal = {**DEAL, "parties": [{"name": "Meta Platforms Inc.", "role": "investor"}]}
    grounded, findings = ground(record(deals=[deal]), TEXT, "strict")
    assert findings == [] and len(grounded.deals) == 1
    [party] = [s for s in grounded.deals[0].spans if s.field == "parties[0].name"]
    assert party.start == 0 and TEXT[party.start : party.end] == party.text


def test_span_covers_the_longest_form_written() -> None:
    deal = {**DEAL, "parties": [{"name": "Meta Platforms Inc.", "role": "investor"}]}
    grounded, _ = ground(record(deals=[deal]), TEXT, "strict")
    [party] = [s for s in grounded.deals[0].spans if s.field == "parties[0].name"]
    assert party.text == "Meta Platforms"
    person = {
        "name": "Mark Zuckerberg",
        "roles": [{"title": "CEO"}],
        "evidence": evidence("Chief Executive Officer Mark Zuckerberg"),
    }
    text = "Chief Executive Officer Mark Zuckerberg spoke."
    grounded, _ = ground(record(people=[person]), text, "strict")
    [title] = [s for s in grounded.people[0].spans if s.field == "roles[0].title"]
    assert title.text == "Chief Executive Officer"


def test_party_named_by_a_company_alias_of_the_same_document_is_supported() -> None:
    text = "Facebook will invest in Scale AI, the data startup."
    company = {"name": "Meta", "aliases": ["Facebook"], "evidence": evidence(text)}
    deal = {
        "deal_type": "investment",
        "parties": [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}],
        "evidence": evidence(text),
    }
    grounded, findings = ground(record(companies=[company], deals=[deal]), text, "strict")
    # The company itself is grounded by its alias; the deal's party "Meta" by "Facebook".
    assert findings == [] and len(grounded.deals) == 1 and len(grounded.companies) == 1
    [party] = [s for s in grounded.deals[0].spans if s.field == "parties[0].name"]
    assert party.text == "Facebook" and (party.start, party.end) == (0, 8)


# (1) A quote that is in the article but does not mention the record.
OTHER = "Microsoft reported record cloud revenue.\nMeta Platforms has reached a deal with Scale AI."


def test_quote_about_another_company_is_dropped_under_strict() -> None:
    microsoft = {"name": "Microsoft", "evidence": evidence(AGREEMENT)}
    grounded, findings = ground(record(companies=[microsoft]), OTHER, "strict")
    assert grounded.companies == []
    [finding] = findings
    assert finding.record_type == "company" and finding.index == 0
    assert finding.record == "Microsoft" and finding.field == "name"
    assert finding.value == "Microsoft" and finding.quotes == [AGREEMENT]
    assert "not in the record's evidence" in finding.reason
    assert finding.action == "dropped" and finding.level == "record"


def test_quote_about_another_company_is_flagged_under_flag() -> None:
    microsoft = {"name": "Microsoft", "evidence": evidence(AGREEMENT)}
    grounded, findings = ground(record(companies=[microsoft]), OTHER, "flag")
    [company] = grounded.companies
    assert company.name == "Microsoft" and company.grounded is False
    # The quote itself is in the article; only the name is not in it.
    [quote] = company.evidence
    assert quote.grounded is True and OTHER[quote.start : quote.end] == AGREEMENT
    # The name's span is its mention elsewhere in the article, marked as not grounded.
    [span] = company.spans
    assert (span.field, span.text, span.start, span.end, span.grounded) == (
        "name",
        "Microsoft",
        0,
        9,
        False,
    )
    [finding] = findings
    assert (finding.field, finding.value, finding.quotes) == ("name", "Microsoft", [AGREEMENT])
    assert "not in the record's evidence" in finding.reason
    assert finding.action == "flagged" and finding.level == "record"


# (2) A target named in the quote only as "the startup".
STARTUP = (
    "Scale AI labels training data for AI labs. "
    "Meta invested $14.3 billion in the startup in June 2025."
)
INVESTED = "Meta invested $14.3 billion in the startup in June 2025."
STARTUP_DEAL = {
    "deal_type": "investment",
    "parties": [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}],
    "amount": 14_300_000_000,
    "date": "2025-06",
}


def test_target_named_only_as_the_startup_is_unsupported() -> None:
    deal = {**STARTUP_DEAL, "evidence": evidence(INVESTED)}
    grounded, findings = ground(record(deals=[deal]), STARTUP, "strict")
    assert grounded.deals == []
    [finding] = findings
    assert (finding.field, finding.value, finding.level) == (
        "parties[1].name",
        "Scale AI",
        "record",
    )
    assert finding.quotes == [INVESTED]

    flagged, _ = ground(record(deals=[deal]), STARTUP, "flag")
    [kept] = flagged.deals
    assert kept.grounded is False
    [target] = [s for s in kept.spans if s.field == "parties[1].name"]
    assert target.grounded is False and (target.start, target.end) == (0, 8)


def test_target_named_in_a_second_quote_is_supported() -> None:
    deal = {**STARTUP_DEAL, "evidence": evidence(INVESTED, "Scale AI labels training data")}
    grounded, findings = ground(record(deals=[deal]), STARTUP, "strict")
    assert findings == []
    [kept] = grounded.deals
    assert kept.grounded is True and kept.amount is not None
    spans = {span.field: span.text for span in kept.spans}
    assert spans["parties[1].name"] == "Scale AI"
    assert spans["amount"] == "$14.3 billion" and spans["date"] == "June 2025"


# (3) Money, percents and dates by value, at the record's granularity.
def deal_with(quote: str, **values: object) -> dict:
    return {
        "deal_type": "investment",
        "parties": [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}],
        **values,
        "evidence": evidence(quote),
    }


@pytest.mark.parametrize(
    ("quote", "values", "supported"),
    [
        ("Meta will invest $14.3 billion in Scale AI.", {"amount": 14_300_000_000}, True),
        ("Meta will invest $14 billion in Scale AI.", {"amount": 14_300_000_000}, False),
        ("Meta will invest $14.3 billion in Scale AI.", {"amount": 14e9}, False),
        ("Meta will invest US$14,300,000,000 in Scale AI.", {"amount": 14.3e9}, True),
        ("Meta valued Scale AI at $29bn.", {"valuation": 29e9}, True),
        ("Meta takes 49 percent of Scale AI.", {"stake_percent": 49}, True),
        ("Meta takes 49% of Scale AI.", {"stake_percent": 49}, True),
        ("Meta takes 49 percent of Scale AI.", {"stake_percent": 51}, False),
        ("Meta takes a 49-percent stake in Scale AI.", {"stake_percent": 49}, True),
        ("Meta takes 49 pct of Scale AI.", {"stake_percent": 49}, True),
        ("Meta takes 49 per cent of Scale AI.", {"stake_percent": 49}, True),
        ("Meta will invest $14.3 bln in Scale AI.", {"amount": 14.3e9}, True),
        ("Meta will invest 14.3 mln euros in Scale AI.", {"amount": 14.3e6}, True),
        ("Meta will invest 14.3 mln euros in Scale AI.", {"amount": 14.3e9}, False),
        ("Meta invested in Scale AI in March.", {"date": "2025-03"}, True),
        ("Meta invested in Scale AI in 2025.", {"date": "2025-03"}, False),
        ("Meta invested in Scale AI in 2025.", {"date": "2025"}, True),
        ("Meta invested in Scale AI on March 4, 2025.", {"date": "2025-03"}, True),
        ("Meta invested in Scale AI in April.", {"date": "2025-03"}, False),
        ("Meta invested in Scale AI in March 2024.", {"date": "2025-03"}, False),
        ("Meta invested in Scale AI on 4 March 2025.", {"date": "2025-03-04"}, True),
        ("Meta invested in Scale AI on the 4th of March, 2025.", {"date": "2025-03-04"}, True),
        ("Meta invested in Scale AI on 2025-03-04.", {"date": "2025-03-04"}, True),
        ("Meta invested in Scale AI on 2025-03-04.", {"date": "2025-03"}, True),
        ("Meta invested in Scale AI on 5 March 2025.", {"date": "2025-03-04"}, False),
        ("Meta invested in Scale AI on Tuesday, 4 March.", {"date": "2025-03-04"}, True),
        ("Meta invested in Scale AI on March 4.", {"date": "2025-03-04"}, True),
        ("Meta invested in Scale AI on March 5.", {"date": "2025-03-04"}, False),
        ("Meta invested in Scale AI on 5 March.", {"date": "2025-03"}, True),
        ("Meta invested in Scale AI in March 2025.", {"date": "2025-03-04"}, False),
    ],
)
def test_values_are_supported_by_value_within_rounding(
    quote: str, values: dict, supported: bool
) -> None:
    [name] = values
    grounded, findings = ground(record(deals=[deal_with(quote, **values)]), quote, "strict")
    [deal] = grounded.deals  # the parties are in the quote: only the value may go
    assert (getattr(deal, name) is not None) is supported
    assert [f.field for f in findings] == ([] if supported else [name])
    assert (name in {span.field for span in deal.spans}) is supported


def test_title_variant_supports_a_normal_form_title() -> None:
    text = "Meta\u2019s Chief Executive Officer Mark Zuckerberg wants a 49% stake."
    person = {
        "name": "Mark Zuckerberg",
        "roles": [{"title": "CEO", "organization": "Meta"}],
        "evidence": evidence("Meta's Chief Executive Officer Mark Zuckerberg wants a 49% stake."),
    }
    grounded, findings = ground(record(people=[person]), text, "strict")
    assert findings == []
    [kept] = grounded.people
    assert [(r.title, r.organization) for r in kept.roles] == [("CEO", "Meta")]
    spans = {span.field: span.text for span in kept.spans}
    assert spans["name"] == "Mark Zuckerberg" and spans["roles[0].organization"] == "Meta"
    assert spans["roles[0].title"] == "Chief Executive Officer"
    # A title the quote does not state goes alone; the person stays.
    cfo = {**person, "roles": [{"title": "CFO", "organization": "Meta"}]}
    grounded, findings = ground(record(people=[cfo]), text, "strict")
    assert grounded.people[0].roles == [] and [f.field for f in findings] == ["roles[0].title"]


@pytest.mark.parametrize(
    ("name", "forms"),
    [
        ("Alexandr Wang", ["Alexandr Wang", "Wang"]),
        ("Martin Luther King Jr.", ["Martin Luther King Jr.", "King"]),
        ("John D. Rockefeller III", ["John D. Rockefeller III", "Rockefeller"]),
        ("Madonna", ["Madonna"]),
    ],
)
def test_a_surname_is_the_last_word_before_a_generational_suffix(
    name: str, forms: list[str]
) -> None:
    assert person_forms(name) == forms


def test_a_suffix_alone_does_not_support_a_name() -> None:
    text = "Robert Smith Jr. joined Meta."
    person = {"name": "Alan Jones Jr.", "evidence": evidence(text)}
    grounded, findings = ground(record(people=[person]), text, "strict")
    assert grounded.people == [] and [f.field for f in findings] == ["name"]


def test_person_named_by_surname_and_company_facts_in_quotes() -> None:
    text = (
        "Alexandr Wang founded Scale AI in 2016.\n"
        "Wang said the San Francisco company keeps growing."
    )
    person = {"name": "Alexandr Wang", "evidence": evidence("Wang said the San Francisco company")}
    company = {
        "name": "Scale AI",
        "founded_year": 2016,
        "headquarters": "San Francisco, California",
        "evidence": evidence("Alexandr Wang founded Scale AI in 2016."),
    }
    grounded, findings = ground(record(people=[person], companies=[company]), text, "strict")
    [kept_person] = grounded.people
    assert [(s.field, s.text) for s in kept_person.spans] == [("name", "Wang")]
    # The headquarters is in the article but not in the company's quote.
    [kept_company] = grounded.companies
    assert kept_company.founded_year == 2016 and kept_company.headquarters is None
    assert [(f.record, f.field) for f in findings] == [("Scale AI", "headquarters")]


# (4) Every span indexes its value, also where the article's characters differ from the value.
def test_value_spans_index_the_original_after_normalization() -> None:
    text = (
        "Con\ufb02uent\u2019s deal: \u201cIBM will buy Con\ufb02uent for $11\u00a0billion,\u201d "
        "said IBM\u2019s Chief\u00a0Executive Officer Arvind Krishna in December 2025."
    )
    quote = (
        '"IBM will buy Confluent for $11 billion," said IBM\'s Chief Executive Officer '
        "Arvind Krishna in December 2025."
    )
    deal = {
        "deal_type": "acquisition",
        "parties": [
            {"name": "IBM", "role": "acquirer"},
            {"name": "Confluent", "role": "target"},
        ],
        "amount": 11e9,
        "date": "2025-12",
        "evidence": evidence(quote),
    }
    person = {
        "name": "Arvind Krishna",
        "roles": [{"title": "CEO", "organization": "IBM"}],
        "evidence": evidence(quote),
    }
    company = {"name": "Confluent", "evidence": evidence(quote)}
    grounded, findings = ground(
        record(deals=[deal], people=[person], companies=[company]), text, "strict"
    )
    assert findings == []
    assert grounded.deals[0].evidence[0].grounded is True
    texts = {
        (kind, span.field): span.text
        for kind, items in (
            ("deal", grounded.deals),
            ("person", grounded.people),
            ("company", grounded.companies),
        )
        for item in items
        for span in item.spans
    }
    assert texts.pop(("person", "roles[0].title")) == "Chief\u00a0Executive Officer"
    assert texts == {
        ("deal", "parties[0].name"): "IBM",
        ("deal", "parties[1].name"): "Con\ufb02uent",
        ("deal", "amount"): "$11\u00a0billion",
        ("deal", "date"): "December 2025",
        ("person", "name"): "Arvind Krishna",
        ("person", "roles[0].organization"): "IBM",
        ("company", "name"): "Con\ufb02uent",
    }
    assert_spans_index(text, grounded)


def test_value_spans_index_the_original_in_flag_mode_too() -> None:
    flagged = {**DEAL, "amount": "$999 billion", "evidence": evidence(AGREEMENT)}
    grounded, _ = ground(record(deals=[flagged]), TEXT, "flag")
    [deal] = grounded.deals
    # 49 percent and June 2025 are outside the quote: spans of their mentions elsewhere.
    ungrounded = {span.field: span.text for span in deal.spans if not span.grounded}
    assert ungrounded == {"stake_percent": "49 percent", "date": "June 2025"}
    assert_spans_index(TEXT, grounded)


# (5) Support counts are measured before strict drops anything.
def test_support_counts_are_the_same_under_strict_and_flag() -> None:
    companies = [
        {"name": "Microsoft", "evidence": evidence(AGREEMENT)},  # 1 value, unsupported
        {"name": "Meta", "aliases": ["Facebook"], "evidence": evidence(AGREEMENT)},  # 1 of 2
        {"name": "Scale AI", "evidence": evidence(AGREEMENT)},  # 1 of 1
    ]
    deal = {**DEAL, "stake_percent": 51}  # 2 parties, amount, date supported; stake not
    extraction = record(companies=companies, deals=[deal])
    strict, _ = ground(extraction, TEXT, "strict")
    flag, _ = ground(extraction, TEXT, "flag")
    assert [c.name for c in strict.companies] == ["Meta", "Scale AI"]
    assert len(flag.companies) == 3
    assert strict.support == flag.support
    assert strict.support is not None
    company, person, deal_support = (strict.support[k] for k in ("company", "person", "deal"))
    assert (company.records, company.records_supported) == (3, 1)
    assert (company.values, company.values_supported) == (4, 2)
    assert (person.records, person.values) == (0, 0)
    assert (deal_support.records, deal_support.records_supported) == (1, 0)
    assert (deal_support.values, deal_support.values_supported) == (5, 4)
