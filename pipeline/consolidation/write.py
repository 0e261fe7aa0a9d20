"""Write a consolidation: consolidated.json (everything, with timelines, conflicts and every
decision) and deals.csv, companies.csv, people.csv (one row per consolidated record)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from pipeline.consolidation.deals import money_text
from pipeline.store.run_dir import write_atomic
from schemas.consolidated import ConsolidatedEntity, Consolidation
from schemas.records import Money

DEAL_COLUMNS = (
    "id",
    "deal_type",
    "parties",
    "status",
    "amount",
    "stake_percent",
    "valuation",
    "date",
    "sources",
    "documents",
    "timeline",
    "conflicts",
)
ENTITY_COLUMNS = ("id", "name", "aliases", "mentions", "documents")


def write_consolidation(consolidation: Consolidation, out_dir: str | Path) -> Path:
    """Write the files into `out_dir` (created if needed); returns consolidated.json's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "consolidated.json"
    write_atomic(path, consolidation.model_dump_json(indent=2) + "\n")
    deal_rows = [
        {
            "id": deal.id,
            "deal_type": deal.deal_type,
            "parties": "; ".join(f"{p.name} ({p.role})" for p in deal.parties),
            "status": deal.current["status"].value,
            "amount": _money(deal.current["amount"].value),
            "stake_percent": _cell(deal.current["stake_percent"].value),
            "valuation": _money(deal.current["valuation"].value),
            "date": _cell(deal.current["date"].value),
            "sources": len(deal.mentions),
            "documents": " ".join(dict.fromkeys(e.doc_id for e in deal.timeline)),
            "timeline": " | ".join(
                f"{e.date or 'undated'} {e.status or '?'}"
                + (f" {money_text(e.amount)}" if e.amount else "")
                + (f" {e.stake_percent:g}%" if e.stake_percent is not None else "")
                for e in deal.timeline
            ),
            "conflicts": "; ".join(
                f"{c.field}" + (f" ({c.status})" if c.status else "") for c in deal.conflicts
            ),
        }
        for deal in consolidation.deals
    ]
    _write_csv(out / "deals.csv", DEAL_COLUMNS, deal_rows)
    for name, entities in (
        ("companies", consolidation.companies),
        ("people", consolidation.people),
    ):
        _write_csv(out / f"{name}.csv", ENTITY_COLUMNS, [_entity_row(e) for e in entities])
    return path


def _entity_row(entity: ConsolidatedEntity) -> dict[str, Any]:
    return {
        "id": entity.id,
        "name": entity.name,
        "aliases": "; ".join(entity.aliases),
        "mentions": len(entity.mentions),
        "documents": " ".join(dict.fromkeys(m.doc_id for m in entity.mentions)),
    }


def _money(value: Any) -> str:
    return money_text(Money.model_validate(value)) if value else ""


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue())
