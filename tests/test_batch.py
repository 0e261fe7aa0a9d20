"""Batch runs through the Batch API against the fake server's /v1/files and /v1/batches: the
input lines are the live requests, every custom_id ends ok, failed, expired, invalid or
missing, the counts add up, retries finish the rest, and nothing is ever submitted twice."""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pipeline.batch.jsonl import Limits
from pipeline.batch.run import (
    batch_status,
    cancel_batch,
    collect_batch,
    extract_batch,
    submit_batch,
)
from pipeline.pricing import Price
from pipeline.store.cache import ResponseCache
from schemas.errors import (
    EXIT_PENDING,
    EXIT_USAGE,
    BatchApiError,
    BatchPending,
    BudgetExceeded,
    ConfigError,
    InputError,
)
from tests.dealx_process import (
    ANSWER,
    FACT,
    dealx_env,
    extract_args,
    extract_in_process,
    fake_settings,
    run_dealx,
    write_docs,
)
from tests.fake_openai import (
    BATCHES_PATH,
    FILES_PATH,
    BatchPlan,
    FakeOpenAI,
    Reply,
    ScriptByMarker,
    Status,
)

INVALID = '{"companies": [{"name": ""}]}'  # an empty name does not validate
FAST = 0.01  # seconds between polls of the fake


def posts(server: FakeOpenAI, path: str) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path == path)


def statuses(run_dir: Path) -> dict[str, tuple[str, str | None, str | None]]:
    """custom_id -> (status, via, reason) from the run's ledger."""
    with sqlite3.connect(run_dir / "batch" / "ledger.sqlite") as db:
        rows = db.execute("SELECT custom_id, status, via, reason FROM requests").fetchall()
    return {row[0]: row[1:] for row in rows}


def documents(run_dir: Path) -> dict[str, dict[str, str]]:
    with (run_dir / "documents.csv").open(encoding="utf-8") as handle:
        return {row["doc_id"]: row for row in csv.DictReader(handle)}


def input_lines(server: FakeOpenAI) -> list[dict[str, Any]]:
    """Every line of every batch's input file."""
    lines = []
    for batch in server.batches.values():
        data = server.files[batch["input_file_id"]]
        lines.extend(json.loads(line) for line in data.splitlines() if line.strip())
    return lines


def assert_adds_up(manifest: dict[str, Any]) -> None:
    batch = manifest["batch"]
    named = ("pending", "submitted", "answered", "ok", "failed", "expired", "invalid", "missing")
    assert sum(batch[status] for status in named) == batch["requests"]


def running_batch(server: FakeOpenAI, tmp_path: Path) -> Path:
    """A run whose one batch (2 requests) the fake keeps running (a server whose BatchPlan
    ends batches after 1,000 polls)."""
    write_docs(tmp_path / "docs", 2)
    run = tmp_path / "run"
    with pytest.raises(BatchPending, match="still in running batches"):
        extract_batch(fake_settings(server.base_url, tmp_path), run, wait=False)
    return run


