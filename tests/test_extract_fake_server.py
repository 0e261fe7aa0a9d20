"""The extractor against a fake OpenAI-compatible server on 127.0.0.1: retries, re-asks,
concurrency, per-document isolation, resume, cache modes, chunking."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest
from rich.console import Console

from pipeline.cache import ResponseCache
from pipeline.constrained import INSTRUCTIONS
from pipeline.errors import AuthError, ConfigError
from pipeline.prompts import load_prompt
from pipeline.response import ArticleExtraction, schema_sha256
from pipeline.runner import default_run_dir, extract_run
from pipeline.settings import Settings
from tests.fake_openai import (
    EMPTY_EXTRACTION,
    FakeOpenAI,
    Hang,
    Reply,
    Script,
    ScriptByMarker,
    Status,
    free_port,
)

ANSWER = json.dumps(
    {
        "companies": [{"name": "Meta", "evidence": [{"quote": "Meta invests"}]}],
        "people": [],
        "deals": [
            {
                "deal_type": "investment",
                "parties": [
                    {"name": "Meta", "role": "investor"},
                    {"name": "Scale AI", "role": "target"},
                ],
                "amount": {"value": 14e9, "currency": "USD", "qualifier": "about"},
                "stake_percent": 49,
                "evidence": [{"quote": "Meta invests in Scale AI"}],
            }
        ],
    }
)


def write_docs(folder: Path, count: int) -> list[str]:
    """`count` small articles, each with its id in the text as a marker for the fake server."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"doc-{i:02d}" for i in range(count)]
    for doc_id in ids:
        (folder / f"{doc_id}.txt").write_text(
            f"Article {doc_id}: Meta invests in Scale AI, about $14 billion for a 49% stake.\n"
        )
    return ids


