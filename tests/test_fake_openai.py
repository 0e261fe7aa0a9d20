"""The fake OpenAI server, exercised through the real ``openai`` and ``instructor`` clients."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import instructor
import openai
import pytest
from pydantic import BaseModel

from tests.fake_openai import (
    CHAT_PATH,
    FakeOpenAI,
    Hang,
    Reply,
    Reset,
    Script,
    ScriptByMarker,
    Status,
    free_port,
    messages_text,
)

MESSAGES = [{"role": "user", "content": "Extract from doc-a: Acme buys Beta."}]


def sync_client(server: FakeOpenAI, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(
        api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=timeout
    )


def async_client(server: FakeOpenAI, timeout: float = 5.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=timeout
    )


def complete(server: FakeOpenAI, content: str = "doc-a", **kwargs: Any) -> Any:
    with sync_client(server) as client:
        return client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": content}], **kwargs
        )


def handler_threads() -> int:
    # ThreadingMixIn names its per-connection threads after their target.
    return sum("process_request_thread" in t.name for t in threading.enumerate())


def test_reply_parses_as_chat_completion_with_usage() -> None:
    with FakeOpenAI(Reply('{"deals": [1]}')) as server, sync_client(server) as client:
        completion = client.chat.completions.create(model="my-model", messages=MESSAGES)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.model == "my-model"
    choice = completion.choices[0]
    assert choice.message.content == '{"deals": [1]}'
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == len(MESSAGES[0]["content"]) // 4
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_models_lists_one_model_and_unknown_paths_are_404() -> None:
    with FakeOpenAI(model="local-x") as server, sync_client(server) as client:
        assert [m.id for m in client.models.list()] == ["local-x"]
        with pytest.raises(openai.NotFoundError):
            client.get("/nowhere", cast_to=object)


def test_tools_request_gets_a_tool_call() -> None:
    tool = {"type": "function", "function": {"name": "Extraction", "parameters": {}}}
    with FakeOpenAI(Reply('{"deals": []}')) as server:
        completion = complete(server, tools=[tool])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.function.name == "Extraction"
    assert call.function.arguments == '{"deals": []}'


def test_instructor_tools_mode_round_trip() -> None:
    class Deal(BaseModel):
        buyer: str
        target: str

    reply = Reply(json.dumps({"buyer": "Acme", "target": "Beta"}))
    with FakeOpenAI(reply) as server, sync_client(server) as raw:
        client = instructor.from_openai(raw, mode=instructor.Mode.TOOLS)
        deal = client.chat.completions.create(
            model="m", response_model=Deal, messages=MESSAGES, max_retries=0
        )
    assert deal.model_dump() == {"buyer": "Acme", "target": "Beta"}
    assert server.chat_requests[0].body["tool_choice"]["function"]["name"] == "Deal"


def test_rate_limit_carries_retry_after_and_error_code() -> None:
    script = Script(
        [
            Status(429, headers={"Retry-After": "1"}),
            Status(429, error_code="insufficient_quota"),
        ]
    )
    with FakeOpenAI(script) as server:
        with pytest.raises(openai.RateLimitError) as limited:
            complete(server)
        with pytest.raises(openai.RateLimitError) as quota:
            complete(server)
    assert limited.value.response.headers["retry-after"] == "1"
    assert quota.value.code == "insufficient_quota"
    assert script.remaining == 0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (Status(500), openai.InternalServerError),
        (Status(502, body="<html>Bad Gateway</html>"), openai.InternalServerError),
        (Status(503), openai.InternalServerError),
        (Status(401, error_code="invalid_api_key"), openai.AuthenticationError),
    ],
)
def test_status_maps_to_openai_error(status: Status, error: type[Exception]) -> None:
    with FakeOpenAI(status) as server, pytest.raises(error) as raised:
        complete(server)
    assert isinstance(raised.value, openai.APIStatusError)
    assert raised.value.status_code == status.code


def test_hang_times_out_client_and_shutdown_stays_prompt() -> None:
    server = FakeOpenAI(Hang(30)).start()
    try:
        started = time.monotonic()
        with sync_client(server, timeout=0.5) as client, pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=MESSAGES)
        assert time.monotonic() - started < 2.0
    finally:
        started = time.monotonic()
        server.close()
    assert time.monotonic() - started < 1.0
    assert handler_threads() == 0


def test_reset_is_a_connection_error() -> None:
    with FakeOpenAI(Reset()) as server, pytest.raises(openai.APIConnectionError) as raised:
        complete(server)
    assert not isinstance(raised.value, openai.APITimeoutError)


def test_free_port_refuses_connections() -> None:
    client = openai.OpenAI(
        api_key="sk-test", base_url=f"http://127.0.0.1:{free_port()}/v1", max_retries=0
    )
    with client, pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=MESSAGES)


def test_latency_is_not_serialized_across_concurrent_requests() -> None:
    async def fire(server: FakeOpenAI) -> float:
        async with async_client(server) as client:
            started = time.monotonic()
            await asyncio.gather(
                *(client.chat.completions.create(model="m", messages=MESSAGES) for _ in range(20))
            )
            return time.monotonic() - started

    with FakeOpenAI(latency=0.1) as server:
        elapsed = asyncio.run(fire(server))
    assert elapsed < 1.0
    assert server.count() == 20
    assert server.peak_in_flight > 1


def test_requests_are_recorded_with_body_and_headers() -> None:
    with FakeOpenAI() as server:
        complete(server, "doc-a", temperature=0)
        with sync_client(server) as client:
            client.models.list()
    first, second = server.requests
    assert (first.method, first.path) == ("POST", CHAT_PATH)
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.body["temperature"] == 0
    assert first.text == "doc-a"
    assert (second.method, second.path, second.body) == ("GET", "/v1/models", None)
    assert first.received_at <= second.received_at
    assert server.chat_requests == [first]
    assert server.count("doc-a") == 1
    assert server.count("doc-b") == 0


def test_script_falls_back_to_default_and_handler_errors_become_500() -> None:
    def broken(body: dict[str, Any], index: int) -> Reply:
        raise ValueError("boom")

    with FakeOpenAI(Script([Reply("first")], default=broken)) as server:
        assert complete(server).choices[0].message.content == "first"
        with pytest.raises(openai.InternalServerError):
            complete(server)
    assert [type(e) for e in server.errors] == [ValueError]


def test_script_by_marker_routes_concurrent_requests() -> None:
    script = ScriptByMarker(
        {
            "doc-1": [Reply("one")],
            "doc-10": [Status(500), Reply("ten")],
        },
        default=Reply("other"),
    )

    async def ask(client: openai.AsyncOpenAI, doc: str) -> str:
        try:
            completion = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"Article {doc}."}]
            )
        except openai.InternalServerError:
            return "500"
        return str(completion.choices[0].message.content)

    async def run(server: FakeOpenAI) -> list[str]:
        async with async_client(server) as client:
            first = await asyncio.gather(*(ask(client, d) for d in ("doc-10", "doc-1", "doc-7")))
            second = await asyncio.gather(*(ask(client, d) for d in ("doc-10", "doc-1")))
            return [*first, *second]

    with FakeOpenAI(script) as server:
        answers = asyncio.run(run(server))
    assert answers == ["500", "one", "other", "ten", "other"]
    assert script.remaining("doc-10") == 0
    assert server.count("doc-10") == 2


def test_handler_can_compute_replies_from_the_request() -> None:
    def echo(body: dict[str, Any], index: int) -> Reply:
        doc = messages_text(body).split()[-1]
        return Reply(json.dumps({"doc": doc}), delay=0.01 * (index % 3))

    async def run(server: FakeOpenAI) -> list[str]:
        async with async_client(server) as client:
            completions = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": f"doc doc-{i}"}]
                    )
                    for i in range(10)
                )
            )
        return [json.loads(c.choices[0].message.content or "")["doc"] for c in completions]

    with FakeOpenAI(echo) as server:
        assert asyncio.run(run(server)) == [f"doc-{i}" for i in range(10)]
