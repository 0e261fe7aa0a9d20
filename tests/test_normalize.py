"""Normalization of names, titles, places, money, percents and dates before comparing."""

from __future__ import annotations

import pytest

from schemas.normalize import (
    date_agrees,
    fold,
    money_agrees,
    normalize_company,
    normalize_person,
    normalize_place,
    normalize_title,
    percent_agrees,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Meta Platforms, Inc.", "meta"),
        ("Meta Platforms Inc.", "meta"),
        ("META", "meta"),
        ("Alphabet Inc.", "alphabet"),
        ("Nestlé S.A.", "nestle"),
        ("The Carlyle Group", "carlyle"),
        ("McDonald’s Corp.", "mcdonalds"),  # curly apostrophe
        ("McDonald's", "mcdonalds"),
        ("Scale A.I.", "scale ai"),
        ("AT&T Inc.", "at and t"),
        ("“Anduril” Industries", "anduril industries"),  # curly quotes, not a legal suffix
        ("Group", "group"),  # a suffix alone is the name
        ("腾讯控股 Ltd.", "腾讯控股"),  # non-Latin names survive folding
    ],
)
def test_normalize_company(name: str, expected: str) -> None:
    assert normalize_company(name) == expected


def test_fold_treats_curly_and_straight_quotes_alike() -> None:
    assert fold("Meta’s “wartime CEO”") == fold('Meta\'s "wartime CEO"') == "metas wartime ceo"


def test_normalize_person_drops_honorifics_only() -> None:
    assert normalize_person("Dr. Lucy Guo") == "lucy guo"
    assert normalize_person("Alexandr  Wang") == "alexandr wang"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Chief Executive Officer", "ceo"),
        ("CEO", "ceo"),
        ("chief executive", "ceo"),
        ("Co-Founder", "co founder"),
        ("cofounder", "co founder"),
        ("Former CEO", "former ceo"),
        ("head of AI research lab", "head of ai research lab"),
    ],
)
def test_normalize_title(title: str, expected: str) -> None:
    assert normalize_title(title) == expected


def test_normalize_place_compares_the_city() -> None:
    assert normalize_place("Menlo Park, Calif.") == normalize_place("Menlo Park") == "menlo park"


def test_money_tolerance_is_one_percent_of_the_gold() -> None:
    assert money_agrees(14.1e9, 14.0e9)  # 0.71%
    assert not money_agrees(13.8e9, 14.0e9)  # 1.43%
    assert money_agrees(14.0e9, 14.0e9)
    assert not money_agrees(14e6, 14e9)  # a million/billion mix-up
    assert money_agrees(0.0, 0.0)


def test_percent_agrees_within_a_twentieth_of_a_point() -> None:
    assert percent_agrees(49.0, 49)
    assert not percent_agrees(49.5, 49)


@pytest.mark.parametrize(
    ("predicted", "gold", "agrees"),
    [
        ("2025-03-14", "2025-03", True),  # finer than the gold: compared at the gold's month
        ("2025-03", "2025-03", True),
        ("2025", "2025-03", False),  # coarser than the gold
        ("2025-04", "2025-03", False),
        ("2025-06-11", "2025", True),
        ("2024-06-11", "2025", False),
    ],
)
def test_dates_compare_at_the_gold_granularity(predicted: str, gold: str, agrees: bool) -> None:
    assert date_agrees(predicted, gold) is agrees
