"""dealx's extraction pipeline as a library.

    from pipeline import extract, write_run

`extract` / `aextract` turn articles into grounded records; `write_run` writes them as a run
directory. Names are imported on first use, so `import pipeline` (and `dealx --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.api import Extractions, aextract, extract, write_run
    from pipeline.extraction.documents import Document
    from pipeline.settings import Settings

__all__ = ["Document", "Extractions", "Settings", "aextract", "extract", "write_run"]

_HOMES = {
    "Document": "pipeline.extraction.documents",
    "Extractions": "pipeline.api",
    "Settings": "pipeline.settings",
    "aextract": "pipeline.api",
    "extract": "pipeline.api",
    "write_run": "pipeline.api",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
