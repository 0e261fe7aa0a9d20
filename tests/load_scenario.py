"""The load scenario shared by tests/test_load.py and bench/bench_load.py: thousands of articles
through `dealx extract` (a real subprocess) against the fake server, which injects transient
faults into about 5% of requests and fails about 1% of documents for good.

Every fault is chosen by hashing the document id and its attempt number, so a scenario is the
same on every run, whatever order the concurrent requests arrive in.

With the plain strategy every article states the same fact and gets the same grounded answer.
With the constrained strategy every article names its own organizations and person (so each
asks questions with its own options, and builds its own question models), and each question
gets the smallest answer its JSON Schema admits, read from the request itself.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.dealx_process import ANSWER, DealxProcess, dealx_env, extract_args, write_docs
from tests.fake_openai import Action, FakeOpenAI, Hang, Reply, Reset, Status, messages_text

_DOC_ID = re.compile(r"Article (doc-\d+):")
# Per mille of requests, cumulative: which transient fault a request gets, if any (5% in all).
TRANSIENT = (
    (15, "500"),
    (25, "503"),
    (32, "429"),
    (38, "reset"),
    (42, "hang"),
    (50, "invalid"),
)
PERMANENT_PER_MILLE = 10  # documents whose every request gets a 500
_SYLLABLES = ("ka", "lo", "mi", "nu", "pe", "ro", "sa", "ti", "ve", "zu")


def own_name(doc_id: str) -> str:
    """A capitalized word of the document's own ("doc-0012" -> "Kalomi"), for names that no
    other article of the scenario uses."""
    digits = re.sub(r"\D", "", doc_id)
    return "".join(_SYLLABLES[int(d)] for d in digits).capitalize()


def constrained_article(doc_id: str) -> str:
    """An article with its own two organizations and one person: four questions (companies,
    people, two deal candidates) whose options no other article shares."""
    name = own_name(doc_id)
    return (
        f"Article {doc_id}: {name} Capital invests about $14 billion in {name} Robotics for a "
        f"49 percent stake. {name} Robotics CEO Mira {name} said the deal closed in March "
        "2025.\n"
    )


def write_constrained_docs(folder: Path, count: int) -> list[str]:
    """`count` articles doc-NNNN.txt for the constrained strategy; returns their ids."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"doc-{i:04d}" for i in range(count)]
    for doc_id in ids:
        (folder / f"{doc_id}.txt").write_text(constrained_article(doc_id), encoding="utf-8")
    return ids


def request_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON Schema a chat request asks its answer to fit: OpenAI's json_schema
    response_format, llama.cpp's json_object with a schema, or the forced tool's parameters."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        if isinstance(response_format.get("json_schema"), dict):
            return response_format["json_schema"].get("schema")
        if isinstance(response_format.get("schema"), dict):
            return response_format["schema"]
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            return tool["function"].get("parameters")
    return None


def minimal_instance(schema: dict[str, Any]) -> Any:
    """The smallest value the schema admits: required properties only, the fewest items,
    enum values and union branches picked by position, so that sides of a deal differ (the
    last branch of a union, which for a deal question is a deal rather than "none")."""
    defs = schema.get("$defs", {})

    def build(node: dict[str, Any], index: int) -> Any:
        if "$ref" in node:
            return build(defs[node["$ref"].rsplit("/", 1)[-1]], index)
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][index % len(node["enum"])]
        for union in ("anyOf", "oneOf"):
            if union in node:
                branches = [b for b in node[union] if b.get("type") != "null"] or node[union]
                return build(branches[-1], index)
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            required = [
                name for name in node.get("properties", {}) if name in node.get("required", [])
            ]
            return {
                name: build(node["properties"][name], index + k) for k, name in enumerate(required)
            }
        if kind == "array":
            return [build(node.get("items", {}), index + k) for k in range(node.get("minItems", 0))]
        if kind == "string":
            return "x" * node.get("minLength", 0)
        if kind in ("integer", "number"):
            return node.get("minimum", 0)
        return False if kind == "boolean" else None

    return build(schema, 0)


def fitting_answer(body: dict[str, Any]) -> str:
    """ANSWER for the plain strategy's ArticleExtraction (or a request without a schema), else
    the smallest answer the request's schema admits."""
    schema = request_schema(body)
    if schema is None or schema.get("title") == "ArticleExtraction":
        return ANSWER
    return json.dumps(minimal_instance(schema))


def _per_mille(*parts: object) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") % 1000


def is_permanent(doc_id: str) -> bool:
    """Whether the scenario fails every request of this document."""
    return _per_mille("permanent", doc_id) < PERMANENT_PER_MILLE


