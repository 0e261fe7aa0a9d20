"""Load benchmark: N articles through `dealx extract` (a real subprocess) at concurrency C against
the fake server injecting transient faults into ~5% of requests and failing ~1% of documents
for good (the scenario of tests/load_scenario.py, also run by tests/test_load.py).

Prints how every document ended, what was retried and re-asked, the wall time and the peak RSS
of the dealx process. Every figure printed comes from this run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.load_scenario import run_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=2.0, help="request timeout, seconds")
    parser.add_argument("--latency", type=float, default=0.1, help="server latency, seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dealx-bench-load-") as tmp:
        load = run_load(Path(tmp), args.docs, args.concurrency, args.timeout, args.latency)
    docs = load.manifest["documents"]
    ended = len(load.records) + len(load.errors)
    transient = {fault: n for fault, n in sorted(load.injected.items()) if fault != "permanent"}
    print(
        f"{args.docs} documents, concurrency {args.concurrency}, server latency "
        f"{args.latency * 1000:.0f} ms, request timeout {args.timeout:g} s; "
        f"exit code {load.returncode}"
    )
    print(
        f"  ended: {docs['ok']} extracted + {docs['failed']} failed with a reason = {ended} "
        f"({'all accounted for' if ended == args.docs else 'MISSING DOCUMENTS'})"
    )
    print(
        f"  failed: {len(load.permanent)} by design (always 500), "
        f"{docs['failed'] - len(load.permanent)} after exhausting retries on transient faults"
    )
    print(
        f"  server: {load.server_requests} requests ({sum(transient.values())} transient "
        f"faults injected: {transient}; {load.injected.get('permanent', 0)} permanent); "
        f"peak in flight {load.peak_in_flight}"
    )
    print(
        f"  dealx counted: {load.manifest['transport_retries']} transport retries, "
        f"{load.manifest['reasks']} re-asks; {args.docs} + retries + re-asks = "
        f"{args.docs + load.manifest['transport_retries'] + load.manifest['reasks']} requests"
    )
    print(f"  cache: {load.cache_rows} entries, integrity {load.cache_integrity}")
    print(f"  wall time {load.wall_s:.1f} s; peak RSS of dealx {load.max_rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
