"""Mention keys and the consolidated gold's schema (schemas/consolidated.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas.consolidated import (
    GoldEntityCluster,
    GoldTimelineEntry,
    mention_key,
    parse_mention_key,
    stage_rank,
)


def test_a_mention_key_round_trips() -> None:
    key = mention_key("004_be305ebc2eef9ae7", "deals", 12)
    assert key == "004_be305ebc2eef9ae7:deals[12]"
    assert parse_mention_key(key) == ("004_be305ebc2eef9ae7", "deals", 12)


@pytest.mark.parametrize(
    "key", ["doc", "doc:deal[0]", "doc:deals[-1]", ":deals[0]", "a:b:deals[0]"]
)
def test_malformed_keys_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match="is not a mention key"):
        parse_mention_key(key)


def test_gold_clusters_refuse_bad_and_repeated_keys() -> None:
    with pytest.raises(ValidationError, match="not a mention key"):
        GoldEntityCluster(name="Meta", mentions=["meta"])
    with pytest.raises(ValidationError, match="listed twice"):
        GoldEntityCluster(name="Meta", mentions=["a:companies[0]", "a:companies[0]"])
    with pytest.raises(ValidationError, match="not a mention key"):
        GoldTimelineEntry(source="a:deal[0]", date=None, status=None)


def test_stages_are_ordered() -> None:
    assert stage_rank(None) < stage_rank("rumored") < stage_rank("in_talks")
    assert stage_rank("in_talks") < stage_rank("agreed") < stage_rank("completed")
