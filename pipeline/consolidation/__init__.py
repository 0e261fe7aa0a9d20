"""Consolidation across articles: one record per real-world company, person and deal.

from pipeline.consolidation import consolidate, write_consolidation

consolidation = consolidate("runs/latest")
write_consolidation(consolidation, "runs/latest/consolidated")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.consolidation.api import consolidate
    from pipeline.consolidation.write import write_consolidation

__all__ = ["consolidate", "write_consolidation"]

_HOMES = {
    "consolidate": "pipeline.consolidation.api",
    "write_consolidation": "pipeline.consolidation.write",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'pipeline.consolidation' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
