"""Transport retries: the one place where 429, 5xx, timeouts and connection errors are retried.

It sits under the openai client (whose own retries are off) and under instructor (whose retry loop
only re-asks on validation errors), so every HTTP call, first ask or re-ask, gets the same policy:
exponential backoff with jitter, `Retry-After` honored, capped in attempts and in total time.
"""

from __future__ import annotations

import contextvars
import email.utils
import time
from dataclasses import dataclass

import httpx
from httpx_aiohttp import AiohttpTransport
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass
class CallCounters:
    """Per-document counts, reached through a context variable from inside the transport."""

    http_calls: int = 0
    transport_retries: int = 0

    @property
    def model_calls(self) -> int:
        """Asks of the model (the first and each re-ask), not counting transport retries."""
        return self.http_calls - self.transport_retries


current_counters: contextvars.ContextVar[CallCounters | None] = contextvars.ContextVar(
    "dealx_call_counters", default=None
)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds a server asks us to wait: `retry-after-ms` (as Azure OpenAI sends), else
    `Retry-After` as seconds or an HTTP date; None when there is none we can read, and then
    our own backoff applies (an odd header must not fail the call)."""
    value = response.headers.get("retry-after")
    for seconds in (
        _number(response.headers.get("retry-after-ms"), 0.001),
        _number(value, 1.0),
        _seconds_until(value),
    ):
        if seconds is not None:
            return seconds if seconds > 0 else 0.0  # also maps NaN to 0
    return None


def _number(value: str | None, scale: float) -> float | None:
    try:
        return None if value is None else float(value) * scale
    except ValueError:
        return None


def _seconds_until(http_date: str | None) -> float | None:
    try:
        moment = email.utils.parsedate_to_datetime(http_date)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return moment.timestamp() - time.time()


def _is_retryable_response(response: httpx.Response) -> bool:
    if response.status_code not in RETRY_STATUSES:
        return False
    # A 429 for an exhausted quota never succeeds by waiting.
    return not (response.status_code == 429 and b"insufficient_quota" in response.content)


def _count_retry(state: RetryCallState) -> None:
    counters = current_counters.get()
    if counters is not None:
        counters.transport_retries += 1


class RetryingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that retries transient failures with tenacity."""

    def __init__(
        self,
        attempts: int = 5,
        max_wait_s: float = 60.0,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._inner = inner or AiohttpTransport()
        self._attempts = attempts
        self._max_wait_s = max_wait_s
        self._backoff = wait_exponential_jitter(
            multiplier=initial_backoff_s, max=max_backoff_s, jitter=initial_backoff_s
        )
        # The policy is built once; each request runs on its own copy, because a tenacity
        # Retrying object keeps the state of the call it runs.
        self._policy = AsyncRetrying(
            stop=stop_after_attempt(attempts) | stop_after_delay(max_wait_s),
            wait=self._wait,
            retry=retry_if_exception_type(TRANSIENT_ERRORS)
            | retry_if_result(_is_retryable_response),
            before_sleep=_count_retry,
            # When attempts run out on an error status, hand the last response to the client,
            # so the error names the status and body; a transport exception is re-raised.
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        backoff = self._backoff(state)
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            asked = retry_after_seconds(outcome.result())
            if asked is not None:
                return min(max(asked, 0.0), self._max_wait_s)
        return backoff

    async def _send(self, request: httpx.Request) -> httpx.Response:
        counters = current_counters.get()
        if counters is not None:
            counters.http_calls += 1
        response = await self._inner.handle_async_request(request)
        if response.status_code >= 400:
            # Read the body now: a retried response must be closed, a final one is returned whole.
            await response.aread()
            await response.aclose()
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._policy.copy()(self._send, request)

    async def aclose(self) -> None:
        await self._inner.aclose()
