"""Hostile text through the constrained strategy and the real llama.cpp server: candidate names
and passages with straight and curly quotes, backslashes, braces, control characters and emoji
become enum values and prompts; every grammar built from them must be valid (a broken one
killed the server with SIGSEGV), and a 5 MB article's largest questions must be answered.
tests/test_question_models.py checks without the server that such an article asks each
distinct question once and that question models do not pile up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from openai import OpenAI

from pipeline.extraction.documents import Document
from pipeline.extraction.extractor import Extractor
from pipeline.extraction.prompts import load_prompt
from pipeline.providers import resolve
from pipeline.providers.llama_server import LlamaServer
from pipeline.settings import Settings

HOSTILE = (
    '"We are thrilled," said the CEO of Acme\\Corp, as Beta{Labs} agreed to invest '
    '$20 million in Gamma"Works. Delta\u2019s Rocket\U0001f680Labs signed a contract with '
    "Echo\x07Systems for \u201cabout $5 million\u201d. Zeta Partners bought a 30% stake in "
    "Acme\\Corp, backed by Omega {Fund} Holdings.\n"
)


def test_hostile_article_runs_through_the_real_server(tmp_path: Path) -> None:
    article = tmp_path / "hostile.txt"
    article.write_text(HOSTILE, encoding="utf-8")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pipeline", "extract", str(article)),
            *("--out", str(tmp_path / "run"), "--cache", str(tmp_path / "c.sqlite")),
            *("--strategy", "constrained"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["documents"] == {
        "ok": 1,
        "failed": 0,
        "skipped_already_done": 0,
        "records_in_run": 1,
    }
    offered = json.loads((tmp_path / "run" / "candidates" / "hostile.json").read_text())
    # The hostile names were offered to the model (as safe enum labels), not filtered away.
    assert {"Acme\\Corp", 'Gamma"Works'} <= set(offered["organizations"])
    assert manifest["cache_misses"] >= 3  # companies, and at least two deal questions
    record = json.loads((tmp_path / "run" / "records" / "hostile.json").read_text())
    for kind in ("companies", "people", "deals"):
        for item in record[kind]:
            for span in item["spans"]:
                assert HOSTILE[span["start"] : span["end"]] == span["text"]


def test_largest_questions_of_a_five_megabyte_article_are_answered(tmp_path: Path) -> None:
    text = (HOSTILE + "\n") * (5_000_000 // (len(HOSTILE) + 1))
    settings = Settings(strategy="constrained", cache=tmp_path / "c.sqlite", max_tokens=256)
    endpoint = resolve(settings)
    extractor = Extractor(settings, endpoint, load_prompt(settings.prompt_name), None)
    requests, offered = extractor.requests_for(Document("big", text))
    # 16,000 copies of one paragraph: each distinct question is asked once (it was 57,253
    # requests, 262 s and 4 GB to build), and the largest of them still reach the server.
    keys = [request.cache_key() for request in requests]
    assert offered is not None and len(set(keys)) == len(keys) < 20
    largest = sorted(requests, key=lambda r: len(json.dumps(r.extra_body)), reverse=True)
    kinds = {next(iter(r.response_model.model_fields)): r for r in largest}
    server = LlamaServer("smollm2-135m")
    server.start()
    try:
        client = OpenAI(base_url=server.base_url, api_key="local-no-key", max_retries=0)
        for request in kinds.values():  # the largest companies, people and deal questions
            completion = client.chat.completions.create(
                model="smollm2-135m",
                messages=request.messages,  # type: ignore[arg-type]
                max_tokens=256,
                temperature=0,
                extra_body=request.extra_body,
            )
            assert server.ended() is None
            answer = completion.choices[0].message.content or ""
            if completion.choices[0].finish_reason == "stop":
                request.response_model.model_validate_json(answer)
    finally:
        server.stop()
