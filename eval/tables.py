"""Render DataFrames for the terminal (rich), Markdown, CSV and JSON, and write them to disk."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from eval.formats import OutputFormat
from eval.scoring import Scores, record_table

EVAL_TABLES = ("overall", "by_type", "by_field", "by_doc")
CEILING_TITLE = "Candidate recall (ceiling: gold values among the candidates offered to the model)"


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain JSON-ready dicts: NaN and NA become None, numpy numbers Python numbers."""
    return json.loads(frame.to_json(orient="records", double_precision=6))


def eval_json(evaluation: Scores) -> dict[str, Any]:
    """The `--format json` object: `overall` as one object, the other tables as row lists;
    `ceiling` only for a run with candidates."""
    document = {
        "overall": frame_records(evaluation.overall)[0],
        "by_type": frame_records(evaluation.by_type),
        "by_field": frame_records(evaluation.by_field),
        "by_doc": frame_records(evaluation.by_doc),
    }
    if evaluation.ceiling is not None:
        document["ceiling"] = frame_records(evaluation.ceiling)
    return document


def print_frames(frames: dict[str, pd.DataFrame], output: OutputFormat, console: Console) -> None:
    """Print titled tables as rich tables, Markdown sections or CSV sections (not JSON)."""
    for title, frame in frames.items():
        if output is OutputFormat.table:
            console.print(rich_table(frame, title))
        elif output is OutputFormat.markdown:
            print(f"### {title}\n\n{markdown(frame)}\n")
        else:
            # Several tables share stdout, each after a `# title` line; RUN_DIR/eval/ has them
            # one per file.
            print(f"# {title}\n{frame.to_csv(index=False)}")


def vertical(frame: pd.DataFrame) -> pd.DataFrame:
    """A one-row table as metric/value rows, which reads better than one very wide row."""
    values = [cell(frame[column].iloc[0]) for column in frame.columns]  # keeps ints as ints
    return pd.DataFrame({"metric": list(frame.columns), "value": values})


def rich_table(frame: pd.DataFrame, title: str) -> Table:
    """A rich Table with numbers right-aligned and ratios to three decimals."""
    table = Table(title=title)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left", overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(cell(value) for value in row))
    return table


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table (pandas' own to_markdown needs the tabulate package)."""
    header = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def cell(value: Any) -> str:
    """A table cell: blank for missing values, ratios to three decimals."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def write_eval(evaluation: Scores, out_dir: Path) -> None:
    """Write the four tables (and ceiling.csv for a run with candidates) as CSV, per-record
    outcomes as records.csv, all of it as eval.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in EVAL_TABLES:
        getattr(evaluation, name).to_csv(out_dir / f"{name}.csv", index=False)
    ceiling = out_dir / "ceiling.csv"
    if evaluation.ceiling is not None:
        evaluation.ceiling.to_csv(ceiling, index=False)
    else:
        ceiling.unlink(missing_ok=True)  # an older eval's, which eval.json would now contradict
    record_table(evaluation.alignments.values()).to_csv(out_dir / "records.csv", index=False)
    text = json.dumps(eval_json(evaluation), indent=2) + "\n"
    (out_dir / "eval.json").write_text(text, encoding="utf-8")
