"""Model endpoints named `provider/model`: `openai/<model>` (any OpenAI-compatible server with
--base-url) and `local/smollm2-135m` (the embedded llama.cpp server). Both go through the same
AsyncOpenAI + instructor code path; only how the schema reaches the server differs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import instructor
from instructor.v2.validation import async_validators
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from pipeline.providers.llama_server import LlamaServer, gguf_path
from pipeline.providers.transport import RetryingTransport
from pipeline.settings import Settings
from schemas.errors import ConfigError

# instructor walks the whole response model for async validators on every call (~10 ms of CPU
# for ours, twice per call). The answer depends only on the class, so it is checked once per
# class; a model that fails the check still raises every time (failures are not cached).
_reject_async_validators = async_validators.reject_async_validators
async_validators.reject_async_validators = functools.cache(_reject_async_validators)

# dealx reports every failure itself (errors.jsonl, one line each); instructor's own error logs
# would print each failed attempt's full validation dump to stderr a second time.
logging.getLogger("instructor").setLevel(logging.CRITICAL)

PROVIDERS = ("openai", "local")
# Known list prices in USD per million tokens (input, output), for the manifest's cost estimate.
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "openai/gpt-4o-mini": (0.15, 0.60),
    "openai/gpt-4o": (2.50, 10.00),
    "openai/gpt-4.1-mini": (0.40, 1.60),
    "openai/gpt-4.1": (2.00, 8.00),
    "local/smollm2-135m": (0.0, 0.0),
}


def split_model(spec: str) -> tuple[str, str]:
    """'openai/gpt-4o-mini' -> ('openai', 'gpt-4o-mini'); an unknown provider is a ConfigError."""
    provider, _, model = spec.partition("/")
    if provider not in PROVIDERS or not model:
        raise ConfigError(
            f"model: {spec!r} is not one of {', '.join(p + '/<model>' for p in PROVIDERS)}"
        )
    return provider, model


def llama_cpp_extra_body(response_model: type[BaseModel]) -> dict[str, Any]:
    """llama.cpp accepts the schema only inside a json_object response_format (json_schema is
    rejected), and only a schema that reaches the server constrains decoding."""
    return {
        "response_format": {"type": "json_object", "schema": response_model.model_json_schema()}
    }


@dataclass
class Endpoint:
    """A model endpoint; the client (and the local server) start only on the first cache miss."""

    settings: Settings
    provider: str
    model: str
    mode: instructor.Mode = instructor.Mode.JSON_SCHEMA
    max_concurrency: int | None = None
    _server: LlamaServer | None = field(default=None, init=False)
    _client: instructor.AsyncInstructor | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    @property
    def cache_base_url(self) -> str | None:
        """The endpoint identity in cache keys: the configured URL, never the local server's
        random port (the local model is identified by provider and model name instead)."""
        return None if self.provider == "local" else self.settings.base_url

    def extra_body(self, response_model: type[BaseModel]) -> dict[str, Any]:
        """Extra request body fields; they are part of the cache key."""
        return llama_cpp_extra_body(response_model) if self.provider == "local" else {}

    async def client(self) -> instructor.AsyncInstructor:
        """The instructor client, created (and the local server started) once."""
        async with self._lock:
            if self._client is None:
                # Blocking on purpose: every document waits for this anyway, and starting the
                # local server on the main thread keeps Ctrl-C and its death signal simple.
                self._client = self._connect()
            return self._client

    def _connect(self) -> instructor.AsyncInstructor:
        if self.provider == "local":
            self._server = LlamaServer(self.model, self.settings.context_tokens)
            self._server.start()
            base_url, api_key = self._server.base_url, "local-no-key"
        else:
            base_url, api_key = self.settings.base_url, openai_api_key(self.settings)
        transport = RetryingTransport(
            attempts=self.settings.transport_attempts, max_wait_s=self.settings.transport_max_wait_s
        )
        openai_client = AsyncOpenAI(
            base_url=base_url,
            api_key=api_key,
            max_retries=0,  # transport retries live in RetryingTransport only
            timeout=self.settings.timeout_s,
            http_client=httpx.AsyncClient(transport=transport, timeout=self.settings.timeout_s),
        )
        create = instructor.patch(create=chat_completion_poster(openai_client), mode=self.mode)
        return instructor.AsyncInstructor(
            client=openai_client, create=create, mode=self.mode, provider=instructor.Provider.OPENAI
        )

    def server_died(self) -> ConfigError | None:
        """For the local model: the run-fatal error when its server is gone (no later request
        can be answered), else None."""
        return self._server.died_error() if self._server is not None else None

    async def close(self) -> None:
        """Close the client and stop the local server, whatever state the run ended in."""
        if self._client is not None:
            await self._client.client.close()  # type: ignore[union-attr]
        if self._server is not None:
            self._server.stop()


def chat_completion_poster(client: AsyncOpenAI) -> Callable[..., Awaitable[ChatCompletion]]:
    """The `create` instructor calls: POST /chat/completions through the openai client (its
    auth, timeouts, error types and response parsing) with the parameters as instructor built
    them. The SDK's own `chat.completions.create` first runs the whole request through its
    TypedDict transforms, trying every member of the message-type union on every message: that
    changes nothing in a JSON request and was the largest CPU cost per call (~0.8 ms)."""

    async def create(*, extra_body: dict[str, Any] | None = None, **params: Any) -> ChatCompletion:
        body = {**params, **(extra_body or {})}
        return await client.post("/chat/completions", cast_to=ChatCompletion, body=body)

    return create


def resolve_endpoint(settings: Settings) -> Endpoint:
    """Check the model spec up front (no server started, no key needed yet)."""
    provider, model = split_model(settings.model)
    if provider == "local":
        if settings.base_url:
            raise ConfigError("base_url: the local model runs its own server; drop --base-url")
        if settings.cache_mode != "replay":  # replaying needs no model installed
            gguf_path(model)
        # llama.cpp's server answers one request at a time; more would only queue there.
        return Endpoint(settings, provider, model, max_concurrency=1)
    if settings.base_url and urlsplit(settings.base_url).password is not None:
        raise ConfigError(
            "base_url: credentials in the URL are not sent; put the key in OPENAI_API_KEY"
        )
    if settings.cache_mode != "replay":
        openai_api_key(settings)  # fail before any document, not once per document
    return Endpoint(settings, provider, model)


def openai_api_key(settings: Settings) -> str:
    """The key for an openai/ model; a server given by --base-url may need none."""
    key = os.environ.get("OPENAI_API_KEY")
    if key:
        return key
    if settings.base_url is None:
        raise ConfigError(
            "OPENAI_API_KEY is not set: export OPENAI_API_KEY=sk-... , or point "
            "--base-url at an OpenAI-compatible server, or use --model local/smollm2-135m"
        )
    return "no-key"


def price_per_mtok(spec: str) -> tuple[float, float] | None:
    """Known (input, output) USD prices per million tokens for a model spec, else None."""
    return PRICES_PER_MTOK.get(spec)
