"""Faults from the model server, injected by the fake server, beyond the basic cases of
test_extract_fake_server.py: every fault ends in a success or a one-line reason, retries and
re-asks are counted, the HTTP calls a document can cost are bounded, and a rejected key stops
the whole run once."""

from __future__ import annotations

import csv
import email.utils
import itertools
import json
import time
from pathlib import Path

import httpx
import pytest

from pipeline.providers.transport import retry_after_seconds
from pipeline.store.cache import ResponseCache
from schemas.errors import EXIT_AUTH, AuthError, ConfigError
from tests.dealx_process import (
    ANSWER,
    dealx_env,
    extract_args,
    extract_in_process,
    fake_settings,
    run_dealx,
    write_docs,
)
from tests.fake_openai import (
    FakeOpenAI,
    Hang,
    Reply,
    Reset,
    Script,
    ScriptByMarker,
    Status,
    Step,
)

INVALID = json.dumps({"companies": [{"name": ""}], "people": [], "deals": []})  # min_length 1


pytestmark = pytest.mark.usefixtures("no_real_key")


def documents_csv(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "documents.csv").open(newline="") as handle:
        return {row["doc_id"]: row for row in csv.DictReader(handle)}


def errors_jsonl(run_dir: Path) -> dict[str, str]:
    lines = (run_dir / "errors.jsonl").read_text().splitlines()
    return {row["doc_id"]: row["reason"] for row in map(json.loads, lines)}


def records(run_dir: Path) -> list[str]:
    return sorted(p.stem for p in (run_dir / "records").glob("*.json"))


# -- 429 and Retry-After ------------------------------------------------------------------


def test_retry_after_headers_are_read_and_odd_ones_ignored() -> None:
    def seconds(**headers: str) -> float | None:
        return retry_after_seconds(httpx.Response(429, headers=headers))

    assert seconds() is None
    assert seconds(**{"retry-after": "3"}) == 3.0
    assert seconds(**{"retry-after": "0.5"}) == 0.5
    assert seconds(**{"retry-after-ms": "250"}) == 0.25
    assert seconds(**{"retry-after-ms": "soon", "retry-after": "2"}) == 2.0
    assert seconds(**{"retry-after": "-4"}) == 0.0
    assert seconds(**{"retry-after": "nan"}) == 0.0
    assert seconds(**{"retry-after": "soon"}) is None
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert seconds(**{"retry-after": past}) == 0.0
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < seconds(**{"retry-after": future}) <= 30  # type: ignore[operator]


