"""How a command prints its tables; kept apart from the tables (and pandas) so that the command
line can declare its options without importing them."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    """How a command prints its tables."""

    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"