def test_batch_lines_are_the_live_requests(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    with FakeOpenAI(Reply(ANSWER)) as server:
        live = fake_settings(server.base_url, tmp_path, cache=tmp_path / "live.sqlite")
        extract_in_process(live, tmp_path / "live")
        sent = {json.dumps(r.body, sort_keys=True) for r in server.chat_requests}
        batch = fake_settings(server.base_url, tmp_path, cache=tmp_path / "batch.sqlite")
        submit_batch(batch, tmp_path / "batch")
        lines = input_lines(server)
    assert {json.dumps(line["body"], sort_keys=True) for line in lines} == sent
    assert all(line["method"] == "POST" and line["url"] == "/v1/chat/completions" for line in lines)
    # custom_id is the cache key the live run stored its answers under.
    with ResponseCache(tmp_path / "live.sqlite") as cache:
        assert {entry.key for entry in cache.entries()} == {line["custom_id"] for line in lines}


def test_batch_run_writes_what_a_live_run_writes_and_replays_offline(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 4)
    with FakeOpenAI(Reply(ANSWER)) as server:
        live = fake_settings(server.base_url, tmp_path, cache=tmp_path / "live.sqlite")
        extract_in_process(live, tmp_path / "live")
        settings = fake_settings(server.base_url, tmp_path)
        manifest = extract_batch(settings, tmp_path / "run", poll_s=FAST)
        chat_calls = len(server.chat_requests)
    assert chat_calls == len(ids)  # the live run's only: the batch made no live call
    for doc_id in ids:
        batch_record = (tmp_path / "run" / "records" / f"{doc_id}.json").read_text()
        assert batch_record == (tmp_path / "live" / "records" / f"{doc_id}.json").read_text()
    assert manifest["documents"]["ok"] == len(ids)
    assert manifest["batch"]["requests"] == manifest["batch"]["ok"] == len(ids)
    assert_adds_up(manifest)
    assert manifest["batch_tokens_in"] > 0 and manifest["tokens_in"] == 0
    assert manifest["run"]["batch_tokens_in"] == manifest["batch_tokens_in"]
    rows = documents(tmp_path / "run")
    assert all(rows[d]["requests_ok"] == "1" and int(rows[d]["batch_tokens_in"]) > 0 for d in ids)
    assert (tmp_path / "run" / "batch" / "input-000.jsonl").is_file()
    assert manifest["batch"]["parts"][0]["batch_id"] == "batch_fake0"
    # The answers are in the cache: the same run replays with no server at all.
    offline = fake_settings(server.base_url, tmp_path, cache_mode="replay")  # closed now
    replayed = extract_in_process(offline, tmp_path / "replayed")
    assert replayed["documents"]["ok"] == len(ids) and replayed["cache_hits"] == len(ids)


def test_requests_split_into_parts_within_the_limits(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 7)
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path)
        manifest = extract_batch(settings, tmp_path / "run", poll_s=FAST, limits=Limits(3))
        assert posts(server, BATCHES_PATH) == 3
        sizes = [
            len(server.files[b["input_file_id"]].splitlines()) for b in server.batches.values()
        ]
    assert sorted(sizes) == [1, 3, 3]
    assert manifest["documents"]["ok"] == 7 and manifest["batch"]["ok"] == 7
    one_line = (tmp_path / "run" / "batch" / "input-000.jsonl").read_bytes().splitlines()[0]
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path, cache=tmp_path / "other.sqlite")
        limits = Limits(requests=50_000, bytes=2 * len(one_line) + 10)
        manifest = extract_batch(settings, tmp_path / "by-bytes", poll_s=FAST, limits=limits)
        assert posts(server, BATCHES_PATH) == 4
    assert manifest["documents"]["ok"] == 7
    for part in (tmp_path / "by-bytes" / "batch").glob("input-*.jsonl"):
        assert part.stat().st_size <= limits.bytes


def test_every_request_ends_ok_failed_expired_invalid_or_missing(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 6)
    # Lines are answered in document order: doc 4 and 5 expire, doc 3 is dropped from both
    # files, doc 1 gets a 500 and doc 2 an answer that does not validate.
    script = ScriptByMarker({ids[1]: [Status(500, message="overloaded")], ids[2]: [Reply(INVALID)]})
    plan = BatchPlan(expire_after=4, omit=frozenset({3}))
    with FakeOpenAI(script, batch_plan=plan) as server:
        settings = fake_settings(server.base_url, tmp_path)
        manifest = extract_batch(settings, tmp_path / "run", poll_s=FAST)
    run = tmp_path / "run"
    batch = manifest["batch"]
    assert (batch["ok"], batch["failed"], batch["invalid"], batch["missing"], batch["expired"]) == (
        1,
        1,
        1,
        1,
        2,
    )
    assert_adds_up(manifest)
    assert manifest["batch"]["parts"][0]["status"] == "expired"
    assert manifest["documents"] == {
        "ok": 1,
        "failed": 5,
        "skipped_already_done": 0,
        "records_in_run": 1,
    }
    rows = documents(run)
    assert rows[ids[0]]["status"] == "ok"
    assert rows[ids[1]]["requests_failed"] == "1" and "HTTP 500" in rows[ids[1]]["error"]
    assert "overloaded" in rows[ids[1]]["error"]
    assert rows[ids[2]]["requests_invalid"] == "1" and "invalid" in rows[ids[2]]["error"]
    assert int(rows[ids[2]]["batch_tokens_in"]) > 0  # an invalid answer was still billed
    assert rows[ids[3]]["requests_missing"] == "1" and "neither" in rows[ids[3]]["error"]
    assert rows[ids[4]]["requests_expired"] == "1" and "batch_expired" in rows[ids[4]]["error"]
    errors = [json.loads(line) for line in (run / "errors.jsonl").read_text().splitlines()]
    assert sorted(e["doc_id"] for e in errors) == ids[1:]
    assert not (run / "records" / f"{ids[1]}.json").exists()


