"""The `dealx eval`, `compare`, `runs` and `report` commands, registered by pipeline/cli/main.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eval.formats import OutputFormat
from pipeline.cli.terminal import stdout as console
from schemas.errors import EXIT_FAILED

if TYPE_CHECKING:
    from eval.scoring import Scores

RunArg = Annotated[
    Path, typer.Argument(metavar="RUN_DIR", help="A run directory, e.g. runs/latest.")
]
GoldOpt = Annotated[Path, typer.Option("--gold", help="Folder of gold/<doc_id>.json files.")]
FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="How to print the tables.")]
FailUnderOpt = Annotated[
    float | None,
    typer.Option(
        "--fail-under",
        min=0.0,
        max=1.0,
        help="Exit 1 when overall F1 is below this.",
        show_default="no gate",
    ),
]
FailUnderFieldsOpt = Annotated[
    float | None,
    typer.Option(
        "--fail-under-fields",
        min=0.0,
        max=1.0,
        help="Exit 1 when the F1 over all fields of all records is below this.",
        show_default="no gate",
    ),
]
FailOnRegressionOpt = Annotated[
    bool,
    typer.Option("--fail-on-regression", help="Exit 1 when B is significantly worse than A."),
]
ConsolidatedOpt = Annotated[
    bool,
    typer.Option(
        "--consolidated",
        help="Score the run's consolidation across articles against gold/consolidated.json "
        "instead (--fail-under gates the lowest cluster F1, --fail-under-fields the field F1).",
    ),
]
RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Folder that holds the runs.")]
SeedsOpt = Annotated[
    Path | None,
    typer.Option(
        "--seeds",
        help="Folder of the articles, when they moved since the run.",
        show_default="the input paths in the run's manifest",
    ),
]
ReportOutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="The HTML file to write.", show_default="RUN_DIR/report.html"),
]


def eval_run(
    run_dir: RunArg,
    gold: GoldOpt = Path("gold"),
    output: FormatOpt = OutputFormat.table,
    fail_under: FailUnderOpt = None,
    fail_under_fields: FailUnderFieldsOpt = None,
    consolidated: ConsolidatedOpt = False,
) -> None:
    """Score a run against the gold: P/R/F1 and support per record type, field and document.

    A constrained run also gets its candidate recall: the share of gold values among the
    candidates the model was offered. The tables are also written to RUN_DIR/eval/ (CSV per
    table, records.csv, eval.json). With --consolidated: the clusters (pairwise and B-cubed)
    and the consolidated values, against gold/consolidated.json.
    """
    if consolidated:
        _eval_consolidated(run_dir, gold, output, fail_under, fail_under_fields)
        return
    from eval.load import load_gold, load_run
    from eval.scoring import evaluate
    from eval.tables import CEILING_TITLE, eval_json, print_frames, vertical, write_eval

    run = load_run(run_dir)
    evaluation = evaluate(run, load_gold(gold))
    write_eval(evaluation, run_dir / "eval")
    if output is OutputFormat.json:
        print(json.dumps(eval_json(evaluation), indent=2))
    else:
        overall = evaluation.overall
        frames = {
            "Overall": overall if output is OutputFormat.csv else vertical(overall),
            "By record type": evaluation.by_type,
            "By field": evaluation.by_field,
            "By document": evaluation.by_doc,
        }
        if evaluation.ceiling is not None:
            frames[CEILING_TITLE] = evaluation.ceiling
        print_frames(frames, output, console)
    _report_documents(evaluation)
    for problem in run.candidate_problems.values():
        _note(f"{problem}; left out of the candidate recall")
    _note(f"tables written to {run_dir / 'eval'}")
    failed = False
    for column, option, floor in (
        ("f1", "--fail-under", fail_under),
        ("field_f1", "--fail-under-fields", fail_under_fields),
    ):
        value = float(evaluation.overall[column].iloc[0])
        if floor is not None and value < floor:
            _note(f"{column} {value:.3f} is below {option} {floor:g}")
            failed = True
    if failed:
        raise typer.Exit(EXIT_FAILED)


def compare(
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help="The baseline run.")],
    run_b: Annotated[
        Path, typer.Argument(metavar="RUN_B", help="The run to judge against the baseline.")
    ],
    gold: GoldOpt = Path("gold"),
    fail_on_regression: FailOnRegressionOpt = False,
    output: FormatOpt = OutputFormat.table,
) -> None:
    """Compare run B with run A: F1 deltas with bootstrap intervals, and the changed records."""
    from eval.comparison import CONFIDENCE
    from eval.comparison import compare as compare_runs
    from eval.load import load_gold, load_run
    from eval.scoring import evaluate
    from eval.tables import frame_records, print_frames

    golds = load_gold(gold)
    comparison = compare_runs(evaluate(load_run(run_a), golds), evaluate(load_run(run_b), golds))
    if output is OutputFormat.json:
        document = {
            "n_docs": comparison.n_docs,
            "note": comparison.note,
            "b_significantly_worse": comparison.b_significantly_worse,
            "only_a": list(comparison.only_a),
            "only_b": list(comparison.only_b),
            "deltas": frame_records(comparison.deltas),
            "changes": frame_records(comparison.changes),
        }
        print(json.dumps(document, indent=2))
    else:
        shown = ["scope", "record_type", "field", "a_f1", "b_f1", "delta", "ci_low", "ci_high"]
        frames = {f"F1: A = {run_a}, B = {run_b}": comparison.deltas[[*shown, "significant"]]}
        changes = comparison.changes
        for change, title in (
            ("regression", "Regressions (right in A, wrong in B)"),
            ("improvement", "Improvements (wrong in A, right in B)"),
        ):
            rows = changes[changes["change"] == change].drop(columns="change")
            if rows.empty:
                _note(f"no {change} between A and B")
            else:
                frames[title] = rows
        print_frames(frames, output, console)
        _note(comparison.note)
    headline = comparison.deltas.set_index("scope")
    for scope, label in (("overall", "overall F1"), ("all_fields", "F1 over all fields")):
        row = headline.loc[scope]
        if row["ci_high"] < 0:
            verdict = "B is significantly worse than A"
        elif row["significant"]:
            verdict = "B is significantly better than A"
        else:
            verdict = "no significant difference"
        _note(
            f"{label} delta {row['delta']:+.3f}, {CONFIDENCE:.0%} CI "
            f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]: {verdict}"
        )
    if fail_on_regression and comparison.b_significantly_worse:
        raise typer.Exit(EXIT_FAILED)


def errors(
    run_dir: RunArg,
    gold: GoldOpt = Path("gold"),
    sort: Annotated[
        str, typer.Option("--sort", help="Order rows by field, document or error.")
    ] = "field",
    output: FormatOpt = OutputFormat.table,
) -> None:
    """List why a run lost points: every missed record, spurious record and wrong field, with
    the predicted and gold values and the quotes of both; counts per field first. Also
    written to RUN_DIR/eval/errors.csv."""
    from eval.error_analysis import ErrorSort, error_counts, error_table
    from eval.load import load_gold, load_run
    from eval.scoring import evaluate
    from eval.tables import frame_records, print_frames

    if sort not in ErrorSort.__members__:
        raise typer.BadParameter(
            f"{sort!r} is not one of field, document, error", param_hint="--sort"
        )
    evaluation = evaluate(load_run(run_dir), load_gold(gold))
    table = error_table(evaluation.alignments.values(), ErrorSort(sort))
    (run_dir / "eval").mkdir(exist_ok=True)
    table.to_csv(run_dir / "eval" / "errors.csv", index=False)
    counts = error_counts(table)
    if output is OutputFormat.json:
        print(
            json.dumps({"counts": frame_records(counts), "errors": frame_records(table)}, indent=2)
        )
    elif output is OutputFormat.csv:
        print(table.to_csv(index=False), end="")
    else:
        print_frames({"Errors by field": counts, "Errors": table}, output, console)
    _report_documents(evaluation)
    _note(f"{len(table)} error(s); written to {run_dir / 'eval' / 'errors.csv'}")


def stability(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(metavar="RUN_DIR...", help="Two or more runs of the same documents."),
    ],
    gold: GoldOpt = Path("gold"),
    output: FormatOpt = OutputFormat.table,
) -> None:
    """How stable repeated runs are, per field: the share of gold records and values on which
    all runs agree, and the shares right in every run, in some (right by luck) and in none."""
    from eval.load import load_gold, load_run
    from eval.scoring import evaluate
    from eval.stability import stability_table
    from eval.tables import frame_records, print_frames

    golds = load_gold(gold)
    table = stability_table([evaluate(load_run(run_dir), golds) for run_dir in run_dirs])
    if output is OutputFormat.json:
        print(json.dumps(frame_records(table), indent=2))
    else:
        print_frames({f"Stability of {len(run_dirs)} runs": table}, output, console)


def runs(
    runs_dir: RunsDirOpt = Path("runs"),
    gold: GoldOpt = Path("gold"),
    output: FormatOpt = OutputFormat.table,
) -> None:
    """List the runs with model, prompt, date, documents and F1 (when gold exists)."""
    from eval.gold import load_gold_dir
    from eval.runs import list_runs
    from eval.tables import frame_records, print_frames

    golds = load_gold_dir(gold) if gold.is_dir() else {}
    frame = list_runs(runs_dir, golds or None)
    if output is OutputFormat.json:
        print(json.dumps(frame_records(frame), indent=2))
    elif frame.empty:
        _note(f"no runs in {runs_dir}")
    else:
        print_frames({f"Runs in {runs_dir}": frame}, output, console)


def report(
    run_dir: RunArg,
    gold: GoldOpt = Path("gold"),
    seeds: SeedsOpt = None,
    out: ReportOutOpt = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            metavar="RUN_B",
            help="Write the A/B/gold page instead: per document, each gold record beside what "
            "RUN_DIR (A) and RUN_B made of it, marked fixed, broken or still wrong "
            "(default file: RUN_DIR/report-against.html).",
            show_default="no",
        ),
    ] = None,
) -> None:
    """Write a self-contained HTML report: the eval tables, each article with its evidence
    highlighted by outcome against gold, and the gold records the run missed."""
    from eval.load import load_gold

    if against is not None:
        from eval.report_ab import write_ab_report

        path = write_ab_report(
            run_dir, against, load_gold(gold), out or run_dir / "report-against.html"
        )
    else:
        from eval.report import write_report

        path = write_report(
            run_dir, load_gold(gold), out or run_dir / "report.html", documents_dir=seeds
        )
    print(path)


def _eval_consolidated(
    run_dir: Path,
    gold: Path,
    output: OutputFormat,
    fail_under: float | None,
    fail_under_fields: float | None,
) -> None:
    """`dealx eval --consolidated`: consolidate the run and score it."""
    from eval.consolidation import score_consolidated
    from eval.tables import frame_records, print_frames

    scores = score_consolidated(run_dir, gold)
    headline = scores.headline
    if output is OutputFormat.json:
        document = {
            "headline": headline,
            "clusters": frame_records(scores.clusters),
            "fields": frame_records(scores.fields),
            "deals": frame_records(scores.deals),
        }
        print(json.dumps(document, indent=2))
    else:
        frames = {
            "Consolidated clusters (pairwise and B-cubed)": scores.clusters,
            "Consolidated fields": scores.fields,
            "Consolidated deals against gold": scores.deals,
        }
        print_frames(frames, output, console)
    for doc_id, reason in scores.consolidation.failures.items():
        _note(f"{doc_id}: left out of the consolidation: {reason}")
    failed = False
    for name, option, floor in (
        ("cluster_f1_min", "--fail-under", fail_under),
        ("field_f1", "--fail-under-fields", fail_under_fields),
    ):
        if floor is not None and headline[name] < floor:
            _note(f"{name} {headline[name]:.3f} is below {option} {floor:g}")
            failed = True
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _note(text: str) -> None:
    """A message for the reader on stderr, so stdout stays the report."""
    print(text, file=sys.stderr)


def _report_documents(evaluation: Scores) -> None:
    """Name the documents on one side only and the failed ones, on stderr."""
    by_doc = evaluation.by_doc
    messages = {
        "missing": "in the gold but not in the run (scored as all missed)",
        "failed": "failed in the run (scored as all missed)",
        "no_gold": "in the run without gold (not scored)",
    }
    for status, message in messages.items():
        docs = by_doc.loc[by_doc["status"] == status, "doc_id"].tolist()
        if docs:
            _note(f"{len(docs)} document(s) {message}: {', '.join(docs)}")
