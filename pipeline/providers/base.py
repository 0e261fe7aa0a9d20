"""The provider seam: what dealx needs from a model endpoint, whoever serves it.

A provider says how to reach its server (and starts it when dealx runs it), how constrained
decoding is asked for (the extra request body for a response model), what the endpoint can
take (capabilities) and what it costs. Every provider speaks the OpenAI chat-completions API,
so they share one client: AsyncOpenAI with dealx's retrying transport, asked for structured
answers by pipeline.providers.structured.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx
import instructor
from openai import NOT_GIVEN, AsyncOpenAI, RequestOptions
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from pipeline.pricing import Price
from pipeline.providers.transport import RetryingTransport
from schemas.errors import ConfigError, DealxError

if TYPE_CHECKING:  # settings resolve their default strategy through the providers
    from pipeline.settings import Settings, Strategy


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
    # Known list prices by model name (pipeline.pricing); `[tool.dealx.prices]` overrides them.
    prices: ClassVar[dict[str, Price]] = {}
    # instructor's mode is part of every cache key; all built-in providers use JSON_SCHEMA and
    # put the schema where their server reads it through `extra_body`.
    mode: ClassVar[instructor.Mode] = instructor.Mode.JSON_SCHEMA
    default_base_url: ClassVar[str | None] = None
    capabilities: Capabilities = Capabilities()

    def __init__(self, settings: Settings, model: str) -> None:
        self.settings = settings
        self.model = model
        self._client: AsyncOpenAI | None = None
        self._create: Callable[..., Awaitable[ChatCompletion]] | None = None
        self._lock = asyncio.Lock()

    # -- what subclasses define -----------------------------------------------------------

    @abstractmethod
    def extra_body(self, response_model: type[BaseModel]) -> dict[str, Any]:
        """Extra request body fields that ask the server to constrain decoding to the response
        model's schema; they are sent as they are and are part of the cache key."""

    def check(self) -> None:
        """Fail early (ConfigError) on settings that cannot work; called by `resolve`, before
        any document, with nothing started."""
        base_url = self.settings.base_url
        if base_url and urlsplit(base_url).password is not None:
            raise ConfigError(
                "base_url: credentials in the URL are not sent; put the key in OPENAI_API_KEY"
            )
        # The client appends /chat/completions to the URL's path, so a query or fragment would
        # send every request to the bare path; the query is not echoed, it may hold a key.
        if base_url and ("?" in base_url or "#" in base_url):
            raise ConfigError(
                "base_url: a query string (?...) or fragment (#...) cannot be sent; give the "
                "server's path only, e.g. http://host:8000/v1, and the key in OPENAI_API_KEY"
            )

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
    def price_per_mtok(cls, model: str) -> Price | None:
        """The known list price of a model (USD per million tokens), else None."""
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

    async def client(self) -> AsyncOpenAI:
        """The openai client, created (and the server started) once."""
        async with self._lock:
            if self._client is None:
                # Blocking on purpose: every document waits for this anyway, and starting a
                # local server on the main thread keeps Ctrl-C and its death signal simple.
                self._client = self._connect()
            return self._client

    async def chat_create(self) -> Callable[..., Awaitable[ChatCompletion]]:
        """`chat.completions.create` of this provider's client, as dealx posts it (see
        `chat_completion_poster`)."""
        if self._create is None:
            self._create = chat_completion_poster(await self.client())
        return self._create

    def _connect(self) -> AsyncOpenAI:
        base_url = self.start()
        timeout = self.settings.timeout_s
        transport = RetryingTransport(
            attempts=self.settings.transport_attempts, max_wait_s=self.settings.transport_max_wait_s
        )
        return AsyncOpenAI(
            base_url=base_url,
            api_key=self.api_key(),
            max_retries=0,  # transport retries live in RetryingTransport only
            timeout=timeout,
            http_client=httpx.AsyncClient(transport=transport, timeout=timeout),
        )

    async def close(self) -> None:
        """Close the client and stop what the provider started, whatever state the run is in."""
        try:
            if self._client is not None:
                await self._client.close()
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


def chat_completion_poster(client: AsyncOpenAI) -> Callable[..., Awaitable[ChatCompletion]]:
    """The `create` dealx calls: POST /chat/completions through the openai client (its
    auth, timeouts, error types and response parsing), sending what `chat.completions.create`
    sends for the same arguments (tests/test_providers.py compares the two on the wire).

    It skips the SDK's TypedDict transform of the parameters, which tries every member of the
    message-type union on every message and changes nothing in a JSON request: about 0.9 ms
    of CPU per call at 50 concurrent requests. Streaming is not supported.
    """

    async def create(
        *,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        extra_body: Mapping[str, object] | None = None,
        timeout: Any = NOT_GIVEN,
        stream: bool = False,
        **params: Any,
    ) -> ChatCompletion:
        if stream:
            raise ValueError(
                "stream=True: dealx's chat-completion poster does not stream; "
                "use the openai client's chat.completions.create for streaming"
            )
        # The options chat.completions.create builds (make_request_options), from the public
        # RequestOptions keys.
        options: RequestOptions = {"security": {"bearer_auth": True}}
        if extra_headers is not None:
            options["headers"] = extra_headers
        if extra_body is not None:
            options["extra_json"] = extra_body
        if extra_query is not None:
            options["params"] = extra_query
        if timeout is not NOT_GIVEN:
            options["timeout"] = timeout
        return await client.post(
            "/chat/completions", cast_to=ChatCompletion, body=params, options=options
        )

    return create