def test_retry_live_finishes_the_rest_and_reasks_invalid_answers(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 4)
    batch_script = ScriptByMarker({ids[1]: [Reply(INVALID)], ids[2]: [Status(500)]}, Reply(ANSWER))
    with FakeOpenAI(batch_script, batch_plan=BatchPlan(expire_after=3)) as server:
        settings = fake_settings(server.base_url, tmp_path)
        manifest = extract_batch(settings, tmp_path / "run", poll_s=FAST)
        assert manifest["documents"]["failed"] == 3
        # Live: the invalid one is answered invalid again, then re-asked with the error.
        server.handler = ScriptByMarker({ids[1]: [Reply(INVALID), Reply(ANSWER)]}, Reply(ANSWER))
        manifest = collect_batch(tmp_path / "run", retry="live", poll_s=FAST)
        assert server.count(ids[1]) == 2 and server.count(ids[2]) == 1
        assert server.count(ids[0]) == 0  # answered by the batch: not asked again
    assert manifest["documents"] == {
        "ok": 3,
        "failed": 0,
        "skipped_already_done": 1,
        "records_in_run": 4,
    }
    ended = statuses(tmp_path / "run")
    assert sorted(via for _, via, _ in ended.values()) == ["batch", "live", "live", "live"]
    assert manifest["batch"]["ok"] == manifest["batch"]["requests"] == 4
    assert manifest["reasks"] == 1 and manifest["tokens_in"] > 0
    assert manifest["run"]["live_tokens_in"] == manifest["tokens_in"]
    rows = documents(tmp_path / "run")
    assert rows[ids[1]]["status"] == "ok" and rows[ids[1]]["reasks"] == "1"


def test_retry_batch_submits_only_what_did_not_end_ok(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 5)
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(expire_after=2)) as server:
        settings = fake_settings(server.base_url, tmp_path)
        first = extract_batch(settings, tmp_path / "run", poll_s=FAST)
        assert first["batch"]["expired"] == 3 and first["documents"]["failed"] == 3
        server.batch_plan = BatchPlan()
        manifest = collect_batch(tmp_path / "run", retry="batch", poll_s=FAST)
        follow_up = list(server.batches.values())[-1]
        resent = server.files[follow_up["input_file_id"]].splitlines()
    assert len(server.batches) == 2 and len(resent) == 3
    assert manifest["documents"]["ok"] == 3 and manifest["documents"]["records_in_run"] == 5
    assert manifest["batch"]["ok"] == manifest["batch"]["requests"] == 5
    assert not server.chat_requests
    assert {p["status"] for p in manifest["batch"]["parts"]} == {"expired", "completed"}
    assert set(documents(tmp_path / "run")) == set(ids)


def test_a_batch_that_fails_validation_fails_every_request_with_the_reason(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 3)
    plan = BatchPlan(fail="line 1: model not available for batch")
    with FakeOpenAI(Reply(ANSWER), batch_plan=plan) as server:
        settings = fake_settings(server.base_url, tmp_path)
        manifest = extract_batch(settings, tmp_path / "run", poll_s=FAST)
        assert manifest["batch"]["failed"] == 3 and manifest["documents"]["failed"] == 3
        assert all("model not available" in r for _, _, r in statuses(tmp_path / "run").values())
        server.batch_plan = BatchPlan()
        manifest = collect_batch(tmp_path / "run", retry="batch", poll_s=FAST)
    assert manifest["documents"]["ok"] == 3 and manifest["batch"]["ok"] == 3


