"""Load: 2,000 articles through `dealx extract` at concurrency 64 against a fake server that
injects transient faults into about 5% of requests (see tests/load_scenario.py). Every document
ends extracted or failed with a reason, the counts add up, and memory stays under 500 MB; the
same with the constrained strategy, where every article asks four questions of its own.
bench/bench_load.py runs the same scenario and prints the figures (and the memory growth)."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.errors import EXIT_FAILED
from tests.load_scenario import own_name, run_load

DOCUMENTS = 2000
CONSTRAINED_DOCUMENTS = 300
CONCURRENCY = 64


def test_two_thousand_documents_with_injected_faults(tmp_path: Path) -> None:
    load = run_load(tmp_path, DOCUMENTS, CONCURRENCY)
    manifest, ids = load.manifest, set(load.documents)

    assert load.returncode == EXIT_FAILED, load.stderr  # the permanently failing documents
    # Every document ended one way or the other, never both, never neither.
    assert load.records | set(load.errors) == ids and not load.records & set(load.errors)
    assert all(reason.strip() for reason in load.errors.values())
    docs = manifest["documents"]
    assert docs["ok"] + docs["failed"] == DOCUMENTS
    assert (docs["ok"], docs["failed"]) == (len(load.records), len(load.errors))
    assert docs["records_in_run"] == len(load.records) and load.document_rows == DOCUMENTS
    # The scenario's permanent failures fail with their status; transient faults are absorbed.
    assert load.permanent and load.permanent <= set(load.errors)
    for doc_id in load.permanent:
        assert load.errors[doc_id].startswith("HTTP 500 from http://127.0.0.1:")
    assert len(load.errors) - len(load.permanent) <= DOCUMENTS // 200
    # What the server saw is what dealx counted: one ask per document, plus re-asks and retries.
    assert load.server_requests == DOCUMENTS + manifest["reasks"] + manifest["transport_retries"]
    transient = sum(count for fault, count in load.injected.items() if fault != "permanent")
    assert DOCUMENTS * 0.03 < transient < DOCUMENTS * 0.08
    assert manifest["reasks"] >= load.injected["invalid"] - len(load.errors)
    # Bounded: no more requests in flight than the concurrency, memory under 500 MB.
    assert load.peak_in_flight <= CONCURRENCY
    assert load.max_rss_mb < 500, f"peak RSS {load.max_rss_mb:.0f} MB"
    # One cache entry per extracted document, and an intact cache.
    assert load.cache_integrity == "ok" and load.cache_rows == len(load.records)


def test_constrained_questions_with_injected_faults(tmp_path: Path) -> None:
    load = run_load(tmp_path, CONSTRAINED_DOCUMENTS, CONCURRENCY, strategy="constrained")
    ids = set(load.documents)
    assert load.returncode == EXIT_FAILED, load.stderr
    assert load.records | set(load.errors) == ids and not load.records & set(load.errors)
    assert load.permanent and load.permanent <= set(load.errors)
    assert len(load.errors) - len(load.permanent) <= CONSTRAINED_DOCUMENTS // 100
    # Four questions per extracted document (companies, people, two deal candidates), each
    # answered from its own schema and turned into grounded records of its own names.
    assert load.cache_integrity == "ok" and load.cache_rows >= 4 * len(load.records)
    for doc_id in sorted(load.records)[:20]:
        record = json.loads((tmp_path / "run" / "records" / f"{doc_id}.json").read_text())
        name = own_name(doc_id)
        assert {c["name"] for c in record["companies"]} == {f"{name} Capital", f"{name} Robotics"}
        assert [p["name"] for p in record["people"]] == [f"Mira {name}"]
        assert record["deals"] and all(d["grounded"] is not False for d in record["deals"])
    assert load.peak_in_flight <= CONCURRENCY
    assert load.max_rss_mb < 500, f"peak RSS {load.max_rss_mb:.0f} MB"
