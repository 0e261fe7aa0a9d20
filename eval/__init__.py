"""dealx's eval harness as a library: `score` a run against gold, `compare` two runs.

Names are imported on first use (pandas and scipy load only when scoring starts).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eval.api import compare, score
    from eval.comparison import Comparison
    from eval.consolidation import ConsolidationScores, score_consolidated
    from eval.scoring import Scores

__all__ = ["Comparison", "ConsolidationScores", "Scores", "compare", "score", "score_consolidated"]

_HOMES = {
    "Comparison": "eval.comparison",
    "ConsolidationScores": "eval.consolidation",
    "score_consolidated": "eval.consolidation",
    "Scores": "eval.scoring",
    "compare": "eval.api",
    "score": "eval.api",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'eval' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