def test_cancel_ends_unfinished_requests_failed(tmp_path: Path) -> None:
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=1000)) as server:
        running_batch(server, tmp_path)
        assert batch_status(tmp_path / "run").parts[0]["status"] == "in_progress"
        assert cancel_batch(tmp_path / "run") == ["batch_fake0"]
        assert posts(server, f"{BATCHES_PATH}/batch_fake0/cancel") == 1
        manifest = collect_batch(tmp_path / "run", poll_s=FAST)
    assert manifest["batch"]["parts"][0]["status"] == "cancelled"
    assert manifest["batch"]["failed"] == 2 and manifest["documents"]["failed"] == 2
    assert all("cancelled" in reason for _, _, reason in statuses(tmp_path / "run").values())


def test_rerunning_never_submits_twice_nor_loses_a_request(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 3)
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=3)) as server:
        settings = fake_settings(server.base_url, tmp_path)
        with pytest.raises(BatchPending):
            extract_batch(settings, tmp_path / "run", wait=False)
        with pytest.raises(BatchPending):
            extract_batch(settings, tmp_path / "run", wait=False)
        manifest = extract_batch(settings, tmp_path / "run", poll_s=FAST)
        again = extract_batch(settings, tmp_path / "run", poll_s=FAST)
        assert (posts(server, FILES_PATH), posts(server, BATCHES_PATH)) == (1, 1)
    assert manifest["documents"]["ok"] == 3 and again["documents"]["skipped_already_done"] == 3
    assert len(input_lines(server)) == len(ids)


def test_a_damaged_record_is_written_again_from_the_batch_answers(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 3)
    damaged = tmp_path / "run" / "records" / f"{ids[0]}.json"
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path)
        extract_batch(settings, tmp_path / "run", poll_s=FAST)
        whole = damaged.read_text()
        damaged.write_text(whole[:40])  # cut short, as by a full disk
        again = extract_batch(settings, tmp_path / "run", poll_s=FAST)
        assert (posts(server, FILES_PATH), posts(server, BATCHES_PATH)) == (1, 1)
    assert damaged.read_text() == whole
    assert again["documents"]["ok"] == 1 and again["documents"]["skipped_already_done"] == 2
    assert again["records"] == {"companies": 6, "people": 0, "deals": 3}


def test_a_live_run_into_a_batch_still_out_is_refused_before_any_call(tmp_path: Path) -> None:
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=1000)) as server:
        run = running_batch(server, tmp_path)
        with pytest.raises(InputError, match=r"its batch is still out \(2 request"):
            extract_in_process(fake_settings(server.base_url, tmp_path), run)
        assert server.chat_requests == []
    assert not list((tmp_path / "run" / "records").glob("*.json"))


