"""Ask a chat-completions endpoint for an answer that validates against a response model, and
re-ask on an invalid one: instructor's JSON_SCHEMA conversation, run by dealx.

instructor 1.17 walks every class of the response model for async validators five times per
call, with no public switch; for ArticleExtraction that walk costs more CPU than the HTTP call
itself. This loop holds the same conversation over the same `create` (the provider's poster):
the request instructor's JSON_SCHEMA mode builds (the messages, the decoding parameters, a
`response_format` with the model's JSON Schema, the extra body), the same strict validation of
the answer's text, the same re-ask messages, the same number of attempts, and instructor's own
exception types when the answers never validate or are cut at max_tokens.
tests/test_structured.py sends the same calls through instructor and through this loop and
compares what the server received, request by request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from instructor.core import FailedAttempt, IncompleteOutputException, InstructorRetryException
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from pydantic import BaseModel, ValidationError

from pipeline.providers.base import json_schema_response_format
from schemas.errors import DocumentError

Create = Callable[..., Awaitable[ChatCompletion]]
# What instructor's JSON_SCHEMA mode tells the model after an answer that did not validate.
REASK_PREFIX = "Correct your JSON ONLY RESPONSE, based on the following errors:\n"


# Response formats kept, by schema hash: one for a plain run, one per recent question model of
# a constrained run.
KEPT_FORMATS = 256


class ResponseFormats:
    """The `response_format` instructor's JSON_SCHEMA mode sends for a response model, built
    once per schema (among the most recent) instead of once per call."""

    def __init__(self) -> None:
        self._formats: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, response_model: type[BaseModel], schema_sha256: str) -> dict[str, Any]:
        """The response format of `response_model`, whose schema hashes to `schema_sha256`."""
        found = self._formats.get(schema_sha256)
        if found is None:
            found = self._formats[schema_sha256] = json_schema_response_format(response_model)
            if len(self._formats) > KEPT_FORMATS:
                self._formats.popitem(last=False)
        else:
            self._formats.move_to_end(schema_sha256)
        return found


class NoChoices(ValueError):
    """A completion without choices: nothing to validate (re-asked like an invalid answer)."""


class NotACompletion(DocumentError):
    """A 200 answer whose body is no chat completion (a proxy's page, an empty body, a JSON
    array): the document fails with an excerpt of what came back."""


# More tokens than any call is billed; SQLite's integers end at 2**63.
MAX_TOKENS = 2**53


def token_count(value: object) -> int:
    """A usage count as the server reported it, or 0 when it is no count of tokens (text, a
    fraction, negative, past MAX_TOKENS): an odd usage must neither fail a valid answer nor
    subtract from the run's spend."""
    valid = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKENS
    return value if valid else 0


@dataclass(frozen=True)
class StructuredAnswer:
    """A validated answer, the completion it came from, and the tokens of every attempt."""

    parsed: BaseModel
    completion: ChatCompletion
    attempts: int
    prompt_tokens: int
    completion_tokens: int


@dataclass
class _Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: ChatCompletion) -> None:
        usage = completion.usage
        self.prompt_tokens += token_count(getattr(usage, "prompt_tokens", None))
        self.completion_tokens += token_count(getattr(usage, "completion_tokens", None))

    def as_completion_usage(self) -> CompletionUsage:
        return CompletionUsage(
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            total_tokens=self.prompt_tokens + self.completion_tokens,
        )


def validate_answer(completion: ChatCompletion, response_model: type[BaseModel]) -> BaseModel:
    """A completion's answer in its response model, read as instructor's JSON_SCHEMA mode
    reads it: the message content validated strictly as JSON. Raises IncompleteOutputException
    for an answer cut at max_tokens, ValidationError for one that does not validate and
    NoChoices for a completion without an answer."""
    choice = _first_choice(completion)
    if choice is None:
        raise NoChoices("the completion has no choice with a message")
    if choice.finish_reason == "length":
        raise IncompleteOutputException(last_completion=completion)
    return response_model.model_validate_json(choice.message.content or "", strict=True)


def _first_choice(completion: ChatCompletion) -> Choice | None:
    """The completion's first choice when it has a message; openai's client builds the
    completion without validating it, so a server's `"choices": "x"` or `"message": null`
    arrives as it was sent."""
    choices = completion.choices
    choice = choices[0] if isinstance(choices, list) and choices else None
    if isinstance(choice, Choice) and isinstance(choice.message, ChatCompletionMessage):
        return choice
    return None


def _reask_messages(completion: ChatCompletion, error: Exception) -> list[dict[str, Any]]:
    """The assistant's invalid answer as instructor dumps it, and the correction request."""
    choice = _first_choice(completion)
    message = choice.message if choice is not None else None
    assistant: dict[str, Any] = {
        "role": message.role if message else "assistant",
        "content": (message.content if message else None) or "",
    }
    if message is not None and message.tool_calls is not None:
        assistant["tool_calls"] = message.model_dump()["tool_calls"]
    return [assistant, {"role": "user", "content": f"{REASK_PREFIX}{error}"}]


async def ask_structured(
    create: Create,
    *,
    model: str,
    messages: list[dict[str, Any]],
    response_model: type[BaseModel],
    max_retries: int,
    response_format: dict[str, Any] | None = None,
    **params: Any,
) -> StructuredAnswer:
    """Ask until an answer validates, at most `max_retries` re-asks after the first ask.

    `params` are the other chat-completions arguments (decoding, `extra_body`), sent as given;
    `response_format` defaults to the model's JSON Schema as instructor sends it (pass it to
    reuse one built for many calls). Raises instructor's IncompleteOutputException at once for
    an answer cut at max_tokens, and its InstructorRetryException (with the attempts and their
    summed usage) when no answer validates; transport and API errors pass through.
    """
    # In the order instructor's JSON_SCHEMA mode builds it, so the bodies match byte for byte.
    request: dict[str, Any] = {
        "messages": list(messages),
        "model": model,
        **params,
        "response_format": response_format or json_schema_response_format(response_model),
    }
    usage = _Usage()
    attempts = max_retries + 1
    failed: list[FailedAttempt] = []
    completion: ChatCompletion | None = None
    for attempt in range(1, attempts + 1):
        completion = await create(**request)
        if not isinstance(completion, ChatCompletion):
            # openai's client hands back the text, or the JSON value, of a body it cannot read.
            raise NotACompletion(
                f"the model endpoint answered without a chat completion: {str(completion)[:200]!r}"
            )
        usage.add(completion)
        try:
            parsed = validate_answer(completion, response_model)
        except (ValidationError, NoChoices) as error:
            failed.append(FailedAttempt(attempt, error, completion))
            if attempt < attempts:
                request["messages"].extend(_reask_messages(completion, error))
            continue
        return StructuredAnswer(
            parsed, completion, attempt, usage.prompt_tokens, usage.completion_tokens
        )
    last_error = failed[-1].exception
    raise InstructorRetryException(
        str(last_error),
        last_completion=completion,
        n_attempts=attempts,
        total_usage=usage.as_completion_usage(),
        messages=request["messages"],
        create_kwargs=request,
        failed_attempts=failed,
    ) from last_error
