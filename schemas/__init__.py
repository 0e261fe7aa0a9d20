"""Pydantic schemas of the records dealx extracts and of the gold files that score them."""

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
