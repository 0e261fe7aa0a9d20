"""The estimate of a long article's requests agrees with the requests the extractor builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.extraction.call_estimate import CallEstimate, estimate_calls
from pipeline.extraction.documents import Document
from pipeline.extraction.extractor import Extractor
from pipeline.extraction.prompts import load_prompt
from pipeline.providers import resolve
from pipeline.settings import Settings, Strategy

SEEDS = [path.read_text(encoding="utf-8") for path in sorted(Path("seeds").glob("*.txt"))]


def extractor(strategy: Strategy) -> Extractor:
    """An extractor whose chunks are the shortest the budget allows (1,000 characters)."""
    settings = Settings(
        model="openai/fake-model",
        base_url="http://127.0.0.1:9/v1",
        cache_mode="off",
        strategy=strategy,
        context_tokens=1500,
    )
    return Extractor(settings, resolve(settings), load_prompt(settings.prompt_name), None)


@pytest.mark.parametrize("strategy", ["plain", "constrained"])
def test_a_long_article_is_estimated_at_the_requests_it_takes(strategy: Strategy) -> None:
    # Two seeds, then the first again: its chunks and deal candidates recur and are asked once.
    text = "\n\n".join([SEEDS[0], SEEDS[1], SEEDS[0]])
    built = extractor(strategy)
    requests = list(built.iter_requests(Document("long", text)))
    estimate = estimate_calls(text, built.max_chunk_chars, strategy)
    assert estimate is not None and estimate.chunks > 1
    assert estimate.calls == len(requests)
    if strategy == "plain":
        assert estimate == CallEstimate(len(requests), len(requests))
    else:
        assert estimate.calls > estimate.chunks  # several questions a chunk


def test_an_article_of_one_chunk_is_not_counted() -> None:
    built = extractor("constrained")
    text = "x" * built.max_chunk_chars
    assert estimate_calls(text, built.max_chunk_chars, "constrained") is None
