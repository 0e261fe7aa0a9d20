"""The cache key covers everything that shapes an answer, and nothing secret."""

from __future__ import annotations

from dataclasses import replace

import instructor
import pytest
from pydantic import BaseModel

from pipeline.extraction.documents import Document
from pipeline.extraction.extractor import Extractor
from pipeline.extraction.prompts import PromptTemplate, load_prompt
from pipeline.extraction.request import ModelRequest, RequestSettings
from pipeline.extraction.response import ArticleExtraction
from pipeline.providers import resolve
from pipeline.settings import Settings

PROMPT = load_prompt("extract_v2")


class OtherSchema(BaseModel):
    companies: list[str]


def request(**changes: object) -> ModelRequest:
    """The request for one article, with fields of its RequestSettings or itself changed."""
    settings_fields = {"provider", "model", "base_url", "mode", "prompt", "decoding"}
    settings = RequestSettings(
        provider="openai",
        model="gpt-4o-mini",
        base_url="http://127.0.0.1:8000/v1",
        mode=instructor.Mode.JSON_SCHEMA,
        prompt=PROMPT,
        decoding={"temperature": 0.0, "seed": 0, "max_tokens": 1024},
    )
    settings = replace(settings, **{k: v for k, v in changes.items() if k in settings_fields})
    own = {k: v for k, v in changes.items() if k not in settings_fields}
    values = {
        "doc_id": "d1",
        "messages": PROMPT.render("Meta invests in Scale AI."),
        "response_model": ArticleExtraction,
        "extra_body": {},
        **own,
    }
    return ModelRequest(settings=settings, **values)  # type: ignore[arg-type]


BASE_KEY = request().cache_key()


@pytest.mark.parametrize(
    "changes",
    [
        {"model": "gpt-4o"},
        {"provider": "local"},
        {"base_url": "http://127.0.0.1:9000/v1"},
        {"mode": instructor.Mode.TOOLS},
        {"decoding": {"temperature": 0.7, "seed": 0, "max_tokens": 1024}},
        {"decoding": {"temperature": 0.0, "seed": 1, "max_tokens": 1024}},
        {"decoding": {"temperature": 0.0, "seed": 0, "max_tokens": 512}},
        {"messages": PROMPT.render("Meta invests in Scale AI!")},
        {"response_model": OtherSchema},
        {"extra_body": {"response_format": {"type": "json_object"}}},
        # The same rendered messages from an edited template (a comment, say) still miss.
        {"prompt": PromptTemplate("extract_v2", PROMPT.system, PROMPT.user, "0" * 64)},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_anything_that_shapes_the_answer_changes_the_key(changes: dict[str, object]) -> None:
    assert request(**changes).cache_key() != BASE_KEY


def test_the_key_is_stable_and_ignores_credentials_and_document_id() -> None:
    assert request().cache_key() == BASE_KEY
    assert request(doc_id="another-name").cache_key() == BASE_KEY
    with_password = request(base_url="http://user:s3cret@127.0.0.1:8000/v1/")
    assert with_password.cache_key() == BASE_KEY
    assert "s3cret" not in str(with_password.describe())


def test_a_decoding_parameter_the_key_would_miss_is_refused() -> None:
    with pytest.raises(ValueError, match="not covered by the cache key"):
        request(decoding={"temperature": 0.0, "frequency_penalty": 0.5})


def plain_request(**settings: object) -> ModelRequest:
    """The request the extractor builds for the one-sentence article under these settings."""
    run_settings = Settings(
        model="openai/gpt-4o-mini",
        base_url="http://127.0.0.1:8000/v1",
        cache_mode="off",
        strategy="plain",
        **settings,  # type: ignore[arg-type]
    )
    extractor = Extractor(run_settings, resolve(run_settings), PROMPT, None)
    return next(extractor.iter_requests(Document("d1", "Meta invests in Scale AI.")))


def test_default_settings_decode_as_every_recorded_answer_was_keyed() -> None:
    default = plain_request()
    decoding = default.settings.decoding
    assert decoding == {"temperature": 0.0, "seed": 0, "max_tokens": 1024}
    assert [type(value) for value in decoding.values()] == [float, int, int]
    # The same key as the request built by hand with that decoding (as the recorded ones were).
    by_hand = request(extra_body=default.extra_body, base_url=default.settings.base_url)
    assert default.cache_key() == by_hand.cache_key()
    # A temperature given as the integer 0 is 0.0, not a new key.
    assert plain_request(temperature=0, seed=0).cache_key() == default.cache_key()


def test_each_seed_and_temperature_is_its_own_cache_key() -> None:
    keys = {
        plain_request(temperature=temperature, seed=seed).cache_key()
        for temperature in (0.0, 0.7)
        for seed in (0, 1, 2)
    }
    assert len(keys) == 6
    sent = plain_request(temperature=0.7, seed=2).settings.decoding
    assert (sent["temperature"], sent["seed"]) == (0.7, 2)
