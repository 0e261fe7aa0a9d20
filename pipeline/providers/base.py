"""The provider seam: what dealx needs from a model endpoint, whoever serves it.

A provider says how to reach its server (and starts it when dealx runs it), how constrained
decoding is asked for (the extra request body for a response model), what the endpoint can
take (capabilities) and what it costs. Every provider speaks the OpenAI chat-completions API,
so they share one client: AsyncOpenAI under instructor, with dealx's retrying transport.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import instructor
from openai import AsyncOpenAI
from pydantic import BaseModel

from pipeline.providers.transport import RetryingTransport, current_counters
from schemas.errors import DealxError

if TYPE_CHECKING:  # settings resolve their default strategy through the providers
    from pipeline.settings import Settings, Strategy

# instructor logs each failed attempt and the final failure at ERROR on this logger; with no
# logging configured, Python prints that to stderr, a second report of what dealx writes to
# errors.jsonl. The filter below drops only records logged inside a dealx model call (the
# call's counters are set in a context variable then); instructor's logging for any other
# code in the process, and any logging configuration, are left as they are.
INSTRUCTOR_RETRY_LOGGER = "instructor.v2.retry"


class _OutsideDealxCalls(logging.Filter):
    """Passes a record unless it was logged inside a dealx model call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return current_counters.get() is None


def _quiet_instructor_in_dealx_calls() -> None:
    logger = logging.getLogger(INSTRUCTOR_RETRY_LOGGER)
    if not any(isinstance(f, _OutsideDealxCalls) for f in logger.filters):
        logger.addFilter(_OutsideDealxCalls())


@dataclass(frozen=True)
class Capabilities:
    """What an endpoint can do. `json_schema`: decoding is constrained to the response schema
    at the server (else the schema only guides the model and answers are validated after).
    `max_concurrency`: requests the endpoint serves at once (None: as many as dealx sends)."""

    json_schema: bool = True
    max_concurrency: int | None = None


class Provider(ABC):
    """A model endpoint named `<name>/<model>`. Subclasses set `name`, `capabilities` and
    `extra_body`; they may start a server in `start` and check settings in `check`, and set
    their default strategy and prices.

    The client (and a server the provider runs) starts only on the first cache miss, so a
    fully cached run starts nothing.
    """

    name: ClassVar[str]
    # The strategy a run uses when none is set: constrained suits a small model that cannot
    # write records on its own.
    default_strategy: ClassVar[Strategy] = "plain"
    # Known list prices in USD per million tokens (input, output) by model name.
    prices: ClassVar[dict[str, tuple[float, float]]] = {}
    # instructor's mode is part of every cache key; all built-in providers use JSON_SCHEMA and
    # put the schema where their server reads it through `extra_body`.
    mode: ClassVar[instructor.Mode] = instructor.Mode.JSON_SCHEMA
    default_base_url: ClassVar[str | None] = None
    capabilities: Capabilities = Capabilities()

    def __init__(self, settings: Settings, model: str) -> None:
        self.settings = settings
        self.model = model
        self._client: instructor.AsyncInstructor | None = None
        self._lock = asyncio.Lock()

    # -- what subclasses define -----------------------------------------------------------

    @abstractmethod
    def extra_body(self, response_model: type[BaseModel]) -> dict[str, Any]:
        """Extra request body fields that ask the server to constrain decoding to the response
        model's schema; they are sent as they are and are part of the cache key."""

    def check(self) -> None:  # noqa: B027 - an optional hook
        """Fail early (ConfigError) on settings that cannot work; called by `resolve`, before
        any document, with nothing started."""

    def start(self) -> str | None:
        """Start what the provider runs itself and return its base URL; by default the
        configured one, else the provider's default (None: the openai SDK's own)."""
        return self.base_url

    def api_key(self) -> str:
        """The key sent as the bearer token; servers that need none still get a placeholder,
        since the openai client requires one."""
        return "no-key"

    def server_died(self) -> DealxError | None:
        """The run-fatal error when a server the provider runs is gone, else None."""
        return None

    def stop(self) -> None:  # noqa: B027 - an optional hook
        """Stop what `start` started."""

    @classmethod
    def price_per_mtok(cls, model: str) -> tuple[float, float] | None:
        """Known (input, output) USD prices per million tokens for a model, else None."""
        return cls.prices.get(model)

    # -- shared ---------------------------------------------------------------------------

    @property
    def provider(self) -> str:
        """The provider's name, as in cache keys and manifests."""
        return self.name

    @property
    def spec(self) -> str:
        """`<provider>/<model>`, as the user wrote it."""
        return f"{self.name}/{self.model}"

    @property
    def base_url(self) -> str | None:
        """The endpoint: --base-url when given, else the provider's default."""
        return self.settings.base_url or self.default_base_url

    @property
    def cache_base_url(self) -> str | None:
        """The endpoint's identity in cache keys (never a port chosen at run time)."""
        return self.base_url

    @property
    def max_concurrency(self) -> int | None:
        """Requests the endpoint serves at once (None: no limit of its own)."""
        return self.capabilities.max_concurrency

    async def client(self) -> instructor.AsyncInstructor:
        """The instructor client, created (and the server started) once."""
        async with self._lock:
            if self._client is None:
                # Blocking on purpose: every document waits for this anyway, and starting a
                # local server on the main thread keeps Ctrl-C and its death signal simple.
                self._client = self._connect()
            return self._client

    def _connect(self) -> instructor.AsyncInstructor:
        _quiet_instructor_in_dealx_calls()
        base_url = self.start()
        timeout = self.settings.timeout_s
        transport = RetryingTransport(
            attempts=self.settings.transport_attempts, max_wait_s=self.settings.transport_max_wait_s
        )
        openai_client = AsyncOpenAI(
            base_url=base_url,
            api_key=self.api_key(),
            max_retries=0,  # transport retries live in RetryingTransport only
            timeout=timeout,
            http_client=httpx.AsyncClient(transport=transport, timeout=timeout),
        )
        create = instructor.patch(create=openai_client.chat.completions.create, mode=self.mode)
        return instructor.AsyncInstructor(
            client=openai_client, create=create, mode=self.mode, provider=instructor.Provider.OPENAI
        )

    async def close(self) -> None:
        """Close the client and stop what the provider started, whatever state the run is in."""
        try:
            if self._client is not None:
                await self._client.client.close()  # type: ignore[union-attr]
        finally:
            self.stop()


def json_schema_response_format(
    response_model: type[BaseModel], schema: dict[str, Any] | None = None, strict: bool = False
) -> dict[str, Any]:
    """OpenAI's `response_format` for structured outputs, which Ollama and vLLM read too."""
    json_schema: dict[str, Any] = {
        "name": response_model.__name__,
        "schema": schema if schema is not None else response_model.model_json_schema(),
    }
    if strict:
        json_schema["strict"] = True
    return {"type": "json_schema", "json_schema": json_schema}
