"""Article dates from date stamps (pipeline/consolidation/dates.py)."""

from __future__ import annotations

from pathlib import Path

from pipeline.consolidation.dates import find_stamps
from pipeline.extraction.documents import read_document

SEEDS = Path("seeds")


def test_an_update_note_dates_what_follows_it() -> None:
    text = read_document(SEEDS / "000_0709ac1d3ffb39f1.txt").text
    stamps = find_stamps(text)
    assert stamps.dates == ("2025-06-11", "2025-06-08")
    assert stamps.date_at(text.index("Meta has reached a deal")) == "2025-06-11"
    assert stamps.date_at(text.index("Meta is in talks to invest about")) == "2025-06-08"


def test_datelines_and_publication_lines_are_stamps_body_dates_are_not() -> None:
    text = (
        "Headline above the dateline\n"
        "News Desk 11 June 2025\n"
        "The companies signed the deal on March 3, 2025, after months of talks that began in "
        "the autumn of the previous year.\n"
    )
    stamps = find_stamps(text)
    assert stamps.dates == ("2025-06-11",)
    assert stamps.date_at(0) == "2025-06-11"  # before every stamp: the article's first
    assert stamps.date_at(None) == "2025-06-11"
    assert find_stamps("Published: 2025-06-09 at 10:30 am\n").dates == ("2025-06-09",)


def test_an_article_without_a_stamp_is_undated() -> None:
    text = read_document(SEEDS / "002_6bef6f25f7ec2a0a.txt").text
    assert find_stamps(text).date_at(0) is None
