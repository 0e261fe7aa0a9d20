"""The extractor against a fake OpenAI-compatible server on 127.0.0.1: retries, re-asks,
concurrency, per-document isolation, resume, cache modes, chunking."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import sqlite3
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pipeline.extraction.constrained import INSTRUCTIONS
from pipeline.extraction.prompts import load_prompt
from pipeline.extraction.response import ArticleExtraction, schema_sha256
from pipeline.runner import default_run_dir
from pipeline.settings import Settings
from pipeline.store.cache import ResponseCache
from schemas.errors import AuthError, ConfigError
from tests.dealx_process import extract_in_process, fake_settings, write_docs
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

# Every test article states this sentence; the deal's evidence quotes it, so grounding finds
# each of its values (parties, amount, stake) inside its own evidence.
SENTENCE = "Meta invests in Scale AI, about $14 billion for a 49% stake."
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
                "evidence": [{"quote": SENTENCE}],
            }
        ],
    }
)


pytestmark = pytest.mark.usefixtures("no_real_key")


def test_extracts_every_document_and_writes_outputs(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 3, fact=SENTENCE)
    with FakeOpenAI(Reply(ANSWER)) as server:
        manifest = extract_in_process(
            fake_settings(server.base_url, tmp_path, runs_dir=tmp_path), tmp_path / "run"
        )
    assert manifest["documents"]["ok"] == 3 and manifest["documents"]["failed"] == 0
    assert sorted(p.stem for p in (tmp_path / "run" / "records").glob("*.json")) == ids
    record = json.loads((tmp_path / "run" / "records" / "doc-0000.json").read_text())
    assert record["doc_id"] == "doc-0000"
    [deal] = record["deals"]
    assert deal["amount"] == {"value": 14e9, "currency": "USD", "qualifier": "about"}
    assert deal["stake_percent"] == 49 and deal["grounded"] is True
    # The quote's offsets and every value's own mention are located in the article.
    text = (tmp_path / "docs" / "doc-0000.txt").read_text()
    [evidence] = deal["evidence"]
    assert text[evidence["start"] : evidence["end"]] == SENTENCE
    assert {s["field"]: text[s["start"] : s["end"]] for s in deal["spans"]} == {
        "parties[0].name": "Meta",
        "parties[1].name": "Scale AI",
        "amount": "$14 billion",
        "stake_percent": "49%",
    }
    deals_csv = (tmp_path / "run" / "deals.csv").read_text().splitlines()
    assert len(deals_csv) == 1 + 3 and deals_csv[0].startswith("doc_id,deal_type,parties")
    assert manifest["records"] == {"companies": 3, "people": 0, "deals": 3}
    # Every record's evidence states all of its values: nothing rejected, full support.
    assert set(manifest["rejected"].values()) == {0}
    assert not (tmp_path / "run" / "rejected.jsonl").exists()
    assert manifest["support"]["all"]["support_rate"] == 1.0
    assert manifest["support"]["deal"]["values"] == manifest["support"]["deal"]["values_supported"]
    assert manifest["support"]["deal"]["values"] == 3 * 4  # two parties, amount, stake
    # The plain strategy offers no candidates.
    assert not (tmp_path / "run" / "candidates").exists()
    assert manifest["cache_misses"] == 3 and manifest["tokens_in"] > 0
    assert (tmp_path / "latest").readlink() == Path("run")


def test_transient_errors_are_retried_and_counted(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1, fact=SENTENCE)
    script = Script([Status(500), Status(503), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert server.count() == 3
    assert manifest["documents"]["ok"] == 1
    assert manifest["transport_retries"] == 2 and manifest["reasks"] == 0


def test_invalid_answer_is_reasked_through_instructor(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1, fact=SENTENCE)
    bad_percent = json.loads(ANSWER)
    bad_percent["deals"][0]["stake_percent"] = 140
    script = Script([Reply("not json at all"), Reply(json.dumps(bad_percent)), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        # The re-ask carries the validation error back to the model.
        assert "stake_percent" in server.chat_requests[2].text
    assert manifest["documents"]["ok"] == 1
    assert manifest["reasks"] == 2 and manifest["transport_retries"] == 0


def test_failing_document_is_isolated_then_retried_on_resume(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 4, fact=SENTENCE)
    always_500 = ScriptByMarker({"doc-0002": [Status(500, message="model exploded")] * 10})
    with FakeOpenAI(always_500, latency=0.01) as server:
        settings = fake_settings(server.base_url, tmp_path, transport_attempts=2)
        first = extract_in_process(settings, tmp_path / "run")
        assert first["documents"] == {
            "ok": 3,
            "failed": 1,
            "skipped_already_done": 0,
            "records_in_run": 3,
        }
        [error] = [json.loads(line) for line in (tmp_path / "run" / "errors.jsonl").open()]
        assert error["doc_id"] == "doc-0002"
        assert "HTTP 500" in error["reason"] and "model exploded" in error["reason"]
        assert server.count("doc-0002") == 2  # capped by transport_attempts

        second = extract_in_process(settings, tmp_path / "run")
        # The finished documents are not asked again; the failed one is retried.
        assert [server.count(doc_id) for doc_id in ids] == [1, 1, 4, 1]
    assert second["documents"]["skipped_already_done"] == 3
    assert second["documents"]["failed"] == 1
    assert sorted(p.stem for p in (tmp_path / "run" / "records").glob("*.json")) == [
        "doc-0000",
        "doc-0001",
        "doc-0003",
    ]


def test_resume_finishes_failed_document_once_server_recovers(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2, fact=SENTENCE)
    failing = ScriptByMarker({"doc-0001": [Status(500)] * 2}, default=Reply(ANSWER))
    with FakeOpenAI(failing) as server:
        settings = fake_settings(server.base_url, tmp_path, transport_attempts=2)
        assert extract_in_process(settings, tmp_path / "run")["documents"]["failed"] == 1
        second = extract_in_process(settings, tmp_path / "run")
    assert second["documents"]["ok"] == 1 and second["documents"]["failed"] == 0
    assert (tmp_path / "run" / "errors.jsonl").read_text() == ""
    assert second["documents"]["records_in_run"] == 2


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 12, fact=SENTENCE)
    with FakeOpenAI(Reply(ANSWER), latency=0.2) as server:
        extract_in_process(
            fake_settings(server.base_url, tmp_path, concurrency=4), tmp_path / "run"
        )
        assert server.peak_in_flight == 4


def test_cache_modes(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2, fact=SENTENCE)
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path)
        extract_in_process(settings, tmp_path / "a")
        assert server.count() == 2
        second = extract_in_process(settings, tmp_path / "b")
        assert server.count() == 2 and second["cache_hits"] == 2
        replay = extract_in_process(
            fake_settings(server.base_url, tmp_path, cache_mode="replay"), tmp_path / "c"
        )
        assert server.count() == 2 and replay["cache_hits"] == 2
        refresh = extract_in_process(
            fake_settings(server.base_url, tmp_path, cache_mode="refresh"), tmp_path / "d"
        )
        assert server.count() == 4 and refresh["cache_misses"] == 2
        extract_in_process(
            fake_settings(server.base_url, tmp_path, cache_mode="off", cache=tmp_path / "x.db"),
            tmp_path / "e",
        )
        assert server.count() == 6 and not (tmp_path / "x.db").exists()
        with ResponseCache(tmp_path / "cache.sqlite") as cache:
            assert len(cache) == 2
        # refresh overwrites what is stored: the server's new answer is replayed from then on.
        server.handler = Reply(EMPTY_EXTRACTION)
        extract_in_process(
            fake_settings(server.base_url, tmp_path, cache_mode="refresh"), tmp_path / "f"
        )
        assert server.count() == 8
        replay = extract_in_process(
            fake_settings(server.base_url, tmp_path, cache_mode="replay"), tmp_path / "g"
        )
        assert server.count() == 8
    assert replay["records"] == {"companies": 0, "people": 0, "deals": 0}
    with ResponseCache(tmp_path / "cache.sqlite") as cache:
        assert len(cache) == 2
        assert all(entry.record == json.loads(EMPTY_EXTRACTION) for entry in cache.entries())


def test_replay_miss_names_the_document(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1, fact=SENTENCE)
    ResponseCache(tmp_path / "cache.sqlite").close()  # a cache without this answer
    with FakeOpenAI(Reply(ANSWER)) as server:
        manifest = extract_in_process(
            fake_settings(server.base_url, tmp_path, cache_mode="replay"), tmp_path / "run"
        )
        assert server.count() == 0
    assert manifest["documents"]["failed"] == 1
    assert "doc-0000: no recorded response" in manifest["failed"]["doc-0000"]


def test_bad_key_fails_the_run_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_docs(tmp_path / "docs", 5, fact=SENTENCE)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-sentinel-never-stored-0123456789")
    status = Status(401, error_code="invalid_api_key", message="Incorrect API key provided")
    with FakeOpenAI(status) as server:
        with pytest.raises(AuthError, match="rejected the API key"):
            extract_in_process(
                fake_settings(server.base_url, tmp_path, concurrency=1), tmp_path / "run"
            )
        assert server.count() == 1
    assert not list((tmp_path / "run" / "records").glob("*.json"))


def test_long_document_is_chunked_and_merged(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = [f"Paragraph {i}: {SENTENCE} " + "x" * 400 for i in range(12)]
    (docs / "long.txt").write_text("\n\n".join(paragraphs))
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path, context_tokens=2200, max_tokens=1000)
        manifest = extract_in_process(settings, tmp_path / "run")
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
    write_docs(tmp_path / "docs", 2, fact=SENTENCE)
    with FakeOpenAI(Reply(ANSWER)) as server:
        extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        assert all(r.headers["authorization"] == f"Bearer {secret}" for r in server.chat_requests)
    with sqlite3.connect(tmp_path / "cache.sqlite") as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_rate_limit_waits_for_retry_after(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1, fact=SENTENCE)
    script = Script([Status(429, headers={"Retry-After": "1"}), Reply(ANSWER)])
    with FakeOpenAI(script) as server:
        extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        first, second = server.chat_requests
    assert second.received_at - first.received_at >= 1.0
    documents = (tmp_path / "run" / "documents.csv").read_text().splitlines()
    assert documents[0].startswith("doc_id,status,chunks,cache_hits")
    assert documents[1].startswith("doc-0000,ok,1,0,") and ",0,1," in documents[1]


def test_hung_request_times_out_and_is_retried(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1, fact=SENTENCE)
    with FakeOpenAI(Script([Hang(30), Reply(ANSWER)])) as server:
        manifest = extract_in_process(
            fake_settings(server.base_url, tmp_path, timeout_s=0.5), tmp_path / "run"
        )
        assert server.count() == 2
    assert manifest["documents"]["ok"] == 1 and manifest["transport_retries"] == 1


def test_unreachable_server_fails_documents_naming_the_url(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2, fact=SENTENCE)
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings(
        model="openai/m",
        base_url=url,
        cache=tmp_path / "cache.sqlite",
        paths=[tmp_path / "docs"],
        transport_attempts=2,
    )
    manifest = extract_in_process(settings, tmp_path / "run")
    assert manifest["documents"]["failed"] == 2
    for reason in manifest["failed"].values():
        assert reason.startswith(f"cannot connect to {url}/chat/completions")
    assert manifest["transport_retries"] == 2


def test_missing_key_names_the_fix(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1, fact=SENTENCE)
    settings = Settings(model="openai/gpt-4o-mini", paths=[tmp_path / "docs"], cache_mode="off")
    with pytest.raises(ConfigError, match=r"OPENAI_API_KEY is not set.*local/smollm2-135m"):
        extract_in_process(settings, tmp_path / "run")


FIRST = "Meta agreed to invest about $14 billion in Scale AI."
SECOND = "Scale AI co-founder Alexandr Wang will join Meta, according to Bloomberg."
# Candidates: organizations Meta, Scale AI, Bloomberg; person Alexandr Wang; title co-founder;
# one deal candidate (FIRST: an investment word, an amount, two organizations).
ARTICLE = f"{FIRST} {SECOND}\n"


def sha256_of_schema(schema: dict[str, Any]) -> str:
    """A JSON Schema's hash as dealx records it: of its canonical JSON."""
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def schema_of(body: dict[str, Any]) -> dict[str, Any]:
    return body["response_format"]["json_schema"]["schema"]


