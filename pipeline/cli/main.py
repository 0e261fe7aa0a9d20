"""The `dealx` command line: one small function per subcommand, the work lives in the modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pipeline.cli import eval_commands
from pipeline.cli.terminal import stderr as err_console
from pipeline.cli.terminal import stdout as console
from schemas.errors import EXIT_FAILED, DealxError, InputError

if TYPE_CHECKING:
    from pipeline.runner import RunTotals

# Every command imports what it works with when it runs, so that `dealx --help` and
# `dealx --version` answer without loading openai, instructor, pandas or scipy.

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Extract deals, companies and people from news articles; score them against gold.",
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"dealx {version('dealx')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Extract deals, companies and people from news articles; score them against gold."""


GoldDir = Annotated[Path, typer.Argument(help="Folder of gold/<doc_id>.json files.")]
RESPONSES = Path("tests/fixtures/responses")
SeedsOpt = Annotated[Path, typer.Option("--seeds", help="Folder of the articles gold labels.")]
SHOWN_FAILURES = 20  # failed documents listed on stderr; errors.jsonl has them all


@app.command()
def schema() -> None:
    """Print the JSON Schema of DocumentExtraction."""
    from schemas.records import DocumentExtraction

    print(json.dumps(DocumentExtraction.model_json_schema(), indent=2))


@app.command("validate-gold")
def validate_gold(gold_dir: GoldDir = Path("gold"), seeds: SeedsOpt = Path("seeds")) -> None:
    """Check gold files against the schema and their quotes against the seeds."""
    from eval.gold import validate_gold_dir

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
    from rich.table import Table

    from eval.gold import load_gold_dir

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
def extract(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Article files or folders [default: seeds/].")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory.")] = None,
    model: Annotated[str | None, typer.Option(help="provider/model.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    prompt: Annotated[str | None, typer.Option(help="Prompt template name.")] = None,
    cache: Annotated[Path | None, typer.Option(help="SQLite cache file.")] = None,
    cache_mode: Annotated[
        str | None, typer.Option(help="readwrite | replay | refresh | off.")
    ] = None,
    concurrency: Annotated[int | None, typer.Option(help="Documents in flight.")] = None,
    max_retries: Annotated[int | None, typer.Option(help="Validation re-asks.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N documents.")] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="plain (one call) | constrained (questions over the article's candidates); "
            "default: constrained for local/ models, plain otherwise."
        ),
    ] = None,
    grounding: Annotated[
        str | None, typer.Option(help="strict (drop unsupported) | flag | off.")
    ] = None,
) -> None:
    """Extract deals, companies and people from articles into a run directory."""
    from pipeline.runner import default_run_dir
    from pipeline.settings import load_settings

    settings = load_settings(
        {
            "paths": paths or None,
            "model": model,
            "base_url": base_url,
            "prompt": prompt,
            "cache": cache,
            "cache_mode": cache_mode,
            "concurrency": concurrency,
            "max_retries": max_retries,
            "limit": limit,
            "strategy": strategy,
            "grounding": grounding,
        }
    )
    run_dir = out or default_run_dir(settings.runs_dir, settings.model, settings.prompt_name)
    manifest = _extract_with_progress(settings, run_dir)
    print_run_summary(run_dir, manifest)
    if manifest["documents"]["failed"]:
        raise typer.Exit(EXIT_FAILED)


def _extract_with_progress(settings: Any, run_dir: Path) -> dict[str, Any]:
    """extract_run with a progress bar on stderr."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeline.providers.base import quiet_instructor_retry_logs
    from pipeline.runner import extract_run

    quiet_instructor_retry_logs()  # each failure is reported once, in errors.jsonl
    columns = (
        TextColumn("extract"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console) as progress:
        task = progress.add_task("extract", total=None, info="")

        def show(totals: RunTotals, todo: int) -> None:
            s = totals.stats
            info = (
                f"ok {len(totals.ok)} failed {len(totals.failed)} "
                f"hits {s.cache_hits} tokens {s.prompt_tokens + s.completion_tokens}"
            )
            done = len(totals.ok) + len(totals.failed)
            progress.update(task, total=todo, completed=done, info=info)

        return extract_run(settings, run_dir, show)


def print_run_summary(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Counts of a finished run: documents, records by type, cache, tokens."""
    docs = manifest["documents"]
    counts = manifest["records"]
    console.print(
        f"{run_dir}: {docs['ok']} ok, {docs['failed']} failed, "
        f"{docs['skipped_already_done']} already done; "
        f"records: {counts['companies']} companies, {counts['people']} people, "
        f"{counts['deals']} deals; cache {manifest['cache_hits']} hits / "
        f"{manifest['cache_misses']} misses; tokens {manifest['tokens_in']} in / "
        f"{manifest['tokens_out']} out; {manifest['wall_s']} s"
    )
    rejected = manifest["rejected"]
    if any(rejected.values()):
        console.print(
            f"grounding ({manifest['grounding']}): {rejected['records_dropped']} records and "
            f"{rejected['values_dropped']} values dropped, {rejected['records_flagged']} records "
            f"and {rejected['values_flagged']} values flagged as not supported by their "
            f"evidence; why: {run_dir / 'rejected.jsonl'}"
        )
    support = manifest["support"].get("all")
    if support and support["support_rate"] is not None:
        console.print(
            f"support rate {support['support_rate']:.3f} ({support['records_supported']} of "
            f"{support['records']} records), values {support['value_support_rate']:.3f}, "
            "before anything was dropped"
        )
    failed = sorted(manifest["failed"].items())
    for doc_id, reason in failed[:SHOWN_FAILURES]:
        err_console.print(f"failed: {doc_id}: {reason}")
    if len(failed) > SHOWN_FAILURES:
        err_console.print(f"... {len(failed) - SHOWN_FAILURES} more in {run_dir / 'errors.jsonl'}")


