"""List the runs under runs/: model, prompt, date, documents, tokens and cost and, where gold
exists, the record-level and field-level F1 and the support rate."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from eval.load import load_run
from eval.scoring import evaluate
from schemas.errors import InputError
from schemas.gold import GoldDocument

RUN_COLUMNS = (
    "run",
    "latest",
    "model",
    "prompt",
    "started_at",
    "docs",
    "failed",
    "tokens",
    "cost_usd",
    "f1",
    "field_f1",
    "support_rate",
    "problem",
)


def list_runs(runs_dir: Path, golds: dict[str, GoldDocument] | None) -> pd.DataFrame:
    """One row per run directory, oldest first; F1 is blank without gold, the support rate
    (of the gold-scored documents' predicted records) also when the run has no support counts.

    A directory that cannot be read as a run gets a row with its problem instead of ending the
    listing.
    """
    if not runs_dir.is_dir():
        raise InputError(f"{runs_dir}: no such runs folder")
    latest = runs_dir / "latest"
    latest_target = latest.resolve() if latest.is_symlink() else None
    rows = []
    for path in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        row: dict[str, object] = {"run": path.name, "latest": path.resolve() == latest_target}
        try:
            run = load_run(path)
        except InputError as exc:
            rows.append({**row, "problem": str(exc)})
            continue
        manifest = run.manifest
        totals = manifest.get("run")
        # Over every invocation of the run, live and batch (a manifest older than the `run`
        # section: its own); cost blank: no price. A value of the wrong type is left blank.
        totals = totals if isinstance(totals, dict) else manifest
        row |= {
            "model": _text(manifest.get("model")),
            "prompt": _text(manifest.get("prompt")),
            "started_at": _text(manifest.get("started_at")),
            "docs": len(run.predictions),
            "failed": len(run.failures),
            "tokens": _run_tokens(totals),
            "cost_usd": _number(totals.get("cost_usd", manifest.get("cost_usd"))),
        }
        if golds:
            overall = evaluate(run, golds).overall
            for column in ("f1", "field_f1", "support_rate"):
                row[column] = float(overall[column].iloc[0])
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    kinds = {"docs": "Int64", "failed": "Int64", "tokens": "Int64"} | {
        column: "Float64" for column in ("cost_usd", "f1", "field_f1", "support_rate")
    }
    frame = frame.astype(kinds)
    # A column of runs that all have a problem holds only NaN: no start time sorts first.
    order = frame["started_at"].map(lambda value: value if isinstance(value, str) else "")
    return frame.iloc[order.argsort(kind="stable")].reset_index(drop=True)


def _run_tokens(totals: dict[str, object]) -> int | None:
    """Tokens in and out, or None when either count is missing or not a whole number."""
    tokens_in, tokens_out = totals.get("tokens_in"), totals.get("tokens_out")
    if not isinstance(tokens_in, int) or not isinstance(tokens_out, int):
        return None
    return tokens_in + tokens_out


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
