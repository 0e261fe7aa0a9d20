"""Write a run: records, errors, flat tables and the manifest, each file atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.documents import check_doc_id
from schemas.records import DocumentExtraction


def write_atomic(path: Path, text: str) -> None:
    """Write via a temp file in the same folder plus rename, so no reader, and no rerun after a
    crash or kill -9, ever sees half a file. (No fsync: that guards against power loss, not
    process death, and costs milliseconds per record in a batch of thousands.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, data: Any) -> None:
    """Pretty, UTF-8, atomically written JSON."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def record_path(run_dir: Path, doc_id: str) -> Path:
    """Where a document's record lives; the id is checked so it cannot escape RUN_DIR."""
    check_doc_id(doc_id, run_dir)
    records = (run_dir / "records").resolve()
    path = (records / f"{doc_id}.json").resolve()
    if not path.is_relative_to(records):
        raise ValueError(f"document id {doc_id!r} escapes {records}")
    return path


def write_record(run_dir: Path, record: DocumentExtraction) -> None:
    """Write one document's extraction to RUN_DIR/records/<doc_id>.json."""
    write_json(record_path(run_dir, record.doc_id), record.model_dump(mode="json"))


def read_records(run_dir: Path) -> dict[str, DocumentExtraction]:
    """Every record file of a run, keyed by document id."""
    records: dict[str, DocumentExtraction] = {}
    for path in sorted((run_dir / "records").glob("*.json")):
        record = DocumentExtraction.model_validate_json(path.read_text(encoding="utf-8"))
        records[record.doc_id] = record
    return records


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    """Append one line and flush it to disk, so a crash keeps what was already reported."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


TABLE_COLUMNS = {
    "companies": [
        "doc_id",
        "name",
        "aliases",
        "org_type",
        "founded_year",
        "headquarters",
        "evidence",
    ],
    "people": ["doc_id", "name", "roles", "evidence"],
    "deals": [
        "doc_id",
        "deal_type",
        "parties",
        "amount",
        "amount_currency",
        "amount_qualifier",
        "stake_percent",
        "valuation",
        "status",
        "date",
        "evidence",
    ],
}


def flat_tables(records: list[DocumentExtraction]) -> dict[str, pd.DataFrame]:
    """One row per company, person and deal, for deals.csv, companies.csv and people.csv."""
    companies, people, deals = [], [], []
    for record in records:
        for company in record.companies:
            companies.append(
                {
                    "doc_id": record.doc_id,
                    "name": company.name,
                    "aliases": "; ".join(company.aliases),
                    "org_type": company.org_type,
                    "founded_year": company.founded_year,
                    "headquarters": company.headquarters,
                    "evidence": " | ".join(e.quote for e in company.evidence),
                }
            )
        for person in record.people:
            people.append(
                {
                    "doc_id": record.doc_id,
                    "name": person.name,
                    "roles": "; ".join(
                        f"{r.title} ({r.organization})" if r.organization else r.title
                        for r in person.roles
                    ),
                    "evidence": " | ".join(e.quote for e in person.evidence),
                }
            )
        for deal in record.deals:
            deals.append(
                {
                    "doc_id": record.doc_id,
                    "deal_type": deal.deal_type,
                    "parties": "; ".join(f"{p.name} ({p.role})" for p in deal.parties),
                    "amount": deal.amount.value if deal.amount else None,
                    "amount_currency": deal.amount.currency if deal.amount else None,
                    "amount_qualifier": deal.amount.qualifier if deal.amount else None,
                    "stake_percent": deal.stake_percent,
                    "valuation": deal.valuation.value if deal.valuation else None,
                    "status": deal.status,
                    "date": deal.date,
                    "evidence": " | ".join(e.quote for e in deal.evidence),
                }
            )
    rows = {"companies": companies, "people": people, "deals": deals}
    return {name: pd.DataFrame(rows[name], columns=TABLE_COLUMNS[name]) for name in rows}


def write_tables(run_dir: Path, records: list[DocumentExtraction]) -> dict[str, pd.DataFrame]:
    """Write deals.csv, companies.csv and people.csv for the whole run; returns the tables."""
    tables = flat_tables(records)
    for name, frame in tables.items():
        write_atomic(run_dir / f"{name}.csv", frame.to_csv(index=False))
    return tables