cache_app = typer.Typer(help="Move cache entries between SQLite and reviewable JSON files.")
app.add_typer(cache_app, name="cache")
CacheOpt = Annotated[Path | None, typer.Option("--cache", help="SQLite cache file.")]
FixturesArg = Annotated[Path, typer.Argument(help="Folder of JSON entries, one file each.")]


@cache_app.command("export")
def cache_export(folder: FixturesArg, cache: CacheOpt = None) -> None:
    """Write every cache entry as one JSON file under FOLDER."""
    from pipeline.settings import load_settings
    from pipeline.store.cache import ResponseCache
    from pipeline.store.cache_transfer import export_entries

    with ResponseCache(cache or load_settings().cache) as store:
        written = export_entries(store, folder)
    console.print(f"exported {len(written)} entries to {folder}")


@cache_app.command("import")
def cache_import(folder: FixturesArg, cache: CacheOpt = None) -> None:
    """Load the JSON entries under FOLDER into the SQLite cache."""
    from pipeline.settings import load_settings
    from pipeline.store.cache import ResponseCache
    from pipeline.store.cache_transfer import import_entries

    with ResponseCache(cache or load_settings().cache) as store:
        count = import_entries(store, folder)
    console.print(f"imported {count} entries from {folder}")


ResponsesOpt = Annotated[
    Path,
    typer.Option("--responses", help="Folder of the recorded responses to replay."),
]


@app.command()
def run(
    gold_dir: GoldDir = Path("gold"),
    seeds: SeedsOpt = Path("seeds"),
    responses: ResponsesOpt = RESPONSES,
) -> None:
    """The main job on the seeds, offline: check the gold, replay the recorded responses of
    the embedded model with both strategies, score both runs, compare them, write a report.
    Run it in a dealx checkout, or point --seeds, --gold and --responses at copies."""
    from eval.load import load_gold, load_run
    from eval.report import write_report
    from eval.scoring import evaluate
    from eval.tables import OutputFormat, print_frames, write_eval
    from pipeline.consolidation import consolidate as consolidate_run
    from pipeline.consolidation import write_consolidation
    from pipeline.runner import default_run_dir
    from pipeline.settings import load_settings
    from pipeline.store.cache import ResponseCache
    from pipeline.store.cache_transfer import import_entries

    if not responses.is_dir():
        raise InputError(
            f"{responses}: no recorded responses here; run dealx run in a dealx checkout "
            "or pass --responses"
        )
    validate_gold(gold_dir, seeds)
    summary(gold_dir)
    golds = load_gold(gold_dir)
    run_dirs: dict[str, Path] = {}
    failed = False
    for strategy in ("plain", "constrained"):
        settings = load_settings({"paths": [seeds], "cache_mode": "replay", "strategy": strategy})
        with ResponseCache(settings.cache) as store:
            import_entries(store, responses)
        run_dir = default_run_dir(settings.runs_dir, settings.model, settings.prompt_name)
        manifest = _extract_with_progress(settings, run_dir)
        print_run_summary(run_dir, manifest)
        failed = failed or bool(manifest["documents"]["failed"])
        evaluation = evaluate(load_run(run_dir), golds)
        write_eval(evaluation, run_dir / "eval")
        scores = {f"{strategy}: scores by record type": evaluation.by_type}
        print_frames(scores, OutputFormat.table, console)
        run_dirs[strategy] = run_dir
    eval_commands.compare(run_dirs["plain"], run_dirs["constrained"], gold_dir)

    constrained = run_dirs["constrained"]
    write_consolidation(consolidate_run(constrained), constrained / "consolidated")
    eval_commands.eval_run(constrained, gold_dir, consolidated=True)
    path = write_report(constrained, golds, constrained / "report.html")
    console.print(f"report: {path}")
    if failed:
        raise typer.Exit(EXIT_FAILED)


ConsolidateOutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Folder for the output (default: RUN_DIR/consolidated)."),
]


@app.command()
def consolidate(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory.")],
    out: ConsolidateOutOpt = None,
    seeds: eval_commands.SeedsOpt = None,
) -> None:
    """Join the per-article records of a run into one record per real-world company, person
    and deal, with each deal's timeline, current values, conflicts and merge reasons; writes
    consolidated.json, deals.csv, companies.csv and people.csv."""
    from pipeline.consolidation import consolidate as consolidate_run
    from pipeline.consolidation import write_consolidation

    consolidation = consolidate_run(run_dir, articles=seeds)
    path = write_consolidation(consolidation, out or run_dir / "consolidated")
    for doc_id, reason in consolidation.failures.items():
        err_console.print(f"dealx: {doc_id}: left out: {reason}")
    for note in consolidation.notes:
        err_console.print(f"dealx: {note}")
    console.print(
        f"{len(consolidation.documents)} document(s): {len(consolidation.deals)} deal(s), "
        f"{len(consolidation.companies)} company(ies), {len(consolidation.people)} people "
        f"written to {path.parent}",
    )
    if consolidation.failures or not consolidation.documents:
        raise typer.Exit(EXIT_FAILED)


# The eval harness's commands live in pipeline/cli/eval_commands.py.
app.command("eval")(eval_commands.eval_run)
app.command("compare")(eval_commands.compare)
app.command("runs")(eval_commands.runs)
app.command("report")(eval_commands.report)


def main() -> None:
    """Entry point: run the app, turning a DealxError into one line and its exit code."""
    try:
        app()
    except DealxError as exc:
        err_console.print(f"dealx: error: {exc}")
        sys.exit(exc.exit_code)