def settings_for(server: FakeOpenAI, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "model": "openai/fake-model",
        "base_url": server.base_url,
        "cache": tmp_path / "cache.sqlite",
        "paths": [tmp_path / "docs"],
        "timeout_s": 5.0,
        "transport_attempts": 4,
        "transport_max_wait_s": 10.0,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def run(settings: Settings, run_dir: Path) -> dict:
    return extract_run(settings, run_dir, Console(quiet=True))


@pytest.fixture(autouse=True)
def no_real_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def test_extracts_every_document_and_writes_outputs(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 3)
    with FakeOpenAI(Reply(ANSWER)) as server:
        manifest = run(settings_for(server, tmp_path, runs_dir=tmp_path), tmp_path / "run")
    assert manifest["documents"]["ok"] == 3 and manifest["documents"]["failed"] == 0
    assert sorted(p.stem for p in (tmp_path / "run" / "records").glob("*.json")) == ids
    record = json.loads((tmp_path / "run" / "records" / "doc-00.json").read_text())
    assert record["doc_id"] == "doc-00"
    assert record["deals"][0]["amount"] == {"value": 14e9, "currency": "USD", "qualifier": "about"}
    deals_csv = (tmp_path / "run" / "deals.csv").read_text().splitlines()
    assert len(deals_csv) == 1 + 3 and deals_csv[0].startswith("doc_id,deal_type,parties")
    assert manifest["records"] == {"companies": 3, "people": 0, "deals": 3}
    assert manifest["cache_misses"] == 3 and manifest["tokens_in"] > 0
    assert (tmp_path / "latest").readlink() == Path("run")


def test_transient_errors_are_retried_and_counted(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    script = Script([Status(500), Status(503), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        manifest = run(settings_for(server, tmp_path), tmp_path / "run")
        assert server.count() == 3
    assert manifest["documents"]["ok"] == 1
    assert manifest["transport_retries"] == 2 and manifest["reasks"] == 0


def test_invalid_answer_is_reasked_through_instructor(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    bad_percent = json.loads(ANSWER)
    bad_percent["deals"][0]["stake_percent"] = 140
    script = Script([Reply("not json at all"), Reply(json.dumps(bad_percent)), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        manifest = run(settings_for(server, tmp_path), tmp_path / "run")
        # The re-ask carries the validation error back to the model.
        assert "stake_percent" in server.chat_requests[2].text
    assert manifest["documents"]["ok"] == 1
    assert manifest["reasks"] == 2 and manifest["transport_retries"] == 0


def test_failing_document_is_isolated_then_retried_on_resume(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 4)
    always_500 = ScriptByMarker({"doc-02": [Status(500, message="model exploded")] * 10})
    with FakeOpenAI(always_500, latency=0.01) as server:
        settings = settings_for(server, tmp_path, transport_attempts=2)
        first = run(settings, tmp_path / "run")
        assert first["documents"] == {
            "ok": 3,
            "failed": 1,
            "skipped_already_done": 0,
            "records_in_run": 3,
        }
        [error] = [json.loads(line) for line in (tmp_path / "run" / "errors.jsonl").open()]
        assert error["doc_id"] == "doc-02"
        assert "HTTP 500" in error["reason"] and "model exploded" in error["reason"]
        assert server.count("doc-02") == 2  # capped by transport_attempts

        second = run(settings, tmp_path / "run")
        # The finished documents are not asked again; the failed one is retried.
        assert [server.count(doc_id) for doc_id in ids] == [1, 1, 4, 1]
    assert second["documents"]["skipped_already_done"] == 3
    assert second["documents"]["failed"] == 1
    assert sorted(p.stem for p in (tmp_path / "run" / "records").glob("*.json")) == [
        "doc-00",
        "doc-01",
        "doc-03",
    ]


def test_resume_finishes_failed_document_once_server_recovers(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    failing = ScriptByMarker({"doc-01": [Status(500)] * 2}, default=Reply(ANSWER))
    with FakeOpenAI(failing) as server:
        settings = settings_for(server, tmp_path, transport_attempts=2)
        assert run(settings, tmp_path / "run")["documents"]["failed"] == 1
        second = run(settings, tmp_path / "run")
    assert second["documents"]["ok"] == 1 and second["documents"]["failed"] == 0
    assert (tmp_path / "run" / "errors.jsonl").read_text() == ""
    assert second["documents"]["records_in_run"] == 2


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 12)
    with FakeOpenAI(Reply(ANSWER), latency=0.2) as server:
        run(settings_for(server, tmp_path, concurrency=4), tmp_path / "run")
        assert server.peak_in_flight == 4


def test_cache_modes(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = settings_for(server, tmp_path)
        run(settings, tmp_path / "a")
        assert server.count() == 2
        second = run(settings, tmp_path / "b")
        assert server.count() == 2 and second["cache_hits"] == 2
        replay = run(settings_for(server, tmp_path, cache_mode="replay"), tmp_path / "c")
        assert server.count() == 2 and replay["cache_hits"] == 2
        refresh = run(settings_for(server, tmp_path, cache_mode="refresh"), tmp_path / "d")
        assert server.count() == 4 and refresh["cache_misses"] == 2
        run(
            settings_for(server, tmp_path, cache_mode="off", cache=tmp_path / "x.db"),
            tmp_path / "e",
        )
        assert server.count() == 6 and not (tmp_path / "x.db").exists()
        with ResponseCache(tmp_path / "cache.sqlite") as cache:
            assert len(cache) == 2
        # refresh overwrites what is stored: the server's new answer is replayed from then on.
        server.handler = Reply(EMPTY_EXTRACTION)
        run(settings_for(server, tmp_path, cache_mode="refresh"), tmp_path / "f")
        assert server.count() == 8
        replay = run(settings_for(server, tmp_path, cache_mode="replay"), tmp_path / "g")
        assert server.count() == 8
    assert replay["records"] == {"companies": 0, "people": 0, "deals": 0}
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        assert len(cache) == 2
        assert all(entry.record == json.loads(EMPTY_EXTRACTION) for entry in cache.entries())


def test_replay_miss_names_the_document(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    with FakeOpenAI(Reply(ANSWER)) as server:
        manifest = run(settings_for(server, tmp_path, cache_mode="replay"), tmp_path / "run")
        assert server.count() == 0
    assert manifest["documents"]["failed"] == 1
    assert "doc-00: no recorded response" in manifest["failed"]["doc-00"]


def test_bad_key_fails_the_run_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_docs(tmp_path / "docs", 5)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sentinel-never-stored-0123456789")
    status = Status(401, error_code="invalid_api_key", message="Incorrect API key provided")
    with FakeOpenAI(status) as server:
        with pytest.raises(AuthError, match="rejected the API key"):
            run(settings_for(server, tmp_path, concurrency=1), tmp_path / "run")
        assert server.count() == 1
    assert not list((tmp_path / "run" / "records").glob("*.json"))


def test_long_document_is_chunked_and_merged(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = [
        f"Paragraph {i}: Meta invests in Scale AI, $14 billion for 49%. " + "x" * 400
        for i in range(12)
    ]
    (docs / "long.txt").write_text("\n\n".join(paragraphs))
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = settings_for(server, tmp_path, context_tokens=2200, max_tokens=1000)
        manifest = run(settings, tmp_path / "run")
        texts = [request.text for request in server.chat_requests]
    assert len(texts) > 1
    assert "Paragraph 0:" in texts[0] and "Paragraph 11:" not in texts[0]
    assert "Paragraph 11:" in texts[-1]
    # Consecutive chunks overlap by a paragraph, so no fact is cut in half at a boundary.
    for before, after in itertools.pairwise(texts):
        shared = [
            i for i in range(12) if f"Paragraph {i}:" in before and f"Paragraph {i}:" in after
        ]
        assert len(shared) == 1
    record = json.loads((tmp_path / "run" / "records" / "long.json").read_text())
    # Every chunk named the same company and deal: merged into one of each.
    assert len(record["companies"]) == 1 and len(record["deals"]) == 1
    assert manifest["cache_misses"] == len(texts)


def test_api_key_never_reaches_cache_or_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-sentinel-SECRET-4f9c2a"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    write_docs(tmp_path / "docs", 2)
    with FakeOpenAI(Reply(ANSWER)) as server:
        run(settings_for(server, tmp_path), tmp_path / "run")
        assert all(r.headers["authorization"] == f"Bearer {secret}" for r in server.chat_requests)
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_rate_limit_waits_for_retry_after(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    script = Script([Status(429, headers={"Retry-After": "1"}), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        run(settings_for(server, tmp_path), tmp_path / "run")
        first, second = server.chat_requests
    assert second.received_at - first.received_at >= 1.0
    documents = (tmp_path / "run" / "documents.csv").read_text().splitlines()
    assert documents[0].startswith("doc_id,status,chunks,cache_hits")
    assert documents[1].startswith("doc-00,ok,1,0,") and ",0,1," in documents[1]


def test_hung_request_times_out_and_is_retried(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    with FakeOpenAI(Script([Hang(30), Reply(ANSWER)])) as server:
        manifest = run(settings_for(server, tmp_path, timeout_s=0.5), tmp_path / "run")
        assert server.count() == 2
    assert manifest["documents"]["ok"] == 1 and manifest["transport_retries"] == 1


def test_unreachable_server_fails_documents_naming_the_url(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings(
        model="openai/m",
        base_url=url,
        cache=tmp_path / "cache.sqlite",
        paths=[tmp_path / "docs"],
        transport_attempts=2,
    )
    manifest = run(settings, tmp_path / "run")
    assert manifest["documents"]["failed"] == 2
    for reason in manifest["failed"].values():
        assert reason.startswith(f"cannot connect to {url}/chat/completions")
    assert manifest["transport_retries"] == 2


def test_missing_key_names_the_fix(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    settings = Settings(model="openai/gpt-4o-mini", paths=[tmp_path / "docs"], cache_mode="off")
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY is not set.*local/smollm2-135m"):
        run(settings, tmp_path / "run")


def test_constrained_strategy_sends_enum_schemas_and_rejects_too_few_picks(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(
        "Meta agreed to invest about $14 billion in Scale AI. "
        "Scale AI co-founder Alexandr Wang will join Meta, according to Bloomberg.\n"
    )
    # An empty answer has fewer picks than the schema's minimum: re-asked once, then failed.
    with FakeOpenAI(Reply()) as server:
        settings = settings_for(server, tmp_path, strategy="constrained", max_retries=1)
        manifest = run(settings, tmp_path / "run")
        bodies = [request.body for request in server.chat_requests]
    assert manifest["prompt"] == "constrained_v1" and manifest["documents"]["failed"] == 1
    assert "invalid response after 2 attempt(s)" in manifest["failed"]["a"]
    assert len(bodies) == 2 and manifest["reasks"] == 1
    assert bodies[0]["messages"][1]["content"].endswith(f"Task: {INSTRUCTIONS['companies']}")
    schema = bodies[0]["response_format"]["json_schema"]["schema"]
    picks = schema["properties"]["companies"]
    assert picks["minItems"] == 3  # Meta, Scale AI, Bloomberg: fewer than the usual 5
    names = schema["$defs"]["CompanyPick"]["properties"]["name"]["enum"]
    assert names == ["Meta", "Scale AI", "Bloomberg"]


def test_constrained_picks_are_merged_and_deduplicated(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    first = "Meta agreed to invest about $14 billion in Scale AI."
    second = "Scale AI co-founder Alexandr Wang will join Meta, according to Bloomberg."
    (docs / "a.txt").write_text(f"{first} {second}\n")

    def pick(name: str, quote: str) -> dict[str, object]:
        return {"name": name, "org_type": "company", "evidence": [{"quote": quote}]}

    # A small model told to pick at least three organisations repeats one; people likewise.
    companies = {"companies": [pick("Meta", first), pick("Scale AI", first), pick("Meta", second)]}
    wang = {"name": "Alexandr Wang", "roles": [], "evidence": [{"quote": second}]}
    deal = {
        "deal_type": "investment",
        "parties": [{"name": "Meta", "role": "investor"}, {"name": "Scale AI", "role": "target"}],
        "amount": "about $14 billion",
        "stake_percent": None,
        "status": "agreed",
        "date": None,
        "evidence": [{"quote": first}],
    }
    answers = {
        INSTRUCTIONS["companies"]: [Reply(json.dumps(companies))],
        INSTRUCTIONS["people"]: [Reply(json.dumps({"people": [wang, wang]}))],
        INSTRUCTIONS["deals"]: [Reply(json.dumps({"deals": [deal, deal]}))],
    }
    with FakeOpenAI(ScriptByMarker(answers)) as server:
        manifest = run(settings_for(server, tmp_path, strategy="constrained"), tmp_path / "run")
        assert server.count() == 3  # one call per record type
    assert manifest["documents"]["ok"] == 1, manifest["failed"]
    record = json.loads((tmp_path / "run" / "records" / "a.json").read_text())
    assert [c["name"] for c in record["companies"]] == ["Meta", "Scale AI"]
    # The repeated pick adds its quote to the first: Meta keeps both sentences.
    assert [e["quote"] for e in record["companies"][0]["evidence"]] == [first, second]
    assert [p["name"] for p in record["people"]] == ["Alexandr Wang"]
    assert len(record["deals"]) == 1 and record["deals"][0]["amount"]["value"] == 14e9


def test_a_record_listed_twice_in_one_answer_is_kept_once(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    doubled = json.loads(ANSWER)
    doubled["companies"] = [*doubled["companies"], *doubled["companies"]]
    doubled["deals"] = [*doubled["deals"], *doubled["deals"]]
    with FakeOpenAI(Reply(json.dumps(doubled))) as server:
        manifest = run(settings_for(server, tmp_path), tmp_path / "run")
    assert manifest["records"] == {"companies": 1, "people": 0, "deals": 1}


def test_grounding_modes_write_rejections(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Meta invests in Scale AI.\n")
    invented = json.loads(ANSWER)
    invented["companies"].append({"name": "Apple", "evidence": [{"quote": "Apple buys Meta"}]})
    with FakeOpenAI(Reply(json.dumps(invented))) as server:
        strict = run(settings_for(server, tmp_path), tmp_path / "strict")
        flag = run(settings_for(server, tmp_path, grounding="flag"), tmp_path / "flag")
        off = run(settings_for(server, tmp_path, grounding="off"), tmp_path / "off")
    kept = {
        mode: [
            c["name"]
            for c in json.loads((tmp_path / mode / "records" / "a.json").read_text())["companies"]
        ]
        for mode in ("strict", "flag", "off")
    }
    assert kept == {"strict": ["Meta"], "flag": ["Meta", "Apple"], "off": ["Meta", "Apple"]}
    rejected = [json.loads(line) for line in (tmp_path / "strict" / "rejected.jsonl").open()]
    assert {(r["record"], r["field"], r["action"]) for r in rejected} >= {
        ("Apple", "name", "dropped")
    }
    # The deal's amount ($14 billion) and stake (49) are not in this article either.
    assert {r["field"] for r in rejected} >= {"amount", "stake_percent"}
    assert strict["rejected"]["dropped"] == len(rejected) and strict["rejected"]["flagged"] == 0
    assert flag["rejected"]["flagged"] == len(rejected) and off["rejected"] == {
        "dropped": 0,
        "flagged": 0,
    }


def test_latest_points_at_the_newest_run_in_the_runs_folder_only(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    runs = tmp_path / "runs"
    started = datetime(2026, 6, 11, 9, 30, 5, tzinfo=UTC)
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = settings_for(server, tmp_path, runs_dir=runs)
        first = default_run_dir(runs, settings.model, settings.prompt_name, now=started)
        assert first == runs / "openai-fake-model-extract_v1-20260611T093005Z"
        run(settings, first)
        # Started in the same second: a fresh name, not the first run's folder (whose documents
        # would all be skipped as done).
        second = default_run_dir(runs, settings.model, settings.prompt_name, now=started)
        assert second == runs / "openai-fake-model-extract_v1-20260611T093005Z-2"
        manifest = run(settings, second)
        assert manifest["documents"]["skipped_already_done"] == 0
        assert (runs / "latest").readlink() == Path(second.name)
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "latest").write_text("a user's own file")
        manifest = run(settings, tmp_path / "elsewhere" / "run")
    assert manifest["documents"]["ok"] == 1
    assert (tmp_path / "elsewhere" / "latest").read_text() == "a user's own file"
    assert (runs / "latest").readlink() == Path(second.name)


def test_manifest_records_what_the_run_was(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = settings_for(server, tmp_path, model="openai/gpt-4o-mini")
        manifest = run(settings, tmp_path / "run")
    on_disk = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["model"] == "openai/gpt-4o-mini"
    assert manifest["base_url"] == server.base_url
    assert manifest["prompt"] == "extract_v1"
    assert manifest["prompt_sha256"] == load_prompt("extract_v1").sha256
    assert manifest["schema_sha256"] == schema_sha256(ArticleExtraction)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    assert manifest["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    for package in ("dealx", "instructor", "openai", "pydantic", "tenacity", "httpx"):
        assert manifest["versions"][package] == metadata.version(package)
    assert (manifest["cache_hits"], manifest["cache_misses"]) == (0, 2)
    # gpt-4o-mini lists at $0.15 in and $0.60 out per million tokens.
    expected = (manifest["tokens_in"] * 0.15 + manifest["tokens_out"] * 0.60) / 1e6
    assert manifest["tokens_in"] > 0 and manifest["cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert manifest["wall_s"] > 0 and manifest["started_at"] <= manifest["finished_at"]
    assert manifest["documents"] == {
        "ok": 2,
        "failed": 0,
        "skipped_already_done": 0,
        "records_in_run": 2,
    }
