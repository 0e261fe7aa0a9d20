"""The embedded local model end to end: llama.cpp server start, schema-constrained decoding,
validation, cache write, then a replay of the same request with no model running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipeline.extraction.response import ArticleExtraction
from pipeline.providers.llama_server import LlamaServer
from pipeline.store.cache import ResponseCache
from schemas.errors import EXIT_USAGE, ModelServerError
from schemas.records import DocumentExtraction
from tests.dealx_process import run_dealx

SEED = Path("seeds/004_be305ebc2eef9ae7.txt")


def server_child(parent: int) -> int | None:
    """The pid of the llama.cpp server that process `parent` started, if it runs."""
    found = subprocess.run(
        ["pgrep", "-P", str(parent), "-f", "llama_cpp.server"], capture_output=True, text=True
    )
    pids = found.stdout.split()
    return int(pids[0]) if pids else None


def alive(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def start_extract_and_wait_for_server(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start `dealx extract` on the seed with the local model; return it and its server pid."""
    command = [sys.executable, "-m", "pipeline", "extract", str(SEED), "--out", str(tmp_path)]
    process = subprocess.Popen(
        [*command, "--cache", str(tmp_path / "c.sqlite")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while (server := server_child(process.pid)) is None:
        assert process.poll() is None and time.monotonic() < deadline, "server never started"
        time.sleep(0.2)
    return process, server


def wait_until_gone(pid: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not alive(pid)


def test_local_model_extracts_then_replays_without_server(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    # The plain strategy: one call, whose request and raw answer the cache entry shows whole
    # (tests/test_live_hostile.py takes the constrained strategy through the real server).
    command = [sys.executable, "-m", "pipeline", "extract", str(SEED), "--strategy", "plain"]
    log = tmp_path / "stderr.log"
    live = subprocess.Popen(
        [*command, "--out", str(tmp_path / "live"), "--cache", str(cache)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    servers = set()
    while live.poll() is None:
        if (server := server_child(live.pid)) is not None:
            servers.add(server)
        time.sleep(0.2)
    assert live.returncode == 0, log.read_text()
    assert len(servers) == 1, "one llama.cpp server, started by dealx"
    assert not any(alive(pid) for pid in servers), "the server must be stopped after the run"

    manifest = json.loads((tmp_path / "live" / "manifest.json").read_text())
    assert manifest["model"] == "local/smollm2-135m"
    assert manifest["cache_misses"] == 1 and manifest["tokens_out"] > 0
    record = DocumentExtraction.model_validate_json(
        (tmp_path / "live" / "records" / f"{SEED.stem}.json").read_text()
    )
    assert record.doc_id == SEED.stem

    with ResponseCache(cache) as store:
        [entry] = store.entries()
    # The schema reached the server inside a json_object response_format, which constrains
    # llama.cpp's decoding, so the raw reply parses against the response model as it is.
    sent = entry.request["extra_body"]["response_format"]
    assert sent == {"type": "json_object", "schema": ArticleExtraction.model_json_schema()}
    content = entry.raw_response["choices"][0]["message"]["content"]
    ArticleExtraction.model_validate_json(content)
    assert entry.server_model and entry.latency_s > 0 and entry.prompt_tokens > 0

    replay = run_dealx(
        [
            "extract",
            SEED,
            "--out",
            tmp_path / "replay",
            "--cache",
            cache,
            "--cache-mode",
            "replay",
            "--strategy",
            "plain",
        ],
        timeout=600,
    )
    assert replay.returncode == 0, replay.stderr
    replayed = json.loads((tmp_path / "replay" / "manifest.json").read_text())
    assert replayed["cache_hits"] == 1 and replayed["cache_misses"] == 0
    assert (tmp_path / "replay" / "records" / f"{SEED.stem}.json").read_text() == (
        tmp_path / "live" / "records" / f"{SEED.stem}.json"
    ).read_text()


def test_server_that_does_not_start_reports_its_log(tmp_path: Path) -> None:
    server = LlamaServer("smollm2-135m", startup_timeout_s=60)
    server.model_path = tmp_path / "broken.gguf"
    server.model_path.write_bytes(b"this is not a GGUF file")
    with pytest.raises(ModelServerError, match=r"llama\.cpp server exited with code") as failure:
        server.start()
    assert "log tail:" in str(failure.value) and "broken.gguf" in str(failure.value)


def test_ctrl_c_stops_the_local_server(tmp_path: Path) -> None:
    process, server = start_extract_and_wait_for_server(tmp_path)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    assert process.returncode != 0
    assert wait_until_gone(server), "Ctrl-C must stop the llama.cpp server"
    assert not list((tmp_path / "records").glob("*.json"))


def test_kill_9_of_dealx_takes_the_server_down(tmp_path: Path) -> None:
    process, server = start_extract_and_wait_for_server(tmp_path)
    process.kill()
    process.wait(timeout=10)
    assert wait_until_gone(server), "the server must die with dealx"


def test_server_that_dies_mid_run_stops_the_run_with_its_log(tmp_path: Path) -> None:
    process, server = start_extract_and_wait_for_server(tmp_path)
    port = Path(f"/proc/{server}/cmdline").read_bytes().split(b"\0--port\0")[1].split(b"\0")[0]
    deadline = time.monotonic() + 120
    while True:  # until the server answers and dealx has sent it the article
        assert time.monotonic() < deadline, "server never answered"
        try:
            if httpx.get(f"http://127.0.0.1:{port.decode()}/v1/models", timeout=2).is_success:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    time.sleep(1.0)  # prefilling the article alone takes seconds
    os.kill(server, signal.SIGSEGV)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == EXIT_USAGE, stderr
    message = stderr.decode()
    assert "dealx: error: model: llama.cpp server was killed by SIGSEGV during the run" in message
    assert "log tail:" in message
    # Not the document's fault: nothing recorded as failed, so a rerun extracts it.
    assert not list((tmp_path / "records").glob("*.json"))
    assert (tmp_path / "errors.jsonl").read_text() == ""
