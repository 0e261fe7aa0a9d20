"""The provider seam: the exact request each provider sends (checked at the fake server), the
registry, and a provider added from outside through the public seam."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from instructor.core import InstructorRetryException
from openai import AsyncOpenAI
from pydantic import BaseModel

from pipeline.extraction.documents import Document
from pipeline.extraction.extractor import DocStats, Extractor
from pipeline.extraction.prompts import load_prompt
from pipeline.extraction.response import ArticleExtraction
from pipeline.failures import fatal_for_run
from pipeline.pricing import Price
from pipeline.providers import (
    Capabilities,
    Provider,
    default_strategy,
    names,
    price_per_mtok,
    register,
    resolve,
    unregister,
)
from pipeline.providers.base import chat_completion_poster
from pipeline.providers.local import LocalProvider
from pipeline.providers.ollama import OllamaProvider
from pipeline.providers.openai import OpenAIProvider
from pipeline.providers.strict_schema import strict_json_schema
from pipeline.providers.vllm import VLLMProvider
from pipeline.settings import Settings
from schemas.errors import EXIT_USAGE, ConfigError, ModelServerError
from tests.fake_openai import EMPTY_EXTRACTION, FakeOpenAI, Hang, Reply, wire

TEXT = "Meta agreed to invest about $14 billion in Scale AI for a 49% stake."
ANSWER = json.dumps(
    {
        "companies": [{"name": "Meta", "evidence": [{"quote": "Meta agreed to invest"}]}],
        "people": [],
        "deals": [],
    }
)


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(Reply(EMPTY_EXTRACTION)) as fake:
        yield fake


def settings(model: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "model": model,
        "cache_mode": "off",
        "cache": tmp_path / "unused.sqlite",
        "strategy": "plain",
        "timeout_s": 5.0,
        **overrides,
    }
    return Settings(**values)


def extract(provider: Provider, run_settings: Settings, text: str = TEXT) -> Any:
    """One plain extraction through the extractor, as a run makes it."""
    extractor = Extractor(run_settings, provider, load_prompt("extract_v2"), None)

    async def run() -> Any:
        try:
            return await extractor.extract(Document("doc-1", text), DocStats())
        finally:
            await provider.close()

    return asyncio.run(run())


def sent_body(server: FakeOpenAI) -> dict[str, Any]:
    [request] = server.chat_requests
    return request.body


class FakeServerLocal(LocalProvider):
    """The local provider with the fake server in place of llama.cpp: what it sends is the
    local provider's own request."""

    def __init__(self, run_settings: Settings, model: str, base_url: str) -> None:
        super().__init__(run_settings, model)
        self._fake_url = base_url

    def start(self) -> str:
        return self._fake_url


def test_local_sends_the_schema_inside_a_json_object_response_format(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    local_settings = settings("local/smollm2-135m", tmp_path)
    provider = FakeServerLocal(local_settings, "smollm2-135m", server.base_url)
    extract(provider, provider.settings)
    body = sent_body(server)
    assert body["model"] == "smollm2-135m"
    assert body["response_format"] == {
        "type": "json_object",
        "schema": ArticleExtraction.model_json_schema(),
    }
    assert provider.max_concurrency == 1 and provider.cache_base_url is None


def test_openai_itself_gets_strict_structured_outputs(server: FakeOpenAI, tmp_path: Path) -> None:
    run_settings = settings("openai/gpt-4o-mini", tmp_path, base_url=server.base_url)
    provider = OpenAIProvider(run_settings, "gpt-4o-mini", strict=True)
    extract(provider, run_settings)
    body = sent_body(server)
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "ArticleExtraction",
            "schema": strict_json_schema(ArticleExtraction),
            "strict": True,
        },
    }


@pytest.mark.parametrize(
    ("base_url", "strict"),
    [(None, True), ("https://api.openai.com/v1", True), ("http://127.0.0.1:9/v1", False)],
)
def test_strict_exactly_for_openai_itself(
    base_url: str | None, strict: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    provider = resolve(settings("openai/gpt-4o-mini", tmp_path, base_url=base_url))
    assert isinstance(provider, OpenAIProvider) and provider.strict is strict
    assert ("response_format" in provider.extra_body(ArticleExtraction)) is strict


def test_openai_compatible_server_gets_instructors_json_schema(
    server: FakeOpenAI, tmp_path: Path
) -> None:
    provider = resolve(settings("openai/fake-model", tmp_path, base_url=server.base_url))
    extract(provider, provider.settings)
    body = sent_body(server)
    assert body["model"] == "fake-model"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "ArticleExtraction",
            "schema": ArticleExtraction.model_json_schema(),
        },
    }


@pytest.mark.parametrize(
    ("provider_class", "default_url"),
    [(OllamaProvider, "http://localhost:11434/v1"), (VLLMProvider, "http://localhost:8000/v1")],
)
def test_ollama_and_vllm_send_a_json_schema_response_format(
    provider_class: type[Provider], default_url: str, server: FakeOpenAI, tmp_path: Path
) -> None:
    spec = f"{provider_class.name}/qwen3:4b"
    assert resolve(settings(spec, tmp_path)).base_url == default_url
    provider = resolve(settings(spec, tmp_path, base_url=server.base_url))
    assert isinstance(provider, provider_class)
    extract(provider, provider.settings)
    body = sent_body(server)
    assert body["model"] == "qwen3:4b"
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "ArticleExtraction",
            "schema": ArticleExtraction.model_json_schema(),
        },
    }
    assert "strict" not in body["response_format"]["json_schema"]
    assert provider.cache_base_url == server.base_url


