"""Benchmark a batch run at provider scale against the fake server's Files and Batches API.

    .venv/bin/python bench/bench_batch.py [--requests 100000] [--small 10000] [--chunks 20]

Two steps, each a fresh `dealx` process whose peak memory is read from /proc:
`dealx extract --batch --no-wait` (prepare the JSONL input files, upload them, create the
batches) and `dealx batch collect` (wait, stream down the output files, validate each answer
into the cache, write the records). The articles are split into `--chunks` chunks each, one
request a chunk, so 100,000 requests come from 5,000 articles.

Both steps run at `--small` and at `--requests` requests. The floors, from the same run:
time against the floor of a process that writes and reads back the same number of lines of
the same size (the I/O alone), and memory against the same step at `--small` requests
(memory is flat when ten times the requests take no more than `MEMORY_SLACK` times the memory).
The fake server runs in this process, so its own memory is not counted; it answers the
requests of a batch when a retrieve ends it, which the bench does before starting collect, so
that collect's time is dealx's own (the server's is printed beside it).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import openai

from pipeline.batch.client import TERMINAL
from tests.dealx_process import DealxProcess, dealx_env
from tests.fake_openai import BatchPlan, FakeOpenAI, Reply

MEMORY_SLACK = 1.25  # peak RSS at 10x the requests over peak RSS at 1x
TARGET_S = 60.0  # "takes seconds": each step at 100,000 requests under a minute
PARAGRAPH = (
    "Paragraph {n} of article {doc}: Meta invests about $14 billion in Scale AI for a 49 percent "
    "stake, the companies said on Thursday, in a deal that values the data-labeling startup at "
    "about $29 billion and brings its founder to Meta to lead a new group. "
)


def write_articles(folder: Path, requests: int, chunks: int) -> int:
    """Articles of `chunks` paragraphs (one chunk each at a 1,000-character chunk budget)
    adding up to `requests` requests; returns how many articles."""
    folder.mkdir(parents=True)
    articles = requests // chunks
    for doc in range(articles):
        paragraphs = [(PARAGRAPH * 4).format(n=n, doc=doc)[:900] for n in range(chunks)]
        (folder / f"a{doc:06d}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return articles


def io_floor(lines: int, line_bytes: int, folder: Path) -> float:
    """Seconds to write `lines` lines of `line_bytes` bytes to a file and read them back."""
    line = b"x" * (line_bytes - 1) + b"\n"
    path = folder / "floor.jsonl"
    started = time.perf_counter()
    with path.open("wb") as handle:
        for _ in range(lines):
            handle.write(line)
    with path.open("rb") as handle:
        for _ in handle:
            pass
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def run_batches(server: FakeOpenAI) -> float:
    """Seconds the fake server takes to run the submitted batches: it answers every request of
    a batch when a retrieve ends it, which collect would otherwise wait for and be charged with
    (a provider runs a batch on its own machines, in up to 24 hours)."""
    client = openai.OpenAI(base_url=server.base_url, api_key="bench")
    started = time.perf_counter()
    try:
        for batch_id in list(server.batches):
            while client.batches.retrieve(batch_id).status not in TERMINAL:
                pass
    finally:
        client.close()
    return time.perf_counter() - started


def run_step(args: list[str | Path], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds, peak RSS MB, exit code) of one dealx command."""
    started = time.perf_counter()
    finished = DealxProcess(args, cwd, env).wait(timeout=1800)
    elapsed = time.perf_counter() - started
    if finished.returncode not in (0, 5):
        print(finished.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"dealx {args[0]} exited {finished.returncode}")
    return elapsed, finished.max_rss_mb, finished.returncode


def measure(requests: int, chunks: int, scratch: Path) -> dict[str, float]:
    """Prepare-and-submit and collect of one batch run of `requests` requests."""
    docs = scratch / "docs"
    articles = write_articles(docs, requests, chunks)
    env = dealx_env(scratch, DEALX_CONTEXT_TOKENS="1", DEALX_MAX_TOKENS="256")
    run, cache = scratch / "run", scratch / "cache.sqlite"
    with FakeOpenAI(Reply(), batch_plan=BatchPlan(polls=2)) as server:
        common = ["--model", "openai/fake-model", "--base-url", server.base_url]
        submit = ["extract", docs, "--out", run, "--cache", cache, *common, "--batch", "--no-wait"]
        submit_s, submit_mb, code = run_step(submit, scratch, env)
        assert code == 5, "the batch should still be running after submit"
        server_s = run_batches(server)
        collect = ["batch", "collect", run, "--poll-seconds", "0.2"]
        collect_s, collect_mb, code = run_step(collect, scratch, env)
        assert code == 0
        sent = sum(
            len(server.files[b["input_file_id"]].splitlines()) for b in server.batches.values()
        )
        line_bytes = max(
            1, sum(len(server.files[b["input_file_id"]]) for b in server.batches.values()) // sent
        )
        batches = len(server.batches)
    assert sent == requests, f"{sent} requests sent, {requests} expected"
    assert len(list((run / "records").glob("*.json"))) == articles
    return {
        "requests": requests,
        "batches": batches,
        "line_bytes": line_bytes,
        "submit_s": submit_s,
        "submit_mb": submit_mb,
        "collect_s": collect_s,
        "collect_mb": collect_mb,
        "server_s": server_s,
        "floor_s": io_floor(requests, line_bytes, scratch),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--chunks", type=int, default=20)
    options = parser.parse_args()
    results = []
    for requests in (options.small, options.requests):
        with tempfile.TemporaryDirectory(prefix="dealx-bench-batch-") as scratch:
            results.append(measure(requests, options.chunks, Path(scratch)))
    small, large = results
    print("batch run against the fake Files and Batches API (one dealx process per step)")
    for r in results:
        print(
            f"  {r['requests']:>7,} requests ({r['batches']} batch(es), {r['line_bytes']:,} B a "
            f"line): submit {r['submit_s']:.1f} s, {r['submit_mb']:.0f} MB peak; the fake "
            f"server ran the batches in {r['server_s']:.1f} s (not counted below); collect "
            f"{r['collect_s']:.1f} s, {r['collect_mb']:.0f} MB peak; I/O floor {r['floor_s']:.2f} s"
        )
    flat_memory = True
    for step in ("submit", "collect"):
        ratio = large[f"{step}_mb"] / small[f"{step}_mb"]
        flat = ratio <= MEMORY_SLACK
        fast = large[f"{step}_s"] <= TARGET_S
        flat_memory = flat_memory and flat
        print(
            f"  {step}: {large['requests'] / small['requests']:.0f}x the requests -> "
            f"{ratio:.2f}x the peak memory (flat: <= {MEMORY_SLACK}: {'yes' if flat else 'NO'}); "
            f"{large[f'{step}_s']:.1f} s = {large[f'{step}_s'] / large['floor_s']:.0f}x the I/O "
            f"floor (target <= {TARGET_S:.0f} s: {'yes' if fast else 'NO'})"
        )
    if not flat_memory:  # the time target is a figure to watch; memory growing is a bug
        raise SystemExit(1)


if __name__ == "__main__":
    main()
