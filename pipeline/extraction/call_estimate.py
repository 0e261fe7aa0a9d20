"""How many requests a long article will take, told before it starts (the progress shows it).

An estimate: it counts the requests `Extractor.iter_requests` builds for the text (answered
by the cache or the model alike) and not the re-asks of invalid answers or the retries of
failed calls, which only the calls themselves reveal.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from pipeline.extraction.candidates import find_candidates, find_deal_candidates
from pipeline.extraction.chunking import split_text
from pipeline.settings import Strategy


@dataclass(frozen=True)
class CallEstimate:
    """About how many requests a document takes, over how many distinct chunks."""

    calls: int
    chunks: int


def estimate_calls(
    text: str, max_chunk_chars: int, strategy: Strategy | None
) -> CallEstimate | None:
    """The requests of a text longer than one chunk; None (nothing counted, nothing spent)
    for a text that fits one. Plain: one per distinct chunk. Constrained: per distinct chunk,
    one for its organizations and one for its people when it has any, and one per deal
    candidate not already asked in an earlier chunk, as `constrained.calls_for` asks them,
    without building their question models."""
    if len(text) <= max_chunk_chars:
        return None
    # A chunk that recurs (repeated text) is asked once, as iter_requests does.
    chunks = list(dict.fromkeys(split_text(text, max_chunk_chars)))
    if strategy == "plain":
        return CallEstimate(len(chunks), len(chunks))
    calls = 0
    deals: set[Hashable] = set()
    for chunk in chunks:
        candidates = find_candidates(chunk)
        calls += bool(candidates.organizations) + bool(candidates.people)
        deals.update(find_deal_candidates(chunk, candidates))
    return CallEstimate(calls + len(deals), len(chunks))
