"""What a gold folder holds: its records by type per document, for `dealx summary`."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from schemas.gold import GoldDocument

SUMMARY_COLUMNS = ("document", "companies", "people", "deals", "optional")


def gold_summary(golds: Mapping[str, GoldDocument]) -> pd.DataFrame:
    """One row per gold document: its companies, people and deals, and how many of those
    records are optional."""
    rows = [
        (
            doc_id,
            len(gold.companies),
            len(gold.people),
            len(gold.deals),
            sum(record.optional for record in (*gold.companies, *gold.people, *gold.deals)),
        )
        for doc_id, gold in golds.items()
    ]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
