"""A batch ledger that is damaged, another program's, empty or lost stops every batch command
with one line naming it (exit 2), is left as it was, and never leads to a second batch for
requests already submitted; unfinished_batch says, read-only, whether a run's batch still
has requests out; settings nested too deeply for the parsers are a ConfigError; a result line
the provider garbled fails its request alone, with the reason."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.batch.ledger import unfinished_batch
from pipeline.batch.run import (
    batch_status,
    cancel_batch,
    collect_batch,
    extract_batch,
    run_settings,
)
from pipeline.settings import load_settings
from schemas.errors import EXIT_USAGE, ConfigError, InputError
from tests.dealx_process import (
    ANSWER,
    dealx_env,
    extract_args,
    fake_settings,
    run_dealx,
    write_docs,
)
from tests.fake_openai import BATCHES_PATH, FILES_PATH, BatchPlan, FakeOpenAI, Reply
from tests.test_batch import documents, posts, running_batch

FAST = 0.01


def _other_program(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE parts (x)")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbage(path: Path) -> None:
    path.write_bytes(b"hello\n")


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:3000])


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage": (_garbage, "not a dealx batch ledger \\(file is not a database\\)"),
    "truncated": (_truncated, "the batch ledger is damaged \\(database disk image is malformed"),
    "other program": (_other_program, "not a dealx batch ledger \\(table parts has no column"),
    "empty": (_empty, "not a dealx batch ledger \\(it records no batch\\)"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_bad_ledger_stops_every_command_and_is_left_as_it_was(
    tmp_path: Path, damage: str
) -> None:
    spoil, problem = DAMAGE[damage]
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=1000)) as server:
        run = running_batch(server, tmp_path)
        ledger = run / "batch" / "ledger.sqlite"
        spoil(ledger)
        spoiled = ledger.read_bytes()
        settings = fake_settings(server.base_url, tmp_path)
        commands = [
            lambda: batch_status(run),
            lambda: collect_batch(run, poll_s=FAST),
            lambda: cancel_batch(run),
        ]
        for command in commands:
            with pytest.raises(InputError, match=f"^{ledger}: {problem}"):
                command()
        if damage == "empty":  # a ledger still to be filled in, beside an input file it lacks
            assert "input-000.jsonl of a batch that" in (unfinished_batch(run) or "")
            with pytest.raises(InputError, match="does not record"):
                extract_batch(settings, run, wait=False)
        else:
            with pytest.raises(InputError, match=f"^{ledger}: {problem}"):
                unfinished_batch(run)
            with pytest.raises(InputError, match=f"^{ledger}: {problem}"):
                extract_batch(settings, run, wait=False)
        assert ledger.read_bytes() == spoiled
        assert (posts(server, FILES_PATH), posts(server, BATCHES_PATH)) == (1, 1)


def test_a_lost_ledger_is_never_submitted_again(tmp_path: Path) -> None:
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=1000)) as server:
        run = running_batch(server, tmp_path)
        ledger = run / "batch" / "ledger.sqlite"
        ledger.unlink()
        with pytest.raises(InputError, match=r"input-000.jsonl of a batch that .* does not record"):
            extract_batch(fake_settings(server.base_url, tmp_path), run, wait=False)
        assert not ledger.exists()
        assert (posts(server, FILES_PATH), posts(server, BATCHES_PATH)) == (1, 1)
        with pytest.raises(InputError, match="not a batch run"):
            batch_status(run)
    assert "input-000.jsonl" in (unfinished_batch(run) or "")


def test_the_cli_says_one_line_and_exits_2(tmp_path: Path) -> None:
    env = dealx_env(tmp_path)
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=1000)) as server:
        run = running_batch(server, tmp_path)
        ledger = run / "batch" / "ledger.sqlite"
        _garbage(ledger)
        status = run_dealx(["batch", "status", run], env=env)
        _empty(ledger)
        args = extract_args(server.base_url, tmp_path / "docs", out=run, cache=tmp_path / "c.db")
        again = run_dealx([*args, "--batch", "--no-wait"], env=env)
        assert posts(server, BATCHES_PATH) == 1
    assert status.returncode == again.returncode == EXIT_USAGE
    assert (
        status.stderr
        == f"dealx: error: {ledger}: not a dealx batch ledger (file is not a database)\n"
    )
    # The last line only: a progress line may come first.
    assert again.stderr.splitlines()[-1].startswith(f"dealx: error: {run / 'batch'}")
    assert "nothing is submitted again" in again.stderr and "Traceback" not in again.stderr
    assert ledger.read_bytes() == b""


def test_damaged_settings_in_the_ledger_are_one_line(tmp_path: Path) -> None:
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=1000)) as server:
        run = running_batch(server, tmp_path)
    with sqlite3.connect(run / "batch" / "ledger.sqlite") as db:
        db.execute("UPDATE meta SET value = '[1, 2' WHERE key = 'settings'")
    with pytest.raises(InputError, match="the batch ledger is damaged \\(its settings cannot"):
        run_settings(run)


def test_unfinished_batch_says_what_is_still_out(tmp_path: Path) -> None:
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=3)) as server:
        run = running_batch(server, tmp_path)
        ledger = run / "batch" / "ledger.sqlite"
        before = ledger.read_bytes()
        assert unfinished_batch(run) == "2 request(s) of batch batch_fake0 not collected yet"
        assert ledger.read_bytes() == before  # read-only
        collect_batch(run, poll_s=FAST)
    assert unfinished_batch(run) is None


def test_unfinished_batch_of_a_folder_without_a_batch_is_none_and_creates_nothing(
    tmp_path: Path,
) -> None:
    assert unfinished_batch(tmp_path) is None
    assert unfinished_batch(tmp_path / "missing") is None
    assert list(tmp_path.iterdir()) == []


def test_unfinished_batch_counts_an_upload_whose_batch_was_not_recorded(tmp_path: Path) -> None:
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(polls=1000)) as server:
        run = running_batch(server, tmp_path)
    # As after a submit interrupted between the upload and recording the created batch.
    with sqlite3.connect(run / "batch" / "ledger.sqlite") as db:
        db.execute("UPDATE parts SET batch_id = NULL, status = NULL")
        db.execute("UPDATE requests SET status = 'pending'")
    assert unfinished_batch(run) == (
        f"2 request(s) uploaded from {run / 'batch' / 'input-000.jsonl'}, their batch not recorded"
    )


def test_settings_nested_too_deeply_are_a_config_error(tmp_path: Path) -> None:
    deep = "[" * 5000 + "]" * 5000
    with pytest.raises(ConfigError, match=r"^prices: invalid JSON: nested too deeply \(set by"):
        load_settings(pyproject=tmp_path / "none.toml", environ={"DEALX_PRICES": deep})
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.dealx]\nx = {'[' * 3000}{']' * 3000}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML: nested too deeply"):
        load_settings(pyproject=pyproject, environ={})


# A result line as the output file may hold it instead of an answer, and how its request ends.
GARBLED = {
    "cut short": ('{"custom_id": "{custom_id}", "respo', "missing", ": not valid JSON"),
    "nested too deeply": ("[" * 100_000 + "]" * 100_000, "missing", ": not valid JSON"),
    "an array": ("[1, 2]", "missing", ": not a JSON object"),
    "a numeric custom_id": ('{"custom_id": 5, "response": null}', "missing", ": no custom_id"),
    "a text response": (
        '{"custom_id": "{custom_id}", "response": "ok"}',
        "failed",
        "error without detail",
    ),
    "a text error": ('{"custom_id": "{custom_id}", "error": "boom"}', "failed", "boom"),
    "text usage": (
        '{"custom_id": "{custom_id}", "response": {"status_code": 200, '
        '"body": {"usage": {"prompt_tokens": "many", "completion_tokens": 1e400}}}}',
        "invalid",
        "invalid",
    ),
    "a huge count": (
        '{"custom_id": "{custom_id}", "response": {"status_code": 200, '
        '"body": {"usage": {"prompt_tokens": 99999999999999999999999}}}}',
        "invalid",
        "invalid",
    ),
}


@pytest.mark.parametrize("case", GARBLED)
def test_a_garbled_result_line_fails_its_request_alone(tmp_path: Path, case: str) -> None:
    line, status, reason = GARBLED[case]
    ids = write_docs(tmp_path / "docs", 3)
    run = tmp_path / "run"
    with FakeOpenAI(Reply(ANSWER), batch_plan=BatchPlan(damaged={1: line})) as server:
        settings = fake_settings(server.base_url, tmp_path)
        manifest = extract_batch(settings, run, poll_s=FAST)
        assert manifest["batch"]["ok"] == 2 and manifest["batch"][status] == 1
        rows = documents(run)
        assert [rows[doc_id]["status"] for doc_id in ids] == ["ok", "failed", "ok"]
        assert reason in rows[ids[1]]["error"] and "\n" not in rows[ids[1]]["error"]
        assert rows[ids[1]]["batch_tokens_in"] == "0"
        # Collected: a second collect downloads nothing again and changes nothing.
        downloads = len(server.requests)
        assert collect_batch(run, settings=settings)["batch"] == manifest["batch"]
        assert len(server.requests) == downloads
