"""dealx's structured call holds instructor's JSON_SCHEMA conversation: for the same call, the
server receives the same requests (first ask and every re-ask) as from instructor itself, and
the answer, the attempts and the summed tokens come back the same."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import instructor
import pytest
from instructor.core import IncompleteOutputException, InstructorRetryException
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from pipeline.batch.collect import parse_answer
from pipeline.extraction import constrained
from pipeline.extraction.response import ArticleExtraction, schema_sha256
from pipeline.providers.base import chat_completion_poster
from pipeline.providers.structured import (
    MAX_TOKENS,
    ResponseFormats,
    ask_structured,
    token_count,
    validate_answer,
)
from tests.fake_openai import FakeOpenAI, RecordedRequest, Reply, Script, wire

VALID = json.dumps(
    {
        "companies": [{"name": "Meta", "evidence": [{"quote": "Meta agreed to invest"}]}],
        "people": [],
        "deals": [],
    }
)
# Invalid in two ways: an empty name (a length constraint) and a string where a list belongs.
INVALID = '{"companies": [{"name": ""}], "people": "none"}'
NOT_JSON = "Sure! Here are the companies: Meta"
USAGE = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
MESSAGES = [
    {"role": "system", "content": 'Extract records. Quotes: "straight", \u201ccurly\u201d, \\ {}'},
    {"role": "user", "content": "Meta agreed to invest about $14 billion in Scale AI."},
]
DECODING = {"temperature": 0.0, "seed": 0, "max_tokens": 64}


def reply(content: str, finish_reason: str = "stop") -> Reply:
    return Reply(content, usage=USAGE, finish_reason=finish_reason)


async def by_instructor(
    base_url: str, response_model: type[BaseModel], extra_body: dict[str, Any] | None, sdk: bool
) -> tuple[Any, int]:
    """The call through instructor: on the openai SDK's own create (`sdk`), or on dealx's
    poster through instructor's public `patch(create=...)` seam. Returns the parsed answer (or
    the exception) and the summed prompt tokens."""
    client = AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    mode = instructor.Mode.JSON_SCHEMA
    if sdk:
        patched = instructor.from_openai(client, mode=mode)
    else:
        create = instructor.patch(create=chat_completion_poster(client), mode=mode)
        patched = instructor.AsyncInstructor(
            client=client, create=create, mode=mode, provider=instructor.Provider.OPENAI
        )
    try:
        parsed, completion = await patched.chat.completions.create_with_completion(
            model="gpt-4o-mini",
            messages=MESSAGES,  # type: ignore[arg-type]
            response_model=response_model,
            max_retries=2,
            extra_body=extra_body,
            **DECODING,
        )
        return parsed, completion.usage.prompt_tokens
    except (InstructorRetryException, IncompleteOutputException) as exc:
        return exc, getattr(getattr(exc, "total_usage", None), "prompt_tokens", 0)
    finally:
        await client.close()


async def by_dealx(
    base_url: str, response_model: type[BaseModel], extra_body: dict[str, Any] | None
) -> tuple[Any, int]:
    client = AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    formats = ResponseFormats()
    try:
        answer = await ask_structured(
            chat_completion_poster(client),
            model="gpt-4o-mini",
            messages=MESSAGES,
            response_model=response_model,
            max_retries=2,
            response_format=formats.get(response_model, schema_sha256(response_model)),
            extra_body=extra_body,
            **DECODING,
        )
        return answer.parsed, answer.prompt_tokens
    except (InstructorRetryException, IncompleteOutputException) as exc:
        return exc, getattr(getattr(exc, "total_usage", None), "prompt_tokens", 0)
    finally:
        await client.close()


def converse(
    replies: list[Reply],
    response_model: type[BaseModel] = ArticleExtraction,
    extra_body: dict[str, Any] | None = None,
) -> tuple[list[tuple[Any, int]], list[list[RecordedRequest]]]:
    """The same call three times against the same scripted replies, on one server (so the
    requests differ in nothing but their path through the client): instructor on the SDK,
    instructor on dealx's poster, dealx's loop; each one's result and requests."""
    results, requests = [], []
    with FakeOpenAI(Script(replies * 3, default=reply(VALID))) as server:
        for call in (
            lambda: by_instructor(server.base_url, response_model, extra_body, sdk=True),
            lambda: by_instructor(server.base_url, response_model, extra_body, sdk=False),
            lambda: by_dealx(server.base_url, response_model, extra_body),
        ):
            before = len(server.chat_requests)
            results.append(asyncio.run(call()))
            requests.append(server.chat_requests[before:])
    return results, requests