def test_unreadable_retry_after_falls_back_to_backoff(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    script = Script([Status(429, headers={"Retry-After": "soon"}), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert server.count() == 2
    assert manifest["documents"]["ok"] == 1 and manifest["transport_retries"] == 1


def test_retry_after_ms_is_honored(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    script = Script([Status(429, headers={"retry-after-ms": "1200"}), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        first, second = server.chat_requests
    assert second.received_at - first.received_at >= 1.2
    assert manifest["documents"]["ok"] == 1


# -- 5xx --------------------------------------------------------------------------------------


def test_mixed_5xx_then_success_counted_per_document(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 3)
    proxy_page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    faults = ScriptByMarker(
        {
            ids[0]: [Status(500), Status(502, body=proxy_page), Status(503)],
            ids[1]: [Status(503)],
        },
        default=Reply(ANSWER),
    )
    with FakeOpenAI(faults) as server:
        manifest = extract_in_process(
            fake_settings(server.base_url, tmp_path, transport_attempts=4), tmp_path / "run"
        )
        assert [server.count(doc_id) for doc_id in ids] == [4, 2, 1]
    assert manifest["documents"]["ok"] == 3 and manifest["transport_retries"] == 4
    rows = documents_csv(tmp_path / "run")
    assert [rows[doc_id]["transport_retries"] for doc_id in ids] == ["3", "1", "0"]
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        assert sorted(e.transport_retries for e in cache.entries()) == [0, 1, 3]


def test_waits_between_retries_grow_exponentially_with_jitter(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    with FakeOpenAI(Script([Status(503)] * 3 + [Reply(ANSWER)])) as server:
        manifest = extract_in_process(
            fake_settings(server.base_url, tmp_path, transport_attempts=5), tmp_path / "run"
        )
        arrivals = [request.received_at for request in server.chat_requests]
    assert manifest["documents"]["ok"] == 1 and manifest["transport_retries"] == 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # Backoff 0.5 s x 2^(n-1) plus up to 0.5 s of jitter: 0.5-1.0 s, 1.0-1.5 s, 2.0-2.5 s
    # (plus the time a request takes, well under the 0.3 s allowed here).
    for gap, low in zip(gaps, (0.5, 1.0, 2.0), strict=True):
        assert low <= gap < low + 0.5 + 0.3, gaps


def test_always_failing_document_reports_status_and_a_one_line_body_excerpt(
    tmp_path: Path,
) -> None:
    ids = write_docs(tmp_path / "docs", 3)
    page = "<html>\n<body>\n<h1>503 Service Unavailable</h1>\n" + "<p>upstream busy</p>\n" * 500
    faults = ScriptByMarker({ids[1]: [Status(503, body=page)] * 10}, default=Reply(ANSWER))
    with FakeOpenAI(faults) as server:
        settings = fake_settings(server.base_url, tmp_path, transport_attempts=3)
        manifest = extract_in_process(settings, tmp_path / "run")
        assert server.count(ids[1]) == 3
    assert records(tmp_path / "run") == [ids[0], ids[2]]
    reason = errors_jsonl(tmp_path / "run")[ids[1]]
    assert reason.startswith(f"HTTP 503 from {server.base_url}/chat/completions: <html> <body>")
    assert "503 Service Unavailable" in reason and "\n" not in reason and len(reason) < 450
    assert manifest["failed"] == {ids[1]: reason}
    assert documents_csv(tmp_path / "run")[ids[1]]["transport_retries"] == "2"


def test_client_errors_are_not_retried(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    too_long = Status(400, message="This model's maximum context length is 8192 tokens")
    with FakeOpenAI(too_long) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert server.count() == 1
    [reason] = manifest["failed"].values()
    assert reason.startswith("HTTP 400 from") and "maximum context length" in reason


# -- hangs and broken connections -------------------------------------------------------------


def test_request_that_always_hangs_fails_with_a_timeout_and_the_run_ends(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 3)
    hung = ScriptByMarker({ids[2]: [Hang(60)] * 10}, default=Reply(ANSWER))
    with FakeOpenAI(hung) as server:
        settings = fake_settings(server.base_url, tmp_path, timeout_s=0.5, transport_attempts=3)
        manifest = extract_in_process(settings, tmp_path / "run")
        assert server.count(ids[2]) == 3
    assert records(tmp_path / "run") == ids[:2]
    assert manifest["failed"] == {
        ids[2]: f"timed out waiting for {server.base_url}/chat/completions"
    }
    assert manifest["transport_retries"] == 2


def test_connection_reset_is_retried(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    with FakeOpenAI(Script([Reset(), Reset(), Reply(ANSWER)])) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert server.count() == 3
    assert manifest["documents"]["ok"] == 1 and manifest["transport_retries"] == 2


def test_connection_always_reset_names_the_url(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    with FakeOpenAI(Reset()) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert server.count() == 3
    assert manifest["failed"] == {
        "doc-0000": f"cannot connect to {server.base_url}/chat/completions: "
        "connection reset by the server"
    }


def test_refused_connection_says_so(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    with FakeOpenAI() as server:
        url = server.base_url
    # The server is gone: nothing listens on its port any more.
    manifest = extract_in_process(
        fake_settings(url, tmp_path, transport_attempts=2), tmp_path / "run"
    )
    assert manifest["failed"] == {
        "doc-0000": f"cannot connect to {url}/chat/completions: "
        "connection refused (is the server running?)"
    }
    assert manifest["transport_retries"] == 1


def test_credentials_in_the_base_url_are_refused_without_echoing_them(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    url = "http://user:hunter2secret@127.0.0.1:9/v1"
    with pytest.raises(ConfigError, match="credentials in the URL") as refused:
        extract_in_process(fake_settings(url, tmp_path), tmp_path / "run")
    assert "hunter2secret" not in str(refused.value)
    assert not (tmp_path / "run").exists(), "nothing is written before the settings are checked"


# -- re-asks and truncation ---------------------------------------------------------------------


def test_reask_and_transport_retry_are_counted_apart(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    # The first ask is answered with text, the re-ask first meets a 503, then gets through.
    script = Script([Reply("Sure! Here are the deals: ..."), Status(503), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert server.count() == 3
    assert manifest["reasks"] == 1 and manifest["transport_retries"] == 1
    row = documents_csv(tmp_path / "run")["doc-0000"]
    assert (row["status"], row["reasks"], row["transport_retries"]) == ("ok", "1", "1")
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        [entry] = cache.entries()
    assert (entry.reasks, entry.transport_retries) == (1, 1)


def test_reasks_run_out_and_the_document_fails_with_the_validation_error(
    tmp_path: Path,
) -> None:
    write_docs(tmp_path / "docs", 2)
    always_invalid = ScriptByMarker({"doc-0001": [Reply(INVALID)] * 10}, default=Reply(ANSWER))
    with FakeOpenAI(always_invalid) as server:
        manifest = extract_in_process(
            fake_settings(server.base_url, tmp_path, max_retries=2), tmp_path / "run"
        )
        assert server.count("doc-0001") == 3  # the first ask and max_retries re-asks
    reason = manifest["failed"]["doc-0001"]
    assert reason.startswith("invalid response after 3 attempt(s):")
    assert "companies.0.name" in reason and "pydantic.dev" not in reason
    assert manifest["reasks"] == 2 and records(tmp_path / "run") == ["doc-0000"]
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        assert [e.doc_id for e in cache.entries()] == ["doc-0000"]  # no invalid answer cached


def test_worst_case_http_calls_per_document_are_bounded(tmp_path: Path) -> None:
    """Every ask (the first and each re-ask) may use every transport attempt; no more."""
    write_docs(tmp_path / "docs", 1)
    max_retries, attempts = 2, 3
    # Each ask meets attempts-1 server errors, then an invalid answer; forever.
    cycle: list[Step] = [Status(500)] * (attempts - 1) + [Reply(INVALID)]
    with FakeOpenAI(Script(cycle * 10)) as server:
        settings = fake_settings(
            server.base_url, tmp_path, max_retries=max_retries, transport_attempts=attempts
        )
        manifest = extract_in_process(settings, tmp_path / "run")
        assert server.count() == (max_retries + 1) * attempts
    assert manifest["documents"]["failed"] == 1
    assert manifest["reasks"] == max_retries
    assert manifest["transport_retries"] == (max_retries + 1) * (attempts - 1)


def test_truncated_answer_is_not_parsed_into_a_record(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    # A complete, valid JSON body, but the server says it stopped at max_tokens.
    truncated = ScriptByMarker(
        {"doc-0001": [Reply(ANSWER, finish_reason="length")]}, default=Reply(ANSWER)
    )
    with FakeOpenAI(truncated) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert server.count("doc-0001") == 1
    assert records(tmp_path / "run") == ["doc-0000"]
    assert manifest["failed"]["doc-0001"].startswith(
        "output truncated at max_tokens (finish_reason=length); not parsed"
    )
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        assert [e.doc_id for e in cache.entries()] == ["doc-0000"]


def test_truncated_reask_fails_the_document(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    script = Script([Reply("{not json"), Reply(ANSWER[:40], finish_reason="length")])
    with FakeOpenAI(script) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert server.count() == 2
    assert "finish_reason=length" in manifest["failed"]["doc-0000"]
    assert manifest["reasks"] == 1 and records(tmp_path / "run") == []


# -- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (
            Status(401, error_code="invalid_api_key", message="Incorrect API key provided"),
            "the model endpoint rejected the API key (HTTP 401); check OPENAI_API_KEY",
        ),
        (
            Status(403, message="Project does not have access to model"),
            "the model endpoint rejected the API key (HTTP 403); check OPENAI_API_KEY",
        ),
        (
            Status(429, error_code="insufficient_quota", message="You exceeded your quota"),
            "the model endpoint reports insufficient quota (HTTP 429)",
        ),
    ],
)
def test_rejected_credentials_stop_the_run_once_with_exit_3(
    tmp_path: Path, status: Status, message: str
) -> None:
    docs = tmp_path / "docs"
    write_docs(docs, 30)
    run_dir = tmp_path / "run"
    env = dealx_env(tmp_path, OPENAI_API_KEY="sk-wrong-key-0000")
    with FakeOpenAI(status, latency=0.05) as server:
        args = extract_args(
            server.base_url, docs, out=run_dir, cache=tmp_path / "c.db", concurrency=4
        )
        result = run_dealx(args, tmp_path, env)
        # Only the requests already in flight were sent, each once: no retry, no more documents.
        assert 1 <= server.count() <= 4
        assert len({r.text for r in server.chat_requests}) == server.count()
    assert result.returncode == EXIT_AUTH
    assert [line for line in result.stderr.splitlines() if "error" in line] == [
        f"dealx: error: {message}"
    ]
    # Not recorded as 30 failed documents: a rerun with a good key does them all.
    assert (run_dir / "errors.jsonl").read_text() == ""
    assert records(run_dir) == []


def test_rejected_key_midway_keeps_finished_documents(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 6)
    # The key is revoked after two documents.
    revoked = Script([Reply(ANSWER), Reply(ANSWER)], default=Status(401))
    with FakeOpenAI(revoked) as server:
        settings = fake_settings(server.base_url, tmp_path, concurrency=1)
        with pytest.raises(AuthError):
            extract_in_process(settings, tmp_path / "run")
        assert server.count() == 3
    assert records(tmp_path / "run") == ids[:2]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["documents"]["ok"] == 2 and manifest["documents"]["failed"] == 0


# -- A 200 that is no chat completion, and usage of another shape ---------------------------
@pytest.mark.parametrize(
    ("body", "excerpt"),
    [("<html>proxy page</html>", "'<html>proxy page</html>'"), ("", "''"), ("[1, 2]", "'[1, 2]'")],
    ids=["an HTML page", "an empty body", "a JSON array"],
)
def test_a_200_without_a_chat_completion_fails_the_document_with_what_came_back(
    tmp_path: Path, body: str, excerpt: str
) -> None:
    ids = write_docs(tmp_path / "docs", 2)
    script = ScriptByMarker({ids[0]: [Status(200, body=body)]}, Reply(ANSWER))
    with FakeOpenAI(script) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
    assert manifest["documents"]["ok"] == 1
    reason = "the model endpoint answered without a chat completion: " + excerpt
    assert errors_jsonl(tmp_path / "run") == {ids[0]: reason}


@pytest.mark.parametrize("count", ["many", -5, 10**30, 1.5, None], ids=repr)
def test_an_odd_token_count_counts_as_none_and_keeps_the_answer(
    tmp_path: Path, count: object, recwarn: pytest.WarningsRecorder
) -> None:
    usage = {"prompt_tokens": count, "completion_tokens": 7, "total_tokens": 7}
    write_docs(tmp_path / "docs", 1)
    with FakeOpenAI(Reply(ANSWER, usage=usage)) as server:  # type: ignore[arg-type]
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
    assert manifest["documents"]["ok"] == 1
    assert (manifest["run"]["tokens_in"], manifest["run"]["tokens_out"]) == (0, 7)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        [entry] = cache.entries()
    # The raw response is kept as the server sent it; the count it stored is none.
    assert entry.raw_response["usage"]["prompt_tokens"] == count
    assert entry.prompt_tokens == 0


COMPLETION = {"id": "c", "object": "chat.completion", "created": 1, "model": "fake-model"}


@pytest.mark.parametrize(
    "choices",
    ["x", [None], [{"index": 0, "finish_reason": "stop", "message": None}]],
    ids=["choices as text", "a null choice", "a null message"],
)
def test_a_completion_without_a_readable_choice_is_reasked_then_fails(
    tmp_path: Path, choices: object
) -> None:
    write_docs(tmp_path / "docs", 1)
    with FakeOpenAI(Status(200, body={**COMPLETION, "choices": choices})) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert len(server.chat_requests) == 3  # the first ask and max_retries re-asks
    assert manifest["documents"]["failed"] == 1
    [reason] = errors_jsonl(tmp_path / "run").values()
    assert (
        reason == "invalid response after 3 attempt(s): the completion has no choice with a message"
    )