def article_of(body: dict[str, Any]) -> str:
    """The text a question is about: what the prompt puts between <article> tags."""
    user = body["messages"][-1]["content"]
    return user.split("<article>\n", 1)[1].split("\n</article>", 1)[0]


class ConstrainedModel:
    """Answers the constrained strategy's questions as a model under constrained decoding
    would: with the scripted picks, each answer checked against the JSON Schema the request
    carries (an answer outside its enums raises, which the fake server records in `errors`
    and answers with a 500). Deal questions are answered by the first marker their passage
    holds, else with deal_type none."""

    def __init__(
        self,
        companies: list[str],
        people: list[dict[str, Any]],
        deals: dict[str, dict[str, Any]],
    ) -> None:
        self.companies = companies
        self.people = people
        self.deals = deals

    def __call__(self, body: dict[str, Any], index: int) -> Reply:
        schema = schema_of(body)
        answer: dict[str, Any]
        if schema["title"] == "CompaniesAnswer":
            picks = [{"name": name, "org_type": "company"} for name in self.companies]
            answer = {"companies": picks}
        elif schema["title"] == "PeopleAnswer":
            answer = {"people": self.people}
        else:
            passage = article_of(body)
            deal = next((d for m, d in self.deals.items() if m in passage), {"deal_type": "none"})
            answer = {"answer": deal}
        jsonschema.validate(answer, schema)
        return Reply(json.dumps(answer))


