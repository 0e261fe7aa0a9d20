"""Benchmark the eval scorer: 10,000 and 20,000 synthetic documents of 20 records each.

    .venv/bin/python bench/bench_eval.py [--docs 10000] [--repeats 3] [--with-files]

2N synthetic gold documents and noisy predictions are built once, in memory, as validated
pydantic records (not timed); N is the first half of them. The timed part is
`eval.scoring.evaluate`, the function `dealx eval` calls once run and gold are loaded: alignment,
field scoring and all four tables. File loading is not included; `--with-files` writes the N
documents to a temp dir and times `load_run` + `load_gold` separately. N and 2N are timed in
turn, `--repeats` times each, and the fastest time of each counts, so that load from other
processes on the machine disturbs the ratio less. Targets (the issue): N docs in <= 10 s, and
t(2N) / t(N) <= 2.2.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from eval.load import Run, load_gold, load_run
from eval.scoring import evaluate
from schemas.gold import GoldDocument
from schemas.records import DocumentExtraction

TIME_TARGET_S = 10.0
RATIO_TARGET = 2.2
SYLLABLES = ["ka", "zo", "mi", "ter", "lux", "van", "dro", "pel", "sen", "qui", "bor", "nax"]
SUFFIXES = ["Inc.", "Corp.", "Ltd.", "Technologies", "Platforms", "Group"]
FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun"]
LAST = ["Wang", "Guo", "Silva", "Novak", "Okafor", "Larsen", "Ito", "Moreau", "Khan", "Reyes"]
ROLES = {
    "investment": ("investor", "target"),
    "acquisition": ("acquirer", "target"),
    "contract": ("customer", "supplier"),
    "partnership": ("partner", "partner"),
}
STATUSES = ["rumored", "in_talks", "agreed", "completed"]
QUALIFIERS = ["exact", "about", "over", "under", "up_to"]


def synthetic_gold(rng: random.Random, doc_id: str) -> dict[str, Any]:
    """One gold document: 7 companies, 6 people, 7 deals, every record with evidence."""
    evidence = [{"quote": "A sentence.", "start": 0, "end": 11}]
    names: list[str] = []
    while len(names) < 7:
        name = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
        if name not in names:
            names.append(name)
    companies = [
        {
            "name": name,
            "aliases": [f"{name} {rng.choice(SUFFIXES)}"] if rng.random() < 0.4 else [],
            "founded_year": rng.randint(1950, 2024) if rng.random() < 0.3 else None,
            "headquarters": rng.choice(["San Francisco", "Berlin", None, None]),
            "evidence": evidence,
        }
        for name in names
    ]
    people = [
        {
            # The index keeps the six names of a document distinct.
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)} {index}",
            "roles": [
                {
                    "title": rng.choice(["CEO", "CFO", "co-founder"]),
                    "organization": rng.choice(names),
                }
            ],
            "evidence": evidence,
        }
        for index in range(6)
    ]
    deals = []
    for _ in range(7):
        deal_type = rng.choice(list(ROLES))
        first, second = rng.sample(names, 2)
        deals.append(
            {
                "deal_type": deal_type,
                "parties": [
                    {"name": first, "role": ROLES[deal_type][0]},
                    {"name": second, "role": ROLES[deal_type][1]},
                ],
                "amount": {
                    "value": rng.randint(1, 500) * 1e7,
                    "currency": "USD",
                    "qualifier": rng.choice(QUALIFIERS),
                }
                if rng.random() < 0.7
                else None,
                "stake_percent": float(rng.randint(1, 60)) if rng.random() < 0.3 else None,
                "status": rng.choice(STATUSES),
                "date": f"2025-{rng.randint(1, 12):02d}" if rng.random() < 0.4 else None,
                "evidence": evidence,
                "optional": rng.random() < 0.05,
            }
        )
    return {"doc_id": doc_id, "companies": companies, "people": people, "deals": deals}


def synthetic_prediction(rng: random.Random, gold: dict[str, Any]) -> dict[str, Any]:
    """A noisy extraction of a gold document: misses, wrong values, name variants, inventions."""
    pred: dict[str, Any] = {"doc_id": gold["doc_id"]}
    for kind in ("companies", "people", "deals"):
        records = []
        for record in gold[kind]:
            if rng.random() < 0.1:
                continue  # missed
            record = {k: v for k, v in record.items() if k not in ("optional", "optional_fields")}
            if kind == "companies" and rng.random() < 0.3:
                record["name"] = f"{record['name']} {rng.choice(SUFFIXES)}".upper()
            if kind == "deals" and record["amount"] and rng.random() < 0.2:
                record["amount"] = {**record["amount"], "value": record["amount"]["value"] * 1.05}
            if kind == "deals" and rng.random() < 0.15:
                record["status"] = rng.choice(STATUSES)
            records.append(record)
        if rng.random() < 0.5:
            records.append(rng.choice(gold[kind]) if kind == "deals" else _invented(rng, kind))
        rng.shuffle(records)
        pred[kind] = [{k: v for k, v in r.items() if k != "optional"} for r in records]
    return pred


def _invented(rng: random.Random, kind: str) -> dict[str, Any]:
    """A record the gold does not have."""
    name = "".join(rng.choice(SYLLABLES) for _ in range(4)).capitalize()
    if kind == "people":
        name = f"{rng.choice(FIRST)} {name}"
    return {"name": name}


def build(n_docs: int, seed: int) -> tuple[Run, dict[str, GoldDocument], list[dict[str, Any]]]:
    """A validated in-memory run and gold of `n_docs` documents, plus the raw prediction dicts."""
    rng = random.Random(seed)
    golds, predictions, raw = {}, {}, []
    for index in range(n_docs):
        gold = synthetic_gold(rng, f"doc{index:06d}")
        pred = synthetic_prediction(rng, gold)
        golds[gold["doc_id"]] = GoldDocument.model_validate(gold)
        predictions[pred["doc_id"]] = DocumentExtraction.model_validate(pred)
        raw.append(pred)
    return Run(Path("synthetic"), {}, predictions, {}), golds, raw


def time_evaluate(run: Run, golds: dict[str, GoldDocument]) -> tuple[float, float]:
    """Seconds for one `evaluate`, and the overall F1 it computed."""
    gc.collect()
    start = time.perf_counter()
    evaluation = evaluate(run, golds)
    return time.perf_counter() - start, float(evaluation.overall["f1"].iloc[0])


def first(n_docs: int, run: Run, golds: dict[str, GoldDocument]) -> tuple[Run, dict[str, Any]]:
    """The first `n_docs` documents of a run and its gold."""
    doc_ids = sorted(golds)[:n_docs]
    predictions = {doc_id: run.predictions[doc_id] for doc_id in doc_ids}
    return Run(run.path, {}, predictions, {}), {doc_id: golds[doc_id] for doc_id in doc_ids}


def time_loading(run_dir: Path, gold_dir: Path) -> float:
    """Seconds to read and validate a run directory and a gold folder."""
    gc.collect()
    start = time.perf_counter()
    load_run(run_dir)
    load_gold(gold_dir)
    return time.perf_counter() - start


def write_files(root: Path, golds: dict[str, GoldDocument], raw: list[dict[str, Any]]) -> None:
    """Write the synthetic gold and run like `dealx extract` and the annotators would."""
    (root / "gold").mkdir(parents=True)
    (root / "run" / "records").mkdir(parents=True)
    for doc_id, gold in golds.items():
        (root / "gold" / f"{doc_id}.json").write_text(gold.model_dump_json(), encoding="utf-8")
    for pred in raw:
        path = root / "run" / "records" / f"{pred['doc_id']}.json"
        path.write_text(json.dumps(pred), encoding="utf-8")


def main() -> None:
    """Time N and 2N documents, print both times, the ratio and whether the targets hold."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000, help="N; 2N is timed as well")
    parser.add_argument("--repeats", type=int, default=3, help="timings per size; the min counts")
    parser.add_argument("--with-files", action="store_true", help="also time file loading")
    args = parser.parse_args()
    small, large = args.docs, 2 * args.docs
    build_start = time.perf_counter()
    run, golds, raw = build(large, seed=large)
    records = sum(len(g.companies) + len(g.people) + len(g.deals) for g in golds.values())
    print(
        f"built {large:,} docs / {records:,} gold records in memory "
        f"({time.perf_counter() - build_start:.1f} s, not timed); N = the first {small:,}"
    )
    sizes = {small: first(small, run, golds), large: (run, golds)}
    times: dict[int, list[float]] = {small: [], large: []}
    for _ in range(args.repeats):
        for n_docs, (sized_run, sized_golds) in sizes.items():
            seconds, f1 = time_evaluate(sized_run, sized_golds)
            times[n_docs].append(seconds)
            print(f"  evaluate {n_docs:,} docs: {seconds:.2f} s (overall F1 {f1:.3f})", flush=True)
    if args.with_files:
        with tempfile.TemporaryDirectory() as tmp:
            write_files(Path(tmp), sizes[small][1], raw[:small])
            loading = time_loading(Path(tmp) / "run", Path(tmp) / "gold")
        print(f"load_run + load_gold of {small:,} docs from a temp dir: {loading:.2f} s (separate)")
    t_small, t_large = min(times[small]), min(times[large])
    ratio = t_large / t_small
    time_ok, ratio_ok = _verdict(t_small <= TIME_TARGET_S), _verdict(ratio <= RATIO_TARGET)
    print(f"t({small:,}) = {t_small:.2f} s (target <= {TIME_TARGET_S:g} s): {time_ok}")
    print(f"t({large:,}) = {t_large:.2f} s")
    print(f"ratio t(2N)/t(N) = {ratio:.2f} (target <= {RATIO_TARGET}): {ratio_ok}")


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


if __name__ == "__main__":
    main()
