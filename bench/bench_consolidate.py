"""Benchmark consolidation: 10,000 to 100,000 synthetic per-article records.

    .venv/bin/python bench/bench_consolidate.py [--sizes 10000 30000 100000]

Each size runs in a child process of its own (so peak memory is that size's alone). The child
builds documents of 10 records each (5 companies, 1 person, 4 deals; not timed) from a universe
of companies with name variants ("Zomika", "Zomika Inc.", "Zomika AI" next to a different
"Zomika Ventures") and of real deals, each reported by 1 to 8 articles at different stages with
different hedged amounts, plus one deal that 1% of the articles report (a block past
BLOCK_LIMIT, compared by sorted neighborhood). The timed part is
`pipeline.consolidation.consolidate` on the records in memory. It prints, per size: the time,
the candidate pairs compared, the peak RSS growth during consolidation and that growth per
record; then the time and memory ratios between the largest and the smallest size against the
ratio of their sizes (linear = the same ratio). Target (issue 12): 100,000 records in < 60 s.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from typing import Any

TIME_TARGET_S = 60.0
RECORDS_PER_DOC = 10
SYLLABLES = ["ka", "zo", "mi", "ter", "lux", "van", "dro", "pel", "sen", "qui", "bor", "nax"]
VARIANTS = ["", " Inc.", " Platforms", " AI"]
STAGES = [("in_talks", "over"), ("in_talks", "about"), ("agreed", "about"), ("agreed", "exact")]
PEOPLE = ["Ana Wang", "Ben Guo", "Chen Silva", "Dara Novak", "Eli Okafor", "Hana Ito"]


def build(records: int, seed: int = 7) -> list[Any]:
    """`records` per-article records as DocumentExtractions (10 per document)."""
    from schemas.records import DocumentExtraction

    rng = random.Random(seed)
    n_docs = records // RECORDS_PER_DOC
    n_companies = max(50, records // 20)
    names: list[str] = []
    seen = set()
    while len(names) < n_companies:
        name = "".join(rng.choice(SYLLABLES) for _ in range(4)).capitalize()
        if name not in seen:
            seen.add(name)
            names.append(name)
            if rng.random() < 0.05:  # a different organization sharing the first word
                names.append(f"{name} Ventures")
    n_deals = max(20, n_docs)
    deals = [
        (rng.randrange(len(names)), rng.randrange(len(names)), rng.choice((5, 10, 14, 20)) * 1e8)
        for _ in range(n_deals)
    ]
    hot = (0, 1, 1.4e10)
    evidence = [{"quote": "A sentence.", "start": 0, "end": 11}]
    documents = []
    for doc in range(n_docs):
        chosen = [hot] if rng.random() < 0.01 else []
        while len(chosen) < 4:
            investor, target, amount = deals[rng.randrange(n_deals)]
            if investor != target:
                chosen.append((investor, target, amount))
        mentioned = dict.fromkeys(i for deal in chosen for i in deal[:2])
        companies = [
            {"name": names[i] + rng.choice(VARIANTS), "evidence": evidence}
            for i in list(mentioned)[:5]
        ]
        written = {i: c["name"] for i, c in zip(mentioned, companies, strict=False)}
        deal_records = []
        for investor, target, amount in chosen:
            status, hedge = rng.choice(STAGES)
            value = amount * (1.0 if status == "agreed" else 0.7)
            deal_records.append(
                {
                    "deal_type": "investment",
                    "parties": [
                        {"name": written.get(investor, names[investor]), "role": "investor"},
                        {"name": written.get(target, names[target]), "role": "target"},
                    ],
                    "amount": {"value": value, "currency": "USD", "qualifier": hedge},
                    "status": status,
                    "evidence": evidence,
                }
            )
        person = {"name": rng.choice(PEOPLE), "evidence": evidence}
        documents.append(
            DocumentExtraction.model_validate(
                {
                    "doc_id": f"d{doc:06d}",
                    "companies": companies,
                    "people": [person],
                    "deals": deal_records,
                }
            )
        )
    return documents


def child(records: int) -> dict[str, Any]:
    """Build, then time one consolidation; peak RSS growth from before it."""
    from pipeline.consolidation import consolidate

    documents = build(records)
    count = sum(len(d.companies) + len(d.people) + len(d.deals) for d in documents)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    consolidation = consolidate(documents)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pairs = sum(len(d.decisions) for d in consolidation.deals)
    return {
        "records": count,
        "seconds": seconds,
        "rss_growth_mb": (after - before) / 1024,
        "deals_in": sum(len(d.deals) for d in documents),
        "deals_out": len(consolidation.deals),
        "decisions": pairs,
        "companies_out": len(consolidation.companies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    results = []
    for size in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(size)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{result['records']:>7,} records ({result['deals_in']:,} deals -> "
            f"{result['deals_out']:,}, {result['companies_out']:,} companies): "
            f"{result['seconds']:6.2f} s, {result['decisions']:,} decisions, peak RSS "
            f"+{result['rss_growth_mb']:.0f} MB "
            f"({result['rss_growth_mb'] * 1024 / result['records']:.2f} KB a record)"
        )
    first, last = results[0], results[-1]
    size_ratio = last["records"] / first["records"]
    print(
        f"from {first['records']:,} to {last['records']:,} records ({size_ratio:.1f}x): time "
        f"{last['seconds'] / first['seconds']:.1f}x, memory "
        f"{last['rss_growth_mb'] / max(first['rss_growth_mb'], 1e-9):.1f}x "
        f"(linear: {size_ratio:.1f}x)"
    )
    met = last["seconds"] < TIME_TARGET_S
    verdict = "met" if met else "NOT met"
    print(f"target: {last['records']:,} records in < {TIME_TARGET_S:g} s: {verdict}")


if __name__ == "__main__":
    main()
