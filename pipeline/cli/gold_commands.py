"""The `dealx gold draft` and `dealx agree` commands, registered by pipeline/cli/main.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from eval.formats import OutputFormat
from pipeline.cli.eval_commands import FormatOpt, RunArg
from pipeline.cli.terminal import stdout as console
from schemas.errors import EXIT_FAILED

gold_app = typer.Typer(help="Grow the gold: drafts from a run for an annotator to correct.")


@gold_app.command("draft", epilog="Example: dealx gold draft runs/latest --out gold-drafts/")
def draft(
    run_dir: RunArg,
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder for the drafts (an existing file is left alone)."),
    ],
) -> None:
    """Write each extracted document of a run as a gold draft (<doc_id>.json, marked
    "reviewed": false) to correct by gold/GUIDELINES.md section 10. A document the run failed
    on, or whose record file is damaged, is named on stderr and left out (exit 1)."""
    from eval.gold_draft import write_gold_drafts

    drafts = write_gold_drafts(run_dir, out)
    for path in drafts.kept:
        print(f"{path}: already there, left alone", file=sys.stderr)
    for doc_id, reason in drafts.skipped.items():
        print(f"dealx: {doc_id}: left out: {reason}", file=sys.stderr)
    console.print(
        f'{len(drafts.written)} draft(s) written to {out}; review each, set "reviewed": true, '
        "then check them with dealx validate-gold"
    )
    if drafts.skipped:
        raise typer.Exit(EXIT_FAILED)


def agree(
    gold_a: Annotated[Path, typer.Argument(metavar="GOLD_A", help="A gold folder.")],
    gold_b: Annotated[
        Path, typer.Argument(metavar="GOLD_B", help="Another annotation of the same documents.")
    ],
    output: FormatOpt = OutputFormat.table,
) -> None:
    """Agreement of two annotations: record and field F1 of B against A per type, and every
    record and field they disagree on, with the alignment the scorer uses."""
    from eval.agreement import agreement
    from eval.load import load_gold
    from eval.tables import frame_records, print_frames, vertical

    result = agreement(load_gold(gold_a), load_gold(gold_b))
    columns = ["f1", "precision", "recall", "tp", "fp", "fn"]
    overall = result.overall[[*columns, "docs", "field_f1"]]
    by_type = result.by_type[["record_type", *columns]]
    by_field = result.by_field[["record_type", "field", *columns]]
    if output is OutputFormat.json:
        document = {
            "overall": frame_records(overall)[0],
            "by_type": frame_records(by_type),
            "by_field": frame_records(by_field),
            "disagreements": frame_records(result.disagreements),
            "only_a": result.only_a,
            "only_b": result.only_b,
        }
        print(json.dumps(document, indent=2))
    else:
        frames = {
            f"Agreement: B = {gold_b} against A = {gold_a}": (
                overall if output is OutputFormat.csv else vertical(overall)
            ),
            "By record type": by_type,
            "By field": by_field,
            "Disagreements (gold: A's value, predicted: B's)": result.disagreements,
        }
        print_frames(frames, output, console)
    for side, doc_ids in (("A", result.only_a), ("B", result.only_b)):
        if doc_ids:
            print(f"only in {side} (not compared): {', '.join(doc_ids)}", file=sys.stderr)