def errors(failure: InstructorRetryException) -> list[str]:
    """The validation errors of each failed attempt (the completions differ in id and time)."""
    return [str(attempt.exception) for attempt in failure.failed_attempts or []]


def assert_same_conversation(requests: list[list[RecordedRequest]]) -> None:
    sdk, instructor_poster, dealx = requests
    assert [wire(r) for r in dealx] == [wire(r) for r in sdk]
    # Both on the poster: the very same bytes, key order included.
    assert [r.raw for r in dealx] == [r.raw for r in instructor_poster]


@pytest.mark.parametrize(
    "replies",
    [
        [reply(VALID)],
        [reply(INVALID), reply(VALID)],
        [reply(NOT_JSON), reply(INVALID), reply(VALID)],
    ],
    ids=["first-answer", "one-reask", "two-reasks"],
)
def test_a_conversation_that_ends_valid_is_instructors(replies: list[Reply]) -> None:
    results, requests = converse(replies)
    assert len(requests[2]) == len(replies)
    assert_same_conversation(requests)
    (sdk, sdk_tokens), _, (dealx, dealx_tokens) = results
    assert dealx == sdk and isinstance(dealx, ArticleExtraction)
    assert dealx_tokens == sdk_tokens == 100 * len(replies)
    if len(replies) > 1:  # the re-ask carries the invalid answer and the validation errors
        reask = requests[2][1].body["messages"]
        assert reask[-2] == {"role": "assistant", "content": replies[0].content}
        assert reask[-1]["content"].startswith("Correct your JSON ONLY RESPONSE")


def test_answers_that_never_validate_fail_as_in_instructor() -> None:
    results, requests = converse([reply(INVALID)] * 3)
    assert len(requests[2]) == 3
    assert_same_conversation(requests)
    (sdk, sdk_tokens), _, (dealx, dealx_tokens) = results
    assert isinstance(dealx, InstructorRetryException) and isinstance(sdk, type(dealx))
    assert dealx.n_attempts == sdk.n_attempts == 3
    assert errors(dealx) == errors(sdk) and len(errors(dealx)) == 3
    assert dealx_tokens == sdk_tokens == 300


def test_an_answer_cut_at_max_tokens_is_not_reasked() -> None:
    results, requests = converse([reply(VALID[:20], finish_reason="length")])
    assert len(requests[2]) == 1
    assert_same_conversation(requests)
    assert all(isinstance(result, IncompleteOutputException) for result, _ in results)


def test_a_constrained_question_with_the_local_extra_body_is_sent_as_instructor_sends_it() -> None:
    calls, _, _ = constrained.calls_for(
        'Meta agreed to invest $14.3 billion in Scale AI, "a bet" said Alexandr Wang.'
    )
    question = calls[0].response_model
    extra_body = {"response_format": {"type": "json_object", "schema": {"type": "object"}}}
    replies = [reply('{"nope": 1}'), reply(VALID), reply(VALID)]  # none is this question's
    results, requests = converse(replies, question, extra_body)
    assert_same_conversation(requests)
    assert requests[2][0].body["response_format"] == extra_body["response_format"]
    assert isinstance(results[2][0], InstructorRetryException)
    assert errors(results[2][0]) == errors(results[0][0])


def test_answers_are_validated_strictly_as_instructor_validates_them() -> None:
    """A year sent as a string is refused (and re-asked), in a live call and in a batch
    answer alike, since both read answers through validate_answer."""
    lax = '{"companies": [{"name": "Meta", "founded_year": "2004"}]}'
    results, requests = converse([reply(lax), reply(VALID)])
    assert_same_conversation(requests)
    assert len(requests[2]) == 2 and results[2][0] == results[0][0]
    message = {"role": "assistant", "content": lax}
    completion = ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        }
    )
    with pytest.raises(ValidationError, match="founded_year"):
        validate_answer(completion, ArticleExtraction)
    with pytest.raises(ValidationError, match="founded_year"):
        parse_answer(completion, ArticleExtraction)


@pytest.mark.parametrize(
    ("value", "count"),
    [
        (0, 0),
        (1234, 1234),
        (MAX_TOKENS, MAX_TOKENS),
        (MAX_TOKENS + 1, 0),
        (-1, 0),
        (True, 0),
        (1.0, 0),
        ("12", 0),
        (None, 0),
        ([3], 0),
    ],
)
def test_token_count_takes_only_a_count_of_tokens(value: object, count: int) -> None:
    assert token_count(value) == count
