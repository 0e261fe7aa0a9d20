"""The `dealx` command line: one small function per subcommand, the work lives in the modules."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any

import typer

from eval.formats import OutputFormat
from pipeline.cli import batch_commands, eval_commands, gold_commands
from pipeline.cli.eval_commands import FormatOpt
from pipeline.cli.terminal import stderr as err_console
from pipeline.cli.terminal import stdout as console
from pipeline.extraction.documents import STDIN_ID, printable
from pipeline.settings import Settings
from schemas.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    ConfigError,
    DealxError,
    InputError,
)

# Every command imports what it works with when it runs, so that `dealx --help` and
# `dealx --version` answer without loading openai, instructor, pandas or scipy.

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
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


# The defaults of the options whose value may also come from pyproject.toml or DEALX_*.
_DEFAULTS = {f.name: str(f.default) for f in fields(Settings)}
GoldDir = Annotated[Path, typer.Argument(help="Folder of gold/<doc_id>.json files.")]
RESPONSES = Path("tests/fixtures/responses")
SeedsOpt = Annotated[Path, typer.Option("--seeds", help="Folder of the articles gold labels.")]
SHOWN_FAILURES = 20  # failed documents listed on stderr; errors.jsonl has them all


@app.command(epilog="Example: dealx schema > extraction.schema.json")
def schema() -> None:
    """Print the JSON Schema of DocumentExtraction."""
    from schemas.records import DocumentExtraction

    print(json.dumps(DocumentExtraction.model_json_schema(), indent=2))


@app.command("validate-gold", epilog="Example: dealx validate-gold gold/ --seeds seeds/")
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


@app.command(epilog="Example: dealx summary gold/ --format csv")
def summary(gold_dir: GoldDir = Path("gold"), output: FormatOpt = OutputFormat.table) -> None:
    """Print the records by type of every gold document."""
    from eval.gold import load_gold_dir
    from eval.gold_summary import gold_summary
    from eval.tables import frame_records, print_frames

    frame = gold_summary(load_gold_dir(gold_dir))
    if output is OutputFormat.json:
        print(json.dumps(frame_records(frame), indent=2))
    else:
        print_frames({f"Gold records in {gold_dir}": frame}, output, console)


@app.command(
    epilog="Example: dealx extract seeds/ --out runs/try1 --model openai/gpt-4o-mini; "
    "echo 'Meta invests in Scale AI.' | dealx extract - --id note1"
)
def extract(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Article files or folders; - reads one article from standard input.",
            show_default="seeds/",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Run directory.", show_default="runs/<model>-<prompt>-<UTC time>"
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="provider/model.", show_default=_DEFAULTS["model"])
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible server URL.", show_default="the provider's"),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            help="Prompt template name.",
            show_default="extract_v2 (plain), constrained_v2 (constrained)",
        ),
    ] = None,
    cache: Annotated[
        Path | None, typer.Option(help="SQLite cache file.", show_default=_DEFAULTS["cache"])
    ] = None,
    cache_mode: Annotated[
        str | None,
        typer.Option(
            help="readwrite | replay | refresh | off.", show_default=_DEFAULTS["cache_mode"]
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Documents in flight.", show_default=_DEFAULTS["concurrency"]),
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option(min=0, help="Validation re-asks.", show_default=_DEFAULTS["max_retries"]),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Only the first N documents.", show_default="all"),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="plain (one call) | constrained (questions over the article's candidates).",
            show_default="constrained for local/ models, plain otherwise",
        ),
    ] = None,
    grounding: Annotated[
        str | None,
        typer.Option(
            help="strict (drop unsupported) | flag | off.", show_default=_DEFAULTS["grounding"]
        ),
    ] = None,
    doc_id: Annotated[
        str,
        typer.Option("--id", help="The document id of an article read from standard input."),
    ] = STDIN_ID,
    max_cost_usd: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Stop before the run's spend could pass this many USD (exit 4); rerun with "
            "more to resume.",
            show_default="no cap",
        ),
    ] = None,
    budget_tokens: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Stop before the run's tokens (in + out) could pass N (exit 4).",
            show_default="no cap",
        ),
    ] = None,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch",
            help="Send the requests through the provider's Batch API (openai/ models, half "
            "price); rerun to resume or collect.",
        ),
    ] = False,
    wait: batch_commands.WaitOpt = True,
    poll_seconds: batch_commands.PollOpt = batch_commands.DEFAULT_POLL_S,
    temperature: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="Sampling temperature; 0 decodes greedily (the same answer every time).",
            show_default=_DEFAULTS["temperature"],
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Sampling seed sent with every request (part of its cache key).",
            show_default=_DEFAULTS["seed"],
        ),
    ] = None,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            help="Extract N samples, with seeds S, S+1, ..., S+N-1, into RUN_DIR/sample-1 ... "
            "RUN_DIR/sample-N and print their stability against gold/; needs --temperature "
            "above 0.",
        ),
    ] = 1,
) -> None:
    """Extract deals, companies and people from articles into a run directory.

    An option left out comes from DEALX_* variables, then the tool.dealx table of
    pyproject.toml, then the default shown.
    """
    from pipeline.runner import default_run_dir
    from pipeline.settings import load_settings

    stdin = paths == [Path("-")]
    settings = load_settings(
        {
            "paths": None if stdin else paths or None,
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
            "max_cost_usd": max_cost_usd,
            "budget_tokens": budget_tokens,
            "temperature": temperature,
            "seed": seed,
        }
    )
    if repeat > 1 and batch:
        raise ConfigError("--repeat sends live requests; it cannot be combined with --batch")
    if repeat > 1 and settings.temperature == 0:
        raise ConfigError(
            f"--repeat {repeat} at temperature 0: every sample would be the same greedy "
            "answer; set --temperature above 0 (e.g. 0.7)"
        )
    run_dir = out or default_run_dir(settings.runs_dir, settings.model, settings.prompt_name)
    if batch:
        if stdin:
            raise InputError("--batch reads articles from files, not standard input")
        manifest = batch_commands.run_extract_batch(settings, run_dir, wait, poll_seconds)
        batch_commands.print_batch_summary(run_dir, manifest)
        return
    sources = None
    if stdin:
        from pipeline.extraction.documents import read_stream

        sources = [read_stream(sys.stdin.buffer, doc_id)]
    # Without --out, the same command would start a new run directory instead of resuming.
    again = "the same command" if out else f"the same command with --out {run_dir}"
    if repeat > 1:
        failed = _extract_samples(settings, run_dir, repeat, sources, again)
    else:
        manifest = _extract_with_progress(settings, run_dir, sources, again)
        print_run_summary(run_dir, manifest)
        failed = bool(manifest["documents"]["failed"])
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _extract_samples(
    settings: Settings,
    run_dir: Path,
    repeat: int,
    sources: list[Any] | None,
    again: str,
) -> bool:
    """`extract --repeat N`: sample k, at seed S+k-1, into RUN_DIR/sample-k, then the samples'
    stability against gold/ (as `dealx stability` prints it); returns whether a document
    failed in any sample."""
    from dataclasses import replace

    samples = [run_dir / f"sample-{number}" for number in range(1, repeat + 1)]
    failed = False
    for offset, sample_dir in enumerate(samples):
        sample = replace(settings, seed=settings.seed + offset)
        err_console.print(
            f"extract: sample {offset + 1} of {repeat} (seed {sample.seed}) into {sample_dir}"
        )
        manifest = _extract_with_progress(sample, sample_dir, sources, again)
        print_run_summary(sample_dir, manifest)
        failed = failed or bool(manifest["documents"]["failed"])
    gold = Path("gold")
    # The samples are written whatever the gold says: a missing or unrelated gold only means
    # no table, and the hint says how to score them against other gold.
    hint = f"dealx stability {run_dir}/sample-* --gold GOLD_DIR scores them"
    if not gold.is_dir():
        err_console.print(f"dealx: no stability table: no {gold}/ folder here; {hint}")
        return failed
    try:
        eval_commands.stability(samples, gold, OutputFormat.table)
    except InputError as exc:
        err_console.print(f"dealx: no stability table: {exc}; {hint}")
    return failed


def _extract_with_progress(
    settings: Any,
    run_dir: Path,
    sources: list[Any] | None = None,
    again: str = "the same command",
) -> dict[str, Any]:
    """extract_run with its progress on stderr; a Ctrl-C ends it with exit 130 and a hint."""
    from pipeline.cli.progress import ExtractProgress
    from pipeline.runner import extract_run

    try:
        with ExtractProgress(err_console) as progress:
            return extract_run(settings, run_dir, progress.update, sources, progress.start)
    except KeyboardInterrupt:
        err_console.print(f"dealx: interrupted; rerun {again} to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None


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
    console.print(batch_commands.spend_text(manifest))
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
app.add_typer(batch_commands.batch_app, name="batch")
CacheOpt = Annotated[
    Path | None,
    typer.Option("--cache", help="SQLite cache file.", show_default=_DEFAULTS["cache"]),
]
FixturesArg = Annotated[
    Path, typer.Argument(metavar="FOLDER", help="Folder of JSON entries, one file each.")
]


@cache_app.command("export", epilog="Example: dealx cache export exported/ --cache my.sqlite")
def cache_export(folder: FixturesArg, cache: CacheOpt = None) -> None:
    """Write every cache entry as one JSON file under FOLDER."""
    from pipeline.settings import load_settings
    from pipeline.store.cache import ResponseCache
    from pipeline.store.cache_transfer import export_entries

    with ResponseCache(cache or load_settings().cache, create=False) as store:
        written = export_entries(store, folder)
    console.print(f"exported {len(written)} entries to {folder}")


@cache_app.command("import", epilog="Example: dealx cache import tests/fixtures/responses/")
def cache_import(folder: FixturesArg, cache: CacheOpt = None) -> None:
    """Load the JSON entries under FOLDER into the SQLite cache (created if missing)."""
    from pipeline.settings import load_settings
    from pipeline.store.cache import ResponseCache
    from pipeline.store.cache_transfer import read_entries, store_entries

    # Checked before the cache is opened: a refused folder creates no empty cache file.
    entries = read_entries(folder)
    with ResponseCache(cache or load_settings().cache) as store:
        imported = store_entries(store, entries)
    console.print(
        f"imported {imported.read} entries from {folder}: {imported.new} new, "
        f"{imported.read - imported.new} already in the cache"
    )


ResponsesOpt = Annotated[
    Path,
    typer.Option("--responses", help="Folder of the recorded responses to replay."),
]


@app.command(epilog="Example: dealx run (in a dealx checkout)")
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
    typer.Option("--out", help="Folder for the output.", show_default="RUN_DIR/consolidated"),
]


@app.command(epilog="Example: dealx consolidate runs/latest --out consolidated/")
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
app.command("eval", epilog="Example: dealx eval runs/latest --gold gold/ --fail-under 0.5")(
    eval_commands.eval_run
)
app.command(
    "compare", epilog="Example: dealx compare runs/baseline runs/latest --fail-on-regression"
)(eval_commands.compare)
app.add_typer(gold_commands.gold_app, name="gold")
app.command("agree", epilog="Example: dealx agree gold/ second-annotator/")(gold_commands.agree)
app.command("stability", epilog="Example: dealx stability runs/try1 runs/try2 runs/try3")(
    eval_commands.stability
)
app.command("errors", epilog="Example: dealx errors runs/latest --sort document --format csv")(
    eval_commands.errors
)
app.command("runs", epilog="Example: dealx runs --format markdown")(eval_commands.runs)
app.command("report", epilog="Example: dealx report runs/latest -o report.html")(
    eval_commands.report
)


def main() -> None:
    """Entry point: run the app, turning a DealxError into one line and its exit code, and an
    OSError (an output path that is a file where a folder belongs or the reverse, no
    permission, a full disk) into one line and exit 2."""
    try:
        app()
    except DealxError as exc:
        # A path or id in the message may hold a newline or an escape code: escaped, the
        # message stays the one line a script greps.
        err_console.print(f"dealx: error: {printable(str(exc))}")
        sys.exit(exc.exit_code)
    except OSError as exc:
        err_console.print(f"dealx: error: {_os_error_text(exc)}")
        sys.exit(EXIT_USAGE)


def _os_error_text(exc: OSError) -> str:
    """`<path>: <problem>` for an OSError on a path (both paths of a failed rename), else the
    problem alone; one printable line, secrets redacted."""
    from pipeline.failures import redact

    problem = " ".join((exc.strerror or str(exc) or type(exc).__name__).split())
    names = [
        # A name's non-UTF-8 bytes are shown as \xNN escapes: as the surrogates that stand for
        # them in a str they could not be printed at all.
        printable(os.fsencode(name).decode("utf-8", "backslashreplace"))
        if isinstance(name, str | bytes | os.PathLike)
        else str(name)
        for name in (exc.filename, exc.filename2)
        if name is not None
    ]
    return redact(f"{' -> '.join(names)}: {problem}" if names else problem)
