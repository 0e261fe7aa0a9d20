"""Memory per article stays constant with the constrained strategy: questions with the same
options share one model class, older classes are collected, a question that recurs in an article
is asked once, and a huge article's requests are built lazily, chunk by chunk."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from pathlib import Path

from pipeline.extraction.constrained import KEPT_QUESTION_MODELS, calls_for
from pipeline.extraction.documents import Document
from pipeline.extraction.extractor import Extractor, OfferedCandidates
from pipeline.extraction.prompts import load_prompt
from pipeline.extraction.response import schema_sha256
from pipeline.providers import resolve
from pipeline.settings import Settings
from tests.load_scenario import constrained_article
from tests.test_live_hostile import HOSTILE


def constrained_extractor(tmp_path: Path) -> Extractor:
    """An extractor for the constrained strategy against an OpenAI-compatible URL; building
    requests reaches no server."""
    settings = Settings(
        model="openai/fake-model",
        base_url="http://127.0.0.1:9/v1",
        strategy="constrained",
        cache=tmp_path / "c.sqlite",
        cache_mode="replay",
    )
    return Extractor(settings, resolve(settings), load_prompt(settings.prompt_name), None)


def test_questions_with_the_same_options_share_one_model() -> None:
    first, _, _ = calls_for(constrained_article("doc-0001"))
    again, _, _ = calls_for(constrained_article("doc-0001"))
    other, _, _ = calls_for(constrained_article("doc-0002"))
    assert [c.response_model for c in first] == [c.response_model for c in again]
    assert not {c.response_model for c in first} & {c.response_model for c in other}
    # The passage differs, the options are the same: the same class, the same schema.
    assert [c.text for c in first] == [c.text for c in again]


def test_question_models_of_earlier_articles_are_collected() -> None:
    calls, _, _ = calls_for(constrained_article("doc-9000"))
    kinds = {call.kind for call in calls}
    assert kinds == {"companies", "people", "deal"}
    models = [weakref.ref(call.response_model) for call in calls]
    # Hashed as for a cache key: that cache must not keep the classes alive either.
    assert len({schema_sha256(call.response_model) for call in calls}) == len(calls)
    del calls
    for number in range(KEPT_QUESTION_MODELS + 10):
        calls_for(constrained_article(f"doc-{number:04d}"))
    gc.collect()
    assert all(model() is None for model in models)


def test_a_sentence_repeated_in_an_article_is_asked_once(tmp_path: Path) -> None:
    sentence = "Zeta Partners bought a 30% stake in Acme Corp, backed by Omega Holdings."
    text = f"{sentence}\n\nAcme Corp makes rockets.\n\n{sentence}\n"
    requests, offered = constrained_extractor(tmp_path).requests_for(Document("twice", text))
    deals = [r for r in requests if "answer" in r.response_model.model_fields]
    assert len(deals) == 1 and offered is not None
    assert [deal["sentence"] for deal in offered["deals"]] == [sentence]


def test_a_repeated_five_megabyte_article_asks_each_question_once(tmp_path: Path) -> None:
    text = (HOSTILE + "\n") * (5_000_000 // (len(HOSTILE) + 1))
    extractor = constrained_extractor(tmp_path)
    tracemalloc.start()
    try:
        requests, offered = extractor.requests_for(Document("big", text))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Each distinct question once (there were 57,253 requests, 4 GB, 262 s): the repeated
    # chunks and the deal candidates repeated in every chunk are the same requests.
    keys = [request.cache_key() for request in requests]
    assert len(set(keys)) == len(keys) < 20
    assert offered is not None and len(offered["deals"]) == 3
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MB allocated at the peak"


def test_requests_are_built_chunk_by_chunk(tmp_path: Path) -> None:
    extractor = constrained_extractor(tmp_path)
    articles = 3 * extractor.max_chunk_chars // len(constrained_article("doc-0000"))
    text = "\n".join(constrained_article(f"doc-{n:04d}") for n in range(articles))
    offered = OfferedCandidates("long")
    requests = extractor.iter_requests(Document("long", text), offered)
    first = next(requests)
    # The first chunk's candidates are found, the last chunk's not yet.
    assert "Kakakaka Capital" in offered.content["organizations"]
    assert "Kakakaka Capital" in first.messages[-1]["content"]
    last = constrained_article(f"doc-{articles - 1:04d}").split()[2]
    assert f"{last} Capital" in text and f"{last} Capital" not in offered.content["organizations"]
    requests.close()
