"""Load benchmark: N articles through `dealx extract` (a real subprocess) at concurrency C against
the fake server injecting transient faults into ~5% of requests and failing ~1% of documents
for good (the scenario of tests/load_scenario.py, also run by tests/test_load.py), with the
plain strategy (one request per article) and the constrained one (four questions per article,
whose options no other article shares, so every article builds its own question models).

Prints how every document ended, what was retried and re-asked, the wall time and the peak RSS
of the dealx process for each size, then per strategy what the larger run added to the peak
over the smaller one (target: 10,000 articles add less than 50 MB over 1,000). Every figure
printed comes from this run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.load_scenario import LoadResult, run_load

GROWTH_TARGET_MB = 50


def report(load: LoadResult, docs: int, args: argparse.Namespace) -> None:
    """What one run did, as dealx and the fake server saw it."""
    manifest = load.manifest
    counts = manifest["documents"]
    ended = len(load.records) + len(load.errors)
    transient = {fault: n for fault, n in sorted(load.injected.items()) if fault != "permanent"}
    asked = load.server_requests - manifest["transport_retries"] - manifest["reasks"]
    print(
        f"{load.strategy}: {docs} documents, concurrency {args.concurrency}, server latency "
        f"{args.latency * 1000:.0f} ms, request timeout {args.timeout:g} s; "
        f"exit code {load.returncode}"
    )
    print(
        f"  ended: {counts['ok']} extracted + {counts['failed']} failed with a reason = {ended} "
        f"({'all accounted for' if ended == docs else 'MISSING DOCUMENTS'})"
    )
    print(
        f"  failed: {len(load.permanent)} by design (always 500), "
        f"{counts['failed'] - len(load.permanent)} after exhausting retries on transient faults"
    )
    print(
        f"  server: {load.server_requests} requests ({sum(transient.values())} transient "
        f"faults injected: {transient}; {load.injected.get('permanent', 0)} permanent); "
        f"peak in flight {load.peak_in_flight}"
    )
    print(
        f"  dealx counted: {manifest['transport_retries']} transport retries, "
        f"{manifest['reasks']} re-asks; the server's other {asked} requests are "
        f"{asked / docs:.2f} questions per document"
    )
    print(f"  cache: {load.cache_rows} entries, integrity {load.cache_integrity}")
    print(f"  wall time {load.wall_s:.1f} s; peak RSS of dealx {load.max_rss_mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--docs",
        default="1000,10000",
        help="comma-separated document counts, run in turn; the growth is the last over the first",
    )
    parser.add_argument("--strategies", default="plain,constrained")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=2.0, help="request timeout, seconds")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency, seconds")
    args = parser.parse_args()
    sizes = [int(n) for n in args.docs.split(",")]
    peaks: dict[str, list[float]] = {}
    for strategy in args.strategies.split(","):
        for docs in sizes:
            with tempfile.TemporaryDirectory(prefix="dealx-bench-load-") as tmp:
                load = run_load(
                    Path(tmp), docs, args.concurrency, args.timeout, args.latency, strategy
                )
            report(load, docs, args)
            peaks.setdefault(strategy, []).append(load.max_rss_mb)
    if len(sizes) > 1:
        print(f"Peak RSS growth from {sizes[0]:,} to {sizes[-1]:,} documents:")
        for strategy, mb in peaks.items():
            grown = mb[-1] - mb[0]
            verdict = "ok" if grown < GROWTH_TARGET_MB else "OVER TARGET"
            print(
                f"  {strategy}: {mb[0]:.0f} MB -> {mb[-1]:.0f} MB, {grown:+.0f} MB "
                f"(target < {GROWTH_TARGET_MB} MB: {verdict})"
            )


if __name__ == "__main__":
    main()
