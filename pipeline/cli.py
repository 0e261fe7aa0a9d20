"""The `dealx` command line: one small function per subcommand, the work lives in the modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from eval.gold import load_gold_dir, validate_gold_dir
from pipeline.errors import EXIT_FAILED, DealxError
from schemas.records import DocumentExtraction

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Extract deals, companies and people from news articles; score them against gold.",
)
console = Console()
err_console = Console(stderr=True)

GoldDir = Annotated[Path, typer.Argument(help="Folder of gold/<doc_id>.json files.")]
SeedsOpt = Annotated[Path, typer.Option("--seeds", help="Folder of the articles gold labels.")]


@app.command()
def schema() -> None:
    """Print the JSON Schema of DocumentExtraction."""
    print(json.dumps(DocumentExtraction.model_json_schema(), indent=2))


@app.command("validate-gold")
def validate_gold(gold_dir: GoldDir = Path("gold"), seeds: SeedsOpt = Path("seeds")) -> None:
    """Check gold files against the schema and their quotes against the seeds."""
    problems = validate_gold_dir(gold_dir, seeds)
    for problem in problems:
        print(problem)
    if problems:
        err_console.print(f"{len(problems)} problem(s) in {gold_dir}")
        raise typer.Exit(EXIT_FAILED)
    console.print(f"{gold_dir}: all gold files valid")


@app.command()
def summary(gold_dir: GoldDir = Path("gold")) -> None:
    """Print the records by type of every gold document."""
    table = Table(title=f"Gold records in {gold_dir}")
    for column in ("document", "companies", "people", "deals", "optional"):
        table.add_column(column, justify="left" if column == "document" else "right")
    golds = load_gold_dir(gold_dir)
    for doc_id, gold in golds.items():
        records = [*gold.companies, *gold.people, *gold.deals]
        table.add_row(
            doc_id,
            str(len(gold.companies)),
            str(len(gold.people)),
            str(len(gold.deals)),
            str(sum(record.optional for record in records)),
        )
    console.print(table)


@app.command()
def run(gold_dir: GoldDir = Path("gold"), seeds: SeedsOpt = Path("seeds")) -> None:
    """The main job on the seeds: validate the gold, then summarise it."""
    validate_gold(gold_dir, seeds)
    summary(gold_dir)


def main() -> None:
    """Entry point: run the app, turning a DealxError into one line and its exit code."""
    try:
        app()
    except DealxError as exc:
        err_console.print(f"dealx: error: {exc}", markup=False, highlight=False)
        sys.exit(exc.exit_code)