def write_article(docs: Path) -> ConstrainedModel:
    """ARTICLE as docs/a.txt, and a model that picks its three organizations, Alexandr Wang and
    FIRST's investment."""
    docs.mkdir()
    (docs / "a.txt").write_text(ARTICLE)
    wang = {"name": "Alexandr Wang", "roles": [{"title": "co-founder", "organization": "Scale AI"}]}
    investment = {
        "deal_type": "investment",
        "investors": ["Meta"],
        "target": "Scale AI",
        "status": "agreed",
    }
    return ConstrainedModel(["Meta", "Scale AI", "Bloomberg"], [wang], {FIRST: investment})


def test_constrained_strategy_sends_enum_schemas_and_rejects_too_few_picks(
    tmp_path: Path,
) -> None:
    model = write_article(tmp_path / "docs")
    with FakeOpenAI(model) as server:
        settings = fake_settings(server.base_url, tmp_path, strategy="constrained")
        manifest = extract_in_process(settings, tmp_path / "run")
        bodies = [request.body for request in server.chat_requests]
        assert server.errors == []
    assert manifest["prompt"] == "constrained_v2" and manifest["documents"]["ok"] == 1
    # Organizations, people, then one question per deal candidate (here one).
    companies, people, deal = (schema_of(body) for body in bodies)
    # The manifest names the three schemas sent: the hash of their sorted hashes.
    sent = sorted(sha256_of_schema(schema) for schema in (companies, people, deal))
    assert manifest["schemas"] == 3
    assert manifest["schema_sha256"] == hashlib.sha256("\n".join(sent).encode()).hexdigest()
    tasks = [body["messages"][-1]["content"] for body in bodies]
    assert tasks[0].endswith(f"Task: {INSTRUCTIONS['companies']}")
    assert tasks[1].endswith(f"Task: {INSTRUCTIONS['people']}")
    assert tasks[2].endswith(f"Task: {INSTRUCTIONS['deal']}")
    assert article_of(bodies[0]) == article_of(bodies[1]) == ARTICLE
    # The deal question reads only its passage, not the whole article.
    assert article_of(bodies[2]) == FIRST

    assert companies["properties"]["companies"]["minItems"] == 3  # fewer than the usual 5
    company_pick = companies["$defs"]["CompanyPick"]["properties"]
    assert company_pick["name"]["enum"] == ["Meta", "Scale AI", "Bloomberg"]
    person_pick = people["$defs"]["PersonPick"]["properties"]
    assert person_pick["name"]["const"] == "Alexandr Wang"
    role = people["$defs"]["RolePick"]["properties"]
    assert role["title"]["const"] == "co-founder"
    assert role["organization"]["anyOf"][0]["enum"] == ["Meta", "Scale AI", "Bloomberg"]
    # Only "none" and the types the sentence's wording allows ("invest": an investment), and
    # only the organizations this passage names (not Bloomberg).
    shapes = [ref["$ref"].rsplit("/", 1)[1] for ref in deal["properties"]["answer"]["anyOf"]]
    assert shapes == ["NoDeal", "Investment"]
    investment_shape = deal["$defs"]["Investment"]["properties"]
    assert investment_shape["investors"]["items"]["enum"] == ["Meta", "Scale AI"]
    assert investment_shape["target"]["enum"] == ["Meta", "Scale AI"]
    assert investment_shape["status"]["const"] == "agreed"

    record = json.loads((tmp_path / "run" / "records" / "a.json").read_text())
    assert [c["name"] for c in record["companies"]] == ["Meta", "Scale AI", "Bloomberg"]
    assert record["people"][0]["roles"] == [{"title": "co-founder", "organization": "Scale AI"}]
    [made] = record["deals"]
    assert [(p["name"], p["role"]) for p in made["parties"]] == [
        ("Meta", "investor"),
        ("Scale AI", "target"),
    ]
    # The model never quotes: the amount and the evidence come from the candidate sentence.
    assert made["amount"] == {"value": 14e9, "currency": "USD", "qualifier": "about"}
    assert made["status"] == "agreed" and [e["quote"] for e in made["evidence"]] == [FIRST]

    # One pick where the schema asks for at least three: re-asked once, then the document fails
    # at its first question (nothing further is asked).
    too_few = json.dumps({"companies": [{"name": "Meta", "org_type": "company"}]})
    with FakeOpenAI(Reply(too_few)) as server:
        settings = fake_settings(
            server.base_url, tmp_path, strategy="constrained", max_retries=1, cache_mode="off"
        )
        manifest = extract_in_process(settings, tmp_path / "few")
        requests = server.chat_requests
    assert manifest["documents"]["failed"] == 1
    assert "invalid response after 2 attempt(s)" in manifest["failed"]["a"]
    assert len(requests) == 2 and manifest["reasks"] == 1
    assert all(schema_of(r.body)["title"] == "CompaniesAnswer" for r in requests)
    assert "at least 3 items" in requests[1].text  # the re-ask carries the validation error
    assert not (tmp_path / "few" / "records" / "a.json").exists()


