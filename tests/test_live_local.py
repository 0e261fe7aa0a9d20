"""The embedded local model end to end: llama.cpp server start, schema-constrained decoding,
validation, cache write, then a replay of the same request with no model running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipeline.cache import ResponseCache
from pipeline.response import ArticleExtraction
from schemas.records import DocumentExtraction

SEED = Path("seeds/004_be305ebc2eef9ae7.txt")


def dealx(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, timeout=600
    )


def llama_servers_running() -> bool:
    """Whether any llama.cpp server process is alive on this machine."""
    found = subprocess.run(["pgrep", "-f", "llama_cpp.server"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def test_local_model_extracts_then_replays_without_server(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite"
    live = dealx("extract", str(SEED), "--out", str(tmp_path / "live"), "--cache", str(cache))
    assert live.returncode == 0, live.stderr
    assert not llama_servers_running(), "the llama.cpp server must be stopped after the run"

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

    replay = dealx(
        "extract",
        str(SEED),
        "--out",
        str(tmp_path / "replay"),
        "--cache",
        str(cache),
        "--cache-mode",
        "replay",
    )
    assert replay.returncode == 0, replay.stderr
    replayed = json.loads((tmp_path / "replay" / "manifest.json").read_text())
    assert replayed["cache_hits"] == 1 and replayed["cache_misses"] == 0
    assert (tmp_path / "replay" / "records" / f"{SEED.stem}.json").read_text() == (
        tmp_path / "live" / "records" / f"{SEED.stem}.json"
    ).read_text()