def test_a_batch_into_a_run_of_other_settings_submits_nothing(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    with FakeOpenAI(Reply(ANSWER)) as server:
        extract_in_process(fake_settings(server.base_url, tmp_path), tmp_path / "run")
        (tmp_path / "run" / "records" / "doc-0000.json").unlink()
        flag = fake_settings(server.base_url, tmp_path, grounding="flag")
        with pytest.raises(InputError, match="extracted with grounding strict, not flag"):
            submit_batch(flag, tmp_path / "run")
        assert posts(server, FILES_PATH) == posts(server, BATCHES_PATH) == 0


def test_a_lost_create_is_found_again_not_repeated(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(lose_creates=1)) as server:
        settings = fake_settings(server.base_url, tmp_path)
        with pytest.raises(BatchApiError, match="HTTP 502"):
            extract_batch(settings, tmp_path / "run", poll_s=FAST)
        assert len(server.batches) == 1  # made, though its answer was lost
        manifest = extract_batch(settings, tmp_path / "run", poll_s=FAST)
        assert (posts(server, FILES_PATH), len(server.batches)) == (1, 1)
    assert manifest["documents"]["ok"] == 2


def test_budget_is_checked_before_anything_is_submitted(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 3)
    price = {"openai/fake-model": Price(1.0, 4.0, 0.5)}
    with FakeOpenAI(Reply(ANSWER)) as server:
        small = fake_settings(server.base_url, tmp_path, prices=price, max_cost_usd=0.001)
        with pytest.raises(BudgetExceeded, match="nothing was submitted"):
            extract_batch(small, tmp_path / "run", poll_s=FAST)
        assert posts(server, FILES_PATH) == posts(server, BATCHES_PATH) == 0
        enough = fake_settings(server.base_url, tmp_path, prices=price, max_cost_usd=1.0)
        manifest = extract_batch(enough, tmp_path / "run", poll_s=FAST)
    assert manifest["documents"]["ok"] == 3
    run = manifest["run"]
    expected = (run["batch_tokens_in"] * 1.0 + run["batch_tokens_out"] * 4.0) * 0.5 / 1e6
    assert run["cost_usd"] == pytest.approx(expected, abs=1e-6)


def test_batch_needs_an_openai_model_and_a_cache(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 1)
    with pytest.raises(ConfigError, match="Batch API"):
        submit_batch(fake_settings("http://127.0.0.1:9/v1", tmp_path, model="ollama/x"), tmp_path)
    with pytest.raises(ConfigError, match="cache"):
        submit_batch(fake_settings("http://127.0.0.1:9/v1", tmp_path, cache_mode="off"), tmp_path)


def test_a_document_is_done_when_all_its_requests_are(tmp_path: Path) -> None:
    ids = write_docs(tmp_path / "docs", 2)
    # A long article split into several chunks, one request each; its id sorts last, so
    # its requests are the last lines and the last one expires.
    paragraph = "Article zz-long: " + f"{FACT} " * 10
    (tmp_path / "docs" / "zz-long.txt").write_text("\n\n".join([paragraph] * 4) + "\n")
    with FakeOpenAI(Reply(ANSWER)) as server:
        settings = fake_settings(server.base_url, tmp_path, context_tokens=1200, max_tokens=1000)
        server.batch_plan = BatchPlan()
        probe = submit_batch(settings, tmp_path / "probe")
        server.batch_plan = BatchPlan(expire_after=probe.requests - 1)
        other = fake_settings(
            server.base_url,
            tmp_path,
            cache=tmp_path / "other.sqlite",
            context_tokens=1200,
            max_tokens=1000,
        )
        manifest = extract_batch(other, tmp_path / "run", poll_s=FAST)
        rows = documents(tmp_path / "run")
        long = rows["zz-long"]
        assert int(long["requests"]) == probe.requests - len(ids) >= 2
        assert long["status"] == "failed" and long["requests_expired"] == "1"
        assert int(long["requests_ok"]) == int(long["requests"]) - 1
        assert f"1 of {long['requests']} request(s)" in long["error"]
        assert [rows[d]["status"] for d in ids] == ["ok", "ok"]
        manifest = collect_batch(tmp_path / "run", retry="live", poll_s=FAST)
        assert len(server.chat_requests) == 1  # only the expired chunk is asked again
    assert manifest["documents"]["ok"] == 1 and manifest["batch"]["ok"] == probe.requests
    assert json.loads((tmp_path / "run" / "records" / "zz-long.json").read_text())["deals"]


def test_the_batch_commands(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs", 2)
    run = tmp_path / "run"
    env = dealx_env(tmp_path)
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=3)) as server:
        args = extract_args(server.base_url, tmp_path / "docs", out=run, cache=tmp_path / "c.db")
        submitted = run_dealx([*args, "--batch", "--no-wait"], env=env)
        assert submitted.returncode == EXIT_PENDING, submitted.stderr
        assert "still in running batches" in submitted.stderr
        status = run_dealx(["batch", "status", run], env=env)
        assert status.returncode == 0, status.stderr
        assert "part 0: batch batch_fake0 in_progress, 2 requests" in status.stdout
        assert "batch requests: 2 = 0 ok, 2 still in running batches" in status.stdout
        collected = run_dealx(["batch", "collect", run, "--poll-seconds", "0.01"], env=env)
        assert posts(server, BATCHES_PATH) == 1
    assert collected.returncode == 0, collected.stderr
    assert f"{run}: 2 ok, 0 failed" in collected.stdout
    assert "batch requests: 2 = 2 ok" in collected.stdout
    assert "cost no price for openai/fake-model" in collected.stdout
    not_batch = run_dealx(["batch", "status", tmp_path / "docs"], env=env)
    assert not_batch.returncode == EXIT_USAGE and "not a batch run" in not_batch.stderr
