"""Pydantic schemas of the records dealx extracts and of the gold files that score them, and
what every layer shares (error types, name and value normalizers).

Names are imported on first use, so that `schemas.errors` alone stays cheap to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.gold import GoldCompany, GoldDeal, GoldDocument, GoldPerson
    from schemas.records import (
        Company,
        Deal,
        DocumentExtraction,
        Evidence,
        Money,
        Party,
        Person,
        Role,
        Support,
        ValueSpan,
    )

_GOLD = ("GoldCompany", "GoldDeal", "GoldDocument", "GoldPerson")
_RECORDS = (
    "Company",
    "Deal",
    "DocumentExtraction",
    "Evidence",
    "Money",
    "Party",
    "Person",
    "Role",
    "Support",
    "ValueSpan",
)
__all__ = [
    "Company",
    "Deal",
    "DocumentExtraction",
    "Evidence",
    "GoldCompany",
    "GoldDeal",
    "GoldDocument",
    "GoldPerson",
    "Money",
    "Party",
    "Person",
    "Role",
    "Support",
    "ValueSpan",
]


def __getattr__(name: str) -> Any:
    if name in _GOLD:
        return getattr(importlib.import_module("schemas.gold"), name)
    if name in _RECORDS:
        return getattr(importlib.import_module("schemas.records"), name)
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")