class FaultInjector:
    """A fake-server handler: ANSWER, or the fault the hash of (document, attempt) picks."""

    def __init__(self, hang_s: float) -> None:
        self.hang_s = hang_s
        self.injected: Counter[str] = Counter()
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def fault(self, doc_id: str, attempt: int) -> str | None:
        """The fault for a document's n-th request (0-based), or None."""
        if is_permanent(doc_id):
            return "permanent"
        roll = _per_mille("transient", doc_id, attempt)
        return next((name for limit, name in TRANSIENT if roll < limit), None)

    def __call__(self, body: dict[str, Any], index: int) -> Action:
        match = _DOC_ID.search(messages_text(body))
        if match is None:
            return Status(400, message="request without a document id")
        doc_id = match.group(1)
        with self._lock:
            attempt = self._attempts[doc_id]
            self._attempts[doc_id] += 1
            fault = self.fault(doc_id, attempt)
            if fault is not None:
                self.injected[fault] += 1
        actions: dict[str | None, Action] = {
            None: Reply(fitting_answer(body)),
            "permanent": Status(500, message="scenario: this document always fails"),
            "500": Status(500),
            "503": Status(503),
            "429": Status(429, headers={"Retry-After": "0.2"}),
            "reset": Reset(),
            "hang": Hang(self.hang_s),
            "invalid": Reply("Sorry, I cannot produce JSON for this article."),
        }
        return actions[fault]


@dataclass
class LoadResult:
    """What a load run did, as seen by dealx (exit code, outputs) and by the fake server."""

    documents: list[str]
    returncode: int
    stderr: str
    wall_s: float
    max_rss_mb: float
    manifest: dict[str, Any]
    errors: dict[str, str]
    records: set[str]
    document_rows: int
    server_requests: int
    peak_in_flight: int
    injected: dict[str, int]
    cache_rows: int
    cache_integrity: str
    strategy: str = "plain"
    permanent: set[str] = field(default_factory=set)


def run_load(
    work: Path,
    documents: int = 2000,
    concurrency: int = 64,
    timeout_s: float = 2.0,
    latency_s: float = 0.1,
    strategy: str = "plain",
) -> LoadResult:
    """Write `documents` articles under `work` and extract them with dealx and `strategy`
    against a faulty fake server answering after `latency_s` (so that requests overlap up to
    `concurrency`); the request timeout, which each injected hang runs into, is `timeout_s`."""
    if strategy == "plain":
        ids = write_docs(work / "docs", documents)
    else:
        ids = write_constrained_docs(work / "docs", documents)
    run_dir, cache = work / "run", work / "cache.sqlite"
    injector = FaultInjector(hang_s=timeout_s * 3)
    env = dealx_env(
        work,
        DEALX_TIMEOUT_S=str(timeout_s),
        DEALX_TRANSPORT_ATTEMPTS="3",
        DEALX_TRANSPORT_MAX_WAIT_S="30",
    )
    with FakeOpenAI(injector, latency=latency_s) as server:
        args = extract_args(
            server.base_url,
            work / "docs",
            out=run_dir,
            cache=cache,
            concurrency=concurrency,
            strategy=strategy,
        )
        started = time.perf_counter()
        # A large run takes a while on two cores (the constrained one asks four questions per
        # article); the wait only bounds a hung run.
        result = DealxProcess(args, work, env).wait(timeout=300 + documents * 0.25)
        wall_s = time.perf_counter() - started
        requests, peak = server.count(), server.peak_in_flight
    if not (run_dir / "manifest.json").exists():
        raise RuntimeError(f"dealx wrote no manifest (exit {result.returncode}): {result.stderr}")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    errors = {
        row["doc_id"]: row["reason"]
        for row in map(json.loads, (run_dir / "errors.jsonl").read_text().splitlines())
    }
    with sqlite3.connect(cache) as db:
        (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
        (cache_rows,) = db.execute("SELECT COUNT(*) FROM responses").fetchone()
    return LoadResult(
        documents=ids,
        returncode=result.returncode,
        stderr=result.stderr,
        wall_s=wall_s,
        max_rss_mb=result.max_rss_mb,
        manifest=manifest,
        errors=errors,
        records={p.stem for p in (run_dir / "records").glob("*.json")},
        document_rows=len((run_dir / "documents.csv").read_text().splitlines()) - 1,
        server_requests=requests,
        peak_in_flight=peak,
        injected=dict(injector.injected),
        cache_rows=cache_rows,
        cache_integrity=integrity,
        strategy=strategy,
        permanent={doc_id for doc_id in ids if is_permanent(doc_id)},
    )
