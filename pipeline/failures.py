"""Turn whatever ended a document's extraction into a one-line reason, and spot run-fatal errors."""

from __future__ import annotations

import os

import openai
from instructor.core import IncompleteOutputException, InstructorRetryException
from pydantic import ValidationError

from pipeline.errors import AuthError, DealxError

SECRET_VARIABLES = ("OPENAI_API_KEY", "DEALX_API_KEY")


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
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


def fatal_for_run(exc: BaseException) -> AuthError | None:
    """An error that no other document can escape (bad key, exhausted quota), else None."""
    for cause in _causes(exc):
        if isinstance(cause, openai.AuthenticationError | openai.PermissionDeniedError):
            return AuthError(
                f"the model endpoint rejected the API key (HTTP {cause.status_code}); "
                "check OPENAI_API_KEY"
            )
        if isinstance(cause, openai.RateLimitError) and "insufficient_quota" in str(cause.body):
            return AuthError("the model endpoint reports insufficient quota (HTTP 429)")
    return None


def describe_failure(exc: BaseException) -> str:
    """A one-line, secret-free reason for errors.jsonl."""
    chain = _causes(exc)
    for cause in chain:
        if isinstance(cause, DealxError):
            reason = str(cause)
            break
        if isinstance(cause, IncompleteOutputException):
            reason = "output truncated at max_tokens (finish_reason=length); not parsed"
            break
        if isinstance(cause, openai.APIStatusError):
            body = _excerpt(cause.response.text)
            reason = f"HTTP {cause.status_code} from {cause.request.url}: {body}"
            break
        if isinstance(cause, openai.APITimeoutError):
            reason = f"timed out waiting for {cause.request.url}"
            break
        if isinstance(cause, openai.APIConnectionError):
            reason = (
                f"cannot connect to {cause.request.url}: {_excerpt(str(cause.__cause__ or cause))}"
            )
            break
    else:
        retry = next((c for c in chain if isinstance(c, InstructorRetryException)), None)
        validation = next((c for c in chain if isinstance(c, ValidationError | ValueError)), None)
        if retry is not None:
            detail = _excerpt(str(validation or retry))
            reason = f"invalid response after {retry.n_attempts} attempt(s): {detail}"
        else:
            reason = f"{type(exc).__name__}: {_excerpt(str(exc))}"
    return redact(reason)
