"""Batch-runner benchmark against the fake OpenAI-compatible server (run: make bench).

1. 500 documents, fixed 100 ms server latency: wall time at concurrency 50 against the ideal
   (500 / 50 x 0.1 s = 1.0 s; target <= 1.25x) and the speed-up over concurrency 1 (>= 20x).
   Beside it, two floors from the same run: the same requests through instructor + openai with
   nothing of dealx around them, and the same bodies posted by a bare aiohttp client.
2. 10,000 cached documents replayed: pipeline overhead per document (target <= 0.5 ms), next to
   the floor measured in the same run (one SQLite read plus one Pydantic validation).

The fake server runs in its own process so that its threads do not compete with the pipeline
for the GIL. Every figure printed comes from this run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from pipeline.extraction.documents import load_documents
from pipeline.extraction.extractor import Extractor
from pipeline.extraction.prompts import load_prompt
from pipeline.extraction.request import ModelRequest
from pipeline.extraction.response import ArticleExtraction
from pipeline.providers import Provider, resolve
from pipeline.runner import extract_run
from pipeline.settings import Settings
from pipeline.store.cache import ResponseCache
from tests.fake_openai import FakeOpenAI, Reply

# An answer every value of which the article below supports, so grounding keeps it whole and
# the replay figure measures the full path (grounding included) with nothing rejected.
ANSWER = json.dumps(
    {
        "companies": [{"name": "Meta", "evidence": [{"quote": "Meta agreed to invest"}]}],
        "people": [
            {
                "name": "Alexandr Wang",
                "roles": [{"title": "CEO", "organization": "Scale AI"}],
                "evidence": [{"quote": "Scale AI CEO Alexandr Wang will join Meta"}],
            }
        ],
        "deals": [
            {
                "deal_type": "investment",
                "parties": [
                    {"name": "Meta", "role": "investor"},
                    {"name": "Scale AI", "role": "target"},
                ],
                "amount": {"value": 14e9, "currency": "USD", "qualifier": "about"},
                "stake_percent": 49,
                "status": "agreed",
                "evidence": [{"quote": "invest about $14 billion in Scale AI for a 49% stake"}],
            }
        ],
    }
)


def serve(latency: float, port_out: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    """Run the fake server in a child process until told to stop."""
    with FakeOpenAI(Reply(ANSWER), latency=latency) as server:
        port_out.put(server.base_url)
        stop.wait()


class ServerProcess:
    """The fake server in a separate process, as a context manager yielding its base URL."""

    def __init__(self, latency: float) -> None:
        self._queue: multiprocessing.Queue = multiprocessing.Queue()
        self._stop = multiprocessing.Event()
        self._process = multiprocessing.Process(
            target=serve, args=(latency, self._queue, self._stop), daemon=True
        )

    def __enter__(self) -> str:
        self._process.start()
        return self._queue.get(timeout=30)

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._process.join(timeout=10)


def write_docs(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"doc-{i:05d}.txt").write_text(
            f"Article {i}. Meta agreed to invest about $14 billion in Scale AI for a 49% stake. "
            "Scale AI CEO Alexandr Wang will join Meta.\n"
        )


def timed_run(settings: Settings, run_dir: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    manifest = extract_run(settings, run_dir)
    return time.perf_counter() - started, manifest


def concurrency_bench(work: Path, docs: int, latency: float) -> None:
    folder = work / "docs-concurrency"
    write_docs(folder, docs)
    with ServerProcess(latency) as base_url:
        common = {
            "model": "openai/bench",
            "base_url": base_url,
            "paths": [folder],
            "cache_mode": "off",
            "cache": work / "unused.sqlite",
        }
        # Warm-up: imports, first connection.
        timed_run(Settings(**common, concurrency=50, limit=50), work / "warmup")
        t50, m50 = timed_run(Settings(**common, concurrency=50), work / "c50")
        t1, m1 = timed_run(Settings(**common, concurrency=1), work / "c1")
        floor = asyncio.run(stack_floor(Settings(**common, concurrency=50), folder))
        raw = asyncio.run(raw_http_floor(Settings(**common, concurrency=50), folder))
    assert m50["documents"]["ok"] == m1["documents"]["ok"] == docs
    ideal = docs / 50 * latency
    print(f"{docs} documents, {latency * 1000:.0f} ms server latency")
    print(
        f"  concurrency 50: {t50:.3f} s; ideal {ideal:.3f} s; "
        f"ratio {t50 / ideal:.3f} (target <= 1.25)"
    )
    print(
        f"  the same requests through instructor + openai alone (no dealx): {floor:.3f} s; "
        f"ratio to ideal {floor / ideal:.3f}; dealx adds {t50 / floor - 1:+.0%}"
    )
    print(
        f"  the same request bodies posted with aiohttp alone: {raw:.3f} s; "
        f"ratio to ideal {raw / ideal:.3f} (what the fake server allows)"
    )
    print(f"  concurrency 1:  {t1:.3f} s; speed-up of 50 over 1: {t1 / t50:.1f}x (target >= 20)")


def bench_requests(settings: Settings, folder: Path) -> tuple[Provider, list[ModelRequest]]:
    """The endpoint and the one request per document that a plain run would send."""
    endpoint = resolve(settings)
    extractor = Extractor(settings, endpoint, load_prompt(settings.prompt_name), None)
    return endpoint, [extractor.requests_for(doc)[0] for doc in load_documents([folder])]


async def timed_gather(call: Callable[[Any], Awaitable[None]], items: list[Any], n: int) -> float:
    """Seconds to run `call` on every item, `n` at a time, after one warm-up call."""
    semaphore = asyncio.Semaphore(n)

    async def bounded(item: Any) -> None:
        async with semaphore:
            await call(item)

    await call(items[0])  # the first connection
    started = time.perf_counter()
    await asyncio.gather(*(bounded(item) for item in items))
    return time.perf_counter() - started


async def raw_http_floor(settings: Settings, folder: Path) -> float:
    """Wall time of the same request bodies posted by a bare aiohttp client: the fake server's
    own limit, with no SDK in the way."""
    _, requests = bench_requests(settings, folder)
    schema = ArticleExtraction.model_json_schema()
    response_format = {"type": "json_schema", "json_schema": {"name": "A", "schema": schema}}
    bodies = [
        json.dumps(
            {
                "model": r.settings.model,
                "messages": r.messages,
                "response_format": response_format,
                **r.settings.decoding,
            }
        ).encode()
        for r in requests
    ]
    url = f"{settings.base_url}/chat/completions"
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def post(body: bytes) -> None:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()

        return await timed_gather(post, bodies, settings.concurrency)


async def stack_floor(settings: Settings, folder: Path) -> float:
    """Wall time of the run's model calls alone: the requests dealx would send, through the same
    instructor + openai client, 50 at a time, with no cache, grounding or files. What the
    libraries cost per call bounds how close any run can come to the ideal on this machine."""
    endpoint, requests = bench_requests(settings, folder)
    client = await endpoint.client()

    async def call(request: ModelRequest) -> None:
        await client.chat.completions.create_with_completion(
            model=request.settings.model,
            messages=request.messages,  # type: ignore[arg-type]
            response_model=request.response_model,
            max_retries=settings.max_retries,
            **request.settings.decoding,
        )

    try:
        return await timed_gather(call, requests, settings.concurrency)
    finally:
        await endpoint.close()


def replay_bench(work: Path, docs: int) -> None:
    folder = work / "docs-replay"
    write_docs(folder, docs)
    cache = work / "replay.sqlite"
    with ServerProcess(0.0) as base_url:
        common = {"model": "openai/bench", "base_url": base_url, "paths": [folder], "cache": cache}
        fill_s, filled = timed_run(Settings(**common, concurrency=64), work / "fill")
        assert filled["documents"]["ok"] == docs
    replay_s, replayed = timed_run(
        Settings(**common, cache_mode="replay", concurrency=64), work / "replay"
    )
    assert replayed["cache_hits"] == docs and replayed["documents"]["ok"] == docs
    assert replayed["rejected"] == {"dropped": 0, "flagged": 0}

    # The floor: one SQLite read and one Pydantic validation per document, nothing else.
    with ResponseCache(cache) as store:
        keys = [key for (key,) in store._db.execute("SELECT key FROM responses")]
        started = time.perf_counter()
        for key in keys:
            entry = store.get(key)
            assert entry is not None
            ArticleExtraction.model_validate(entry.record)
        floor_s = time.perf_counter() - started
    per_doc = replay_s / docs * 1000
    floor = floor_s / docs * 1000
    print(f"{docs} cached documents (cache filled in {fill_s:.1f} s through the fake server)")
    print(f"  replay run: {replay_s:.3f} s = {per_doc:.3f} ms per document (target <= 0.5)")
    print(
        f"  floor (SQLite read + validation): {floor:.3f} ms per document; "
        f"ratio {per_doc / floor:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--replay-docs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dealx-bench-") as tmp:
        work = Path(tmp)
        concurrency_bench(work, args.docs, args.latency)
        replay_bench(work, args.replay_docs)


if __name__ == "__main__":
    main()