def test_constrained_picks_are_merged_and_deduplicated(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    third = "The investment gives Meta a 49% stake in Scale AI."
    (docs / "a.txt").write_text(f"{FIRST} {SECOND} {third}\n")
    # A small model told to pick at least three organizations repeats one; people likewise;
    # and two sentences report the same investment, one naming its investor twice.
    wang = {"name": "Alexandr Wang", "roles": [{"title": "co-founder", "organization": "Scale AI"}]}
    investment = {"deal_type": "investment", "target": "Scale AI"}
    deals = {
        FIRST: {**investment, "investors": ["Meta", "Meta"], "status": "agreed"},
        third: {**investment, "investors": ["Meta"], "status": "completed"},
    }
    model = ConstrainedModel(["Meta", "Scale AI", "Meta"], [wang, wang], deals)
    with FakeOpenAI(model) as server:
        manifest = extract_in_process(
            fake_settings(server.base_url, tmp_path, strategy="constrained"), tmp_path / "run"
        )
        # Organizations, people, and one question per deal candidate.
        assert server.count() == 4 and server.count(INSTRUCTIONS["deal"]) == 2
        assert server.errors == []
    assert manifest["documents"]["ok"] == 1, manifest["failed"]
    assert manifest["records"] == {"companies": 2, "people": 1, "deals": 1}
    record = json.loads((tmp_path / "run" / "records" / "a.json").read_text())
    assert [c["name"] for c in record["companies"]] == ["Meta", "Scale AI"]
    assert [[e["quote"] for e in c["evidence"]] for c in record["companies"]] == [[FIRST], [FIRST]]
    [person] = record["people"]
    assert person["name"] == "Alexandr Wang" and len(person["roles"]) == 1
    assert [e["quote"] for e in person["evidence"]] == [SECOND]
    # One deal: the first report wins and gains the second's sentence as evidence.
    [deal] = record["deals"]
    assert [(p["name"], p["role"]) for p in deal["parties"]] == [
        ("Meta", "investor"),
        ("Scale AI", "target"),
    ]
    assert deal["amount"]["value"] == 14e9 and deal["status"] == "agreed"
    assert [e["quote"] for e in deal["evidence"]] == [FIRST, third]


def test_constrained_run_writes_candidates_and_value_spans(tmp_path: Path) -> None:
    model = write_article(tmp_path / "docs")
    with FakeOpenAI(model) as server:
        # No strategy given: "constrained" is the default for local/ models only.
        assert fake_settings(server.base_url, tmp_path).strategy == "plain"
        manifest = extract_in_process(
            fake_settings(server.base_url, tmp_path, strategy="constrained"), tmp_path / "run"
        )
        assert server.errors == []
    assert manifest["documents"]["ok"] == 1
    offered = json.loads((tmp_path / "run" / "candidates" / "a.json").read_text())
    assert offered["doc_id"] == "a"
    assert offered["organizations"] == ["Meta", "Scale AI", "Bloomberg"]
    assert offered["people"] == ["Alexandr Wang"] and offered["titles"] == ["co-founder"]
    assert offered["amounts"] == [{"text": "about $14 billion", "value": 14e9}]
    assert offered["deals"] == [
        {
            "sentence": FIRST,
            "context": None,
            "parties": ["Meta", "Scale AI"],
            "people": [],
            "types": ["investment"],
            "statuses": ["agreed"],
        }
    ]

    def table(name: str) -> list[dict[str, str]]:
        with (tmp_path / "run" / f"{name}.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows and list(rows[0])[-2:] == ["grounded", "spans"]
        return rows

    def spans(row: dict[str, str]) -> dict[str, str]:
        """Each `field=start:end` of the cell, as the article's text at those offsets."""
        found = {}
        for cell in row["spans"].split("; "):
            field, offsets = cell.split("=")
            start, end = offsets.split(":")
            found[field] = ARTICLE[int(start) : int(end)]
        return found

    companies, people, deals = table("companies"), table("people"), table("deals")
    assert [row["grounded"] for row in [*companies, *people, *deals]] == ["True"] * 5
    assert [spans(row) for row in companies] == [
        {"name": "Meta"},
        {"name": "Scale AI"},
        {"name": "Bloomberg"},
    ]
    assert spans(people[0]) == {
        "name": "Alexandr Wang",
        "roles[0].title": "co-founder",
        "roles[0].organization": "Scale AI",
    }
    assert spans(deals[0]) == {
        "parties[0].name": "Meta",
        "parties[1].name": "Scale AI",
        "amount": "$14 billion",
    }
    # The first mentions, in the sentence that states them.
    assert deals[0]["spans"] == "parties[0].name=0:4; parties[1].name=43:51; amount=28:39"


def test_a_record_listed_twice_in_one_answer_is_kept_once(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1, fact=SENTENCE)
    doubled = json.loads(ANSWER)
    doubled["companies"] = [*doubled["companies"], *doubled["companies"]]
    doubled["deals"] = [*doubled["deals"], *doubled["deals"]]
    with FakeOpenAI(Reply(json.dumps(doubled))) as server:
        manifest = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
    assert manifest["records"] == {"companies": 1, "people": 0, "deals": 1}


def test_grounding_modes_write_rejections(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Meta invests in Scale AI.\n")
    answer = json.loads(ANSWER)
    answer["companies"] += [
        # A quote the article does not contain.
        {"name": "Apple", "evidence": [{"quote": "Apple buys Meta"}]},
        # In the article, but not in its own evidence: support, not presence.
        {"name": "Scale AI", "evidence": [{"quote": "Meta invests"}]},
    ]
    # The deal's quote names both parties but not its amount ($14 billion) or stake (49%).
    answer["deals"][0]["evidence"] = [{"quote": "Meta invests in Scale AI"}]
    with FakeOpenAI(Reply(json.dumps(answer))) as server:
        strict = extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "strict")
        flag = extract_in_process(
            fake_settings(server.base_url, tmp_path, grounding="flag"), tmp_path / "flag"
        )
        off = extract_in_process(
            fake_settings(server.base_url, tmp_path, grounding="off"), tmp_path / "off"
        )
    records = {
        mode: json.loads((tmp_path / mode / "records" / "a.json").read_text())
        for mode in ("strict", "flag", "off")
    }
    kept = {mode: [c["name"] for c in r["companies"]] for mode, r in records.items()}
    assert kept == {
        "strict": ["Meta"],
        "flag": ["Meta", "Apple", "Scale AI"],
        "off": ["Meta", "Apple", "Scale AI"],
    }
    # strict keeps the deal without the values its evidence does not state; flag keeps them
    # and marks the record (and Scale AI's span, found elsewhere in the article) ungrounded.
    strict_deal, flag_deal = records["strict"]["deals"][0], records["flag"]["deals"][0]
    assert strict_deal["amount"] is None and strict_deal["stake_percent"] is None
    assert strict_deal["grounded"] is True
    assert flag_deal["amount"]["value"] == 14e9 and flag_deal["stake_percent"] == 49
    assert flag_deal["grounded"] is False
    assert [c["grounded"] for c in records["flag"]["companies"]] == [True, False, False]
    scale = records["flag"]["companies"][2]["spans"]
    assert scale == [
        {"field": "name", "text": "Scale AI", "start": 16, "end": 24, "grounded": False}
    ]

    rejected = [json.loads(line) for line in (tmp_path / "strict" / "rejected.jsonl").open()]
    assert {(r["record_type"], r["index"], r["field"], r["level"]) for r in rejected} == {
        ("company", 1, "evidence", "value"),  # the quote itself
        ("company", 1, "evidence", "record"),  # no quote left
        ("company", 1, "name", "record"),
        ("company", 2, "name", "record"),
        ("deal", 0, "amount", "value"),
        ("deal", 0, "stake_percent", "value"),
    }
    assert {r["action"] for r in rejected} == {"dropped"} and len(rejected) == 6
    [scale_ai] = [r for r in rejected if r["record"] == "Scale AI"]
    assert scale_ai["value"] == "Scale AI" and scale_ai["quotes"] == ["Meta invests"]
    assert scale_ai["reason"] == "name is not in the record's evidence"
    [amount] = [r for r in rejected if r["field"] == "amount"]
    assert amount["record"] == "investment: Meta (investor), Scale AI (target)"
    assert amount["value"] == {"value": 14e9, "currency": "USD", "qualifier": "about"}
    flagged = [json.loads(line) for line in (tmp_path / "flag" / "rejected.jsonl").open()]
    assert [{**r, "action": "dropped"} for r in flagged] == rejected
    assert not (tmp_path / "off" / "rejected.jsonl").exists()

    # Apple's two record-level findings count as one record: Apple and Scale AI; the values are
    # Apple's quote, the amount and the stake.
    assert strict["rejected"] == {
        "records_dropped": 2,
        "records_flagged": 0,
        "values_dropped": 3,
        "values_flagged": 0,
    }
    assert flag["rejected"] == {
        "records_dropped": 0,
        "records_flagged": 2,
        "values_dropped": 0,
        "values_flagged": 3,
    }
    assert set(off["rejected"].values()) == {0} and off["support"] == {}
    # Support is counted before anything is dropped, so it is the same in strict and flag.
    for manifest in (strict, flag):
        support = manifest["support"]
        assert support["company"] == {
            "records": 3,
            "records_supported": 1,
            "values": 3,
            "values_supported": 1,
            "support_rate": 0.3333,
            "value_support_rate": 0.3333,
        }
        assert (support["deal"]["records_supported"], support["deal"]["values"]) == (0, 4)
        assert support["deal"]["values_supported"] == 2  # the parties
        assert support["all"]["records"] == 4 and support["all"]["support_rate"] == 0.25


def test_latest_points_at_the_newest_run_in_the_runs_folder_only(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1, fact=SENTENCE)
    runs = tmp_path / "runs"
    started = datetime(2026, 6, 11, 9, 30, 5, tzinfo=UTC)
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path, runs_dir=runs)
        first = default_run_dir(runs, settings.model, settings.prompt_name, now=started)
        assert first == runs / "openai-fake-model-extract_v2-20260611T093005Z"
        extract_in_process(settings, first)
        # Started in the same second: a fresh name, not the first run's folder (whose documents
        # would all be skipped as done).
        second = default_run_dir(runs, settings.model, settings.prompt_name, now=started)
        assert second == runs / "openai-fake-model-extract_v2-20260611T093005Z-2"
        manifest = extract_in_process(settings, second)
        assert manifest["documents"]["skipped_already_done"] == 0
        assert (runs / "latest").readlink() == Path(second.name)
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "elsewhere" / "latest").write_text("a user's own file")
        manifest = extract_in_process(settings, tmp_path / "elsewhere" / "run")
    assert manifest["documents"]["ok"] == 1
    assert (tmp_path / "elsewhere" / "latest").read_text() == "a user's own file"
    assert (runs / "latest").readlink() == Path(second.name)


def test_manifest_records_what_the_run_was(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2, fact=SENTENCE)
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path, model="openai/gpt-4o-mini")
        manifest = extract_in_process(settings, tmp_path / "run")
    on_disk = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["model"] == "openai/gpt-4o-mini"
    assert manifest["base_url"] == server.base_url
    assert manifest["prompt"] == "extract_v2"
    assert manifest["prompt_sha256"] == load_prompt("extract_v2").sha256
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
