"""Candidate recall of a constrained run: how much of the gold the model could have picked at all.

The constrained strategy lets the model choose only among candidates found in the article
(RUN_DIR/candidates/<doc_id>.json). A gold value that is not among them cannot be extracted
whatever the model does, so the share of gold values offered is a ceiling on its recall, and
separates what the candidate finder missed from what the model got wrong.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

# The scorer's own alias map, so that the ceiling and the scores agree on who a party is.
from eval.align import _canonical_names
from schemas.gold import GoldDeal, GoldDocument
from schemas.normalize import money_agrees, normalize_company, normalize_person

CEILING_ITEMS = ("company", "person", "amount", "deal")
CEILING_COLUMNS = ("item", "gold", "offered", "share")
# Money fields of a deal whose values are offered as amount candidates.
_MONEY_FIELDS = ("amount", "valuation")


def ceiling_table(
    candidates: dict[str, dict[str, Any]], golds: dict[str, GoldDocument]
) -> pd.DataFrame:
    """Per item, the non-optional gold values and how many were among the offered candidates,
    over the gold documents that have a candidates file; share is NaN without gold values."""
    found = dict.fromkeys(CEILING_ITEMS, 0)
    total = dict.fromkeys(CEILING_ITEMS, 0)
    for doc_id in sorted(golds.keys() & candidates.keys()):
        for item, hits in document_ceiling(candidates[doc_id], golds[doc_id]).items():
            total[item] += len(hits)
            found[item] += sum(hits)
    rows = [
        (item, total[item], found[item], found[item] / total[item] if total[item] else math.nan)
        for item in CEILING_ITEMS
    ]
    return pd.DataFrame(rows, columns=list(CEILING_COLUMNS))


def document_ceiling(offer: dict[str, Any], gold: GoldDocument) -> dict[str, list[bool]]:
    """For each item, one flag per non-optional gold value: was it among the candidates?"""
    organizations = {normalize_company(name) for name in offer["organizations"]}
    people = {normalize_person(name) for name in offer["people"]}
    amounts = [a["value"] for a in offer["amounts"] if a.get("value") is not None]
    canon = _canonical_names(gold)
    offered_sides = [
        {_party(name, canon) for name in (*deal["parties"], *deal["people"])}
        for deal in offer["deals"]
    ]
    deals = [d for d in gold.deals if not d.optional]
    return {
        "company": [
            any(normalize_company(name) in organizations for name in (c.name, *c.aliases))
            for c in gold.companies
            if not c.optional
        ],
        "person": [normalize_person(p.name) in people for p in gold.people if not p.optional],
        "amount": [any(money_agrees(a, value) for a in amounts) for value in _gold_money(deals)],
        "deal": [
            any({_party(p.name, canon) for p in deal.parties} <= sides for sides in offered_sides)
            for deal in deals
        ],
    }


def _gold_money(deals: Iterable[GoldDeal]) -> list[float]:
    """The non-null amount and valuation values of the deals, less those marked optional."""
    values = []
    for deal in deals:
        for name in _MONEY_FIELDS:
            money = getattr(deal, name)
            if money is not None and name not in deal.optional_fields:
                values.append(money.value)
    return values


def _party(name: str, canon: dict[str, str]) -> str:
    """A party name as compared: normalized, and a gold alias ("Meta Platforms") mapped to its
    company's name ("meta")."""
    normalized = normalize_company(name)
    return canon.get(normalized, normalized)
