"""Turn whatever ended a document's extraction into a one-line reason, and spot run-fatal errors."""

from __future__ import annotations

import os
import re
from typing import Any

import openai
from instructor.core import IncompleteOutputException, InstructorRetryException
from pydantic import ValidationError

from pipeline.extraction.request import strip_credentials
from schemas.errors import AuthError, ConfigError, DealxError, ModelServerError

SECRET_VARIABLES = ("OPENAI_API_KEY", "DEALX_API_KEY")
# pydantic appends a documentation link to every error; it is noise in a one-line reason.
_PYDANTIC_URL = re.compile(r"\s*For further information visit https://errors\.pydantic\.dev\S*")


def redact(text: str) -> str:
    """Remove the values of secret environment variables from a message."""
    for name in SECRET_VARIABLES:
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _excerpt(text: str, limit: int = 300) -> str:
    # Redacted before it is cut: a secret cut in half would no longer match, and half leak.
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def fatal_for_run(exc: BaseException) -> DealxError | None:
    """An error that no other document can escape (bad key, exhausted quota, a model server
    that will not start), else None."""
    for cause in _causes(exc):
        if isinstance(cause, ConfigError | ModelServerError):
            return cause
        if isinstance(cause, openai.AuthenticationError | openai.PermissionDeniedError):
            return AuthError(
                f"the model endpoint rejected the API key (HTTP {cause.status_code}); "
                "check OPENAI_API_KEY"
            )
        if isinstance(cause, openai.RateLimitError) and "insufficient_quota" in str(cause.body):
            return AuthError("the model endpoint reports insufficient quota (HTTP 429)")
    return None


def _connection_problem(chain: list[BaseException]) -> str | None:
    """What broke a connection, when an OSError other than a timeout did. Checked before
    timeouts: the aiohttp transport reports a refused, reset or unresolvable connection as
    httpx.ConnectTimeout."""
    error = next(
        (c for c in chain if isinstance(c, OSError) and not isinstance(c, TimeoutError)), None
    )
    if error is None:
        return None
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return "connection refused (is the server running?)"
    if any(isinstance(c, ConnectionResetError) for c in chain):
        return "connection reset by the server"
    return _excerpt(str(error))


def describe_failure(exc: BaseException) -> str:
    """A one-line, secret-free reason for errors.jsonl."""
    chain = _causes(exc)

    def first(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((cause for cause in chain if isinstance(cause, kind)), None)

    api_error = first((openai.APIConnectionError, openai.APIStatusError))
    # The request URL, without any user:password@ a base URL may carry.
    url = strip_credentials(str(api_error.request.url)) if api_error else "the model endpoint"
    if (known := first(DealxError)) is not None:
        reason = str(known)
    elif first(IncompleteOutputException) is not None:
        reason = (
            "output truncated at max_tokens (finish_reason=length); not parsed. "
            "Raise max_tokens (DEALX_MAX_TOKENS) if the article has many records"
        )
    elif (status := first(openai.APIStatusError)) is not None:
        reason = f"HTTP {status.status_code} from {url}: {_excerpt(status.response.text)}"
    elif (problem := _connection_problem(chain)) is not None:
        reason = f"cannot connect to {url}: {problem}"
    elif first(openai.APITimeoutError) is not None:
        reason = f"timed out waiting for {url}"
    elif (connection := first(openai.APIConnectionError)) is not None:
        reason = f"cannot connect to {url}: {_excerpt(str(connection.__cause__ or connection))}"
    elif (retry := first(InstructorRetryException)) is not None:
        detail = _PYDANTIC_URL.sub("", str(first((ValidationError, ValueError)) or retry))
        reason = f"invalid response after {retry.n_attempts} attempt(s): {_excerpt(detail)}"
    else:
        reason = f"{type(exc).__name__}: {_excerpt(str(exc))}"
    return redact(reason)