def test_registry_names_defaults_and_errors(tmp_path: Path) -> None:
    assert {"local", "openai", "ollama", "vllm"} <= set(names())
    assert default_strategy("local/smollm2-135m") == "constrained"
    assert default_strategy("ollama/llama3.2") == "plain"
    assert Settings(model="local/smollm2-135m").strategy == "constrained"
    assert Settings(model="vllm/x").strategy == "plain"
    assert price_per_mtok("openai/gpt-4o-mini") == Price(0.15, 0.60, 0.5)
    assert price_per_mtok("local/smollm2-135m") == Price(0.0, 0.0)
    assert price_per_mtok("ollama/llama3.2") is None
    with pytest.raises(ConfigError, match=r"ollama/<model>.*vllm/<model>"):
        resolve(settings("nosuch/model", tmp_path))
    with pytest.raises(ConfigError, match="credentials in the URL"):
        resolve(settings("vllm/x", tmp_path, base_url="http://user:secret@gpu-box:8000/v1"))


class EchoProvider(Provider):
    """A provider defined outside dealx: its own constrained-decoding field, a concurrency
    limit, its server given by the test."""

    name = "echo"
    capabilities = Capabilities(json_schema=True, max_concurrency=3)

    def extra_body(self, response_model: type[BaseModel]) -> dict[str, Any]:
        return {"guided_json": response_model.model_json_schema(), "echo": True}


def test_a_provider_registered_from_outside_runs_an_extraction(tmp_path: Path) -> None:
    with FakeOpenAI(Reply(ANSWER)) as server:
        register("echo", EchoProvider)
        try:
            run_settings = settings("echo/tiny", tmp_path, base_url=server.base_url)
            provider = resolve(run_settings)
            assert isinstance(provider, EchoProvider) and provider.max_concurrency == 3
            extracted = extract(provider, run_settings)
        finally:
            unregister("echo")
        body = sent_body(server)
    assert body["model"] == "tiny" and body["echo"] is True
    assert body["guided_json"] == ArticleExtraction.model_json_schema()
    assert [company.name for company in extracted.record.companies] == ["Meta"]
    assert "echo" not in names()


def test_a_dead_model_server_stops_the_run_with_exit_2() -> None:
    error = ModelServerError("model: llama.cpp server was killed by SIGSEGV during the run")
    assert fatal_for_run(RuntimeError("request failed")) is None
    wrapped = RuntimeError("request failed")
    wrapped.__cause__ = error
    assert fatal_for_run(wrapped) is error and error.exit_code == EXIT_USAGE


def test_a_failing_call_logs_nothing_and_leaves_logging_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The library leaves logging to the program that uses it: answers that never validate
    fail the document (reported in errors.jsonl by a run) without a log record."""
    handlers_before = list(logging.getLogger().handlers)
    with FakeOpenAI(Reply('{"companies": "none"}')) as server:
        run_settings = settings("openai/fake-model", tmp_path, base_url=server.base_url)
        with caplog.at_level(logging.DEBUG), pytest.raises(InstructorRetryException):
            extract(resolve(run_settings), run_settings)
        assert len(server.chat_requests) == run_settings.max_retries + 1
    # (the openai SDK and httpx log their requests at DEBUG and INFO, as they always do)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r for r in caplog.records if r.name.startswith(("instructor", "pipeline"))] == []
    assert logging.getLogger().handlers == handlers_before
    assert logging.getLogger("instructor").level == logging.NOTSET


def test_the_poster_sends_what_chat_completions_create_sends(server: FakeOpenAI) -> None:
    call: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "response_format": {"type": "json_object"},
        "temperature": 0.0,
        "seed": 0,
        "max_tokens": 64,
        "extra_headers": {"X-Dealx-Test": "yes"},
        "extra_query": {"api-version": "2025-01-01"},
        "extra_body": {"schema": {"type": "object"}, "top_k": 1},
        "timeout": 7.5,
    }

    async def both() -> None:
        client = AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
        try:
            await client.chat.completions.create(**call)
            await chat_completion_poster(client)(**call)
        finally:
            await client.close()

    asyncio.run(both())
    by_sdk, by_poster = server.chat_requests
    assert wire(by_poster) == wire(by_sdk)
    assert by_sdk.query == "api-version=2025-01-01" and by_sdk.headers["x-dealx-test"] == "yes"
    assert by_sdk.body["top_k"] == 1 and by_sdk.headers["authorization"] == "Bearer sk-test"


def test_the_poster_honors_the_timeout_and_refuses_to_stream() -> None:
    async def call(create: Any) -> float:
        started = time.perf_counter()
        with pytest.raises(openai.APIConnectionError):  # APITimeoutError is one
            await create(model="m", messages=[{"role": "user", "content": "u"}], timeout=0.3)
        return time.perf_counter() - started

    async def both(base_url: str) -> tuple[float, float]:
        client = AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        try:
            poster = chat_completion_poster(client)
            with pytest.raises(ValueError, match="does not stream"):
                await poster(model="m", messages=[], stream=True)
            return await call(client.chat.completions.create), await call(poster)
        finally:
            await client.close()

    with FakeOpenAI(Hang(5.0)) as hanging:
        by_sdk, by_poster = asyncio.run(both(hanging.base_url))
    assert by_sdk < 2.0 and by_poster < 2.0
