"""`dealx batch ...` and the batch path of `dealx extract --batch`: thin shells over
pipeline.batch.run, with a progress bar while batches run."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeline.cli.terminal import stderr as err_console
from pipeline.cli.terminal import stdout as console
from schemas.errors import EXIT_FAILED, EXIT_INTERRUPTED

batch_app = typer.Typer(help="Follow, collect, retry or cancel the batches of a batch run.")
RunDirArg = Annotated[
    Path, typer.Argument(metavar="RUN_DIR", help="A run directory made by extract --batch.")
]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait until every batch has ended.")
]
DEFAULT_POLL_S = 30.0


def _finite_seconds(value: float) -> float:
    """--poll-seconds as given; infinity passes the range check and would reach time.sleep,
    which refuses it only once the batches are submitted."""
    if not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number of seconds, got {value}")
    return value


PollOpt = Annotated[
    float,
    typer.Option(
        "--poll-seconds",
        min=0.0,
        callback=_finite_seconds,
        help="Seconds between status checks.",
    ),
]


class RetryWith(StrEnum):
    live = "live"
    batch = "batch"


def spend_text(manifest: dict[str, Any]) -> str:
    """The run's tokens and cost, or "no price" for a model without one."""
    run = manifest.get("run") or {}
    cost = run.get("cost_usd")
    money = f"${cost:.4f}" if cost is not None else f"no price for {manifest['model']}"
    batch = ""
    if run.get("batch_tokens_in") or run.get("batch_tokens_out"):
        batch = f" (batch {run['batch_tokens_in']} in / {run['batch_tokens_out']} out)"
    tokens = f"{run.get('tokens_in', 0)} in / {run.get('tokens_out', 0)} out"
    return f"run tokens {tokens}{batch}; cost {money}"


def batch_text(batch: dict[str, Any]) -> str:
    """A batch run's requests by status."""
    shown = ", ".join(
        f"{batch[status]} {status}"
        for status in ("ok", "failed", "expired", "invalid", "missing")
        if batch[status] or status == "ok"
    )
    waiting = batch["pending"] + batch["submitted"] + batch["answered"]
    running = f", {waiting} still in running batches" if waiting else ""
    return f"batch requests: {batch['requests']} = {shown}{running}"


@contextmanager
def interruptible(run_dir: Path) -> Iterator[None]:
    """Ctrl-C while waiting: one line and exit 130; the ledger holds every id already, so
    collecting again resumes (nothing is submitted twice)."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(f"dealx: interrupted; dealx batch collect {run_dir} resumes")
        raise typer.Exit(EXIT_INTERRUPTED) from None


@contextmanager
def batch_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback for pipeline.batch: a bar of requests done while batches run and
    a count of documents written."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console) as progress:
        tasks: dict[str, Any] = {}

        def update(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(step, total=total or None)
            progress.update(tasks[step], completed=done, total=total or None)

        yield update


def run_extract_batch(settings: Any, run_dir: Path, wait: bool, poll_s: float) -> dict[str, Any]:
    """`dealx extract --batch`: submit (or resume) and collect, with progress."""
    from pipeline.batch.run import extract_batch

    with interruptible(run_dir), batch_progress() as update:
        return extract_batch(settings, run_dir, wait=wait, poll_s=poll_s, on_progress=update)


@batch_app.command("status", epilog="Example: dealx batch status runs/latest")
def status(run_dir: RunDirArg) -> None:
    """Show a run's batches (asking the provider) and its requests by status."""
    from pipeline.batch.run import batch_status

    state = batch_status(run_dir)
    for part in state.parts:
        console.print(
            f"part {part['part']}: batch {part['batch_id'] or '(not submitted)'} "
            f"{part['status'] or ''}, {part['requests']} requests"
            f"{', collected' if part['collected'] else ''}"
        )
    console.print(batch_text(state.to_json()))


@batch_app.command("collect", epilog="Example: dealx batch collect runs/latest --retry live")
def collect(
    run_dir: RunDirArg,
    retry: Annotated[
        RetryWith | None,
        typer.Option(
            help="Finish failed, expired, invalid and missing requests: live calls, or a "
            "follow-up batch.",
            show_default="no retry",
        ),
    ] = None,
    wait: WaitOpt = True,
    poll_seconds: PollOpt = DEFAULT_POLL_S,
) -> None:
    """Wait for a run's batches and write their documents as a live run would.

    Exit 5 with --no-wait while a batch still runs; Ctrl-C stops waiting (exit 130), and
    collecting again picks up where it stopped.
    """
    from pipeline.batch.run import collect_batch

    with interruptible(run_dir), batch_progress() as update:
        manifest = collect_batch(
            run_dir,
            wait=wait,
            poll_s=poll_seconds,
            retry=retry.value if retry is not None else None,
            on_progress=update,
        )
    print_batch_summary(run_dir, manifest)


def print_batch_summary(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Documents, requests by status and spend of a collected batch run; exit 1 when a
    document failed."""
    docs = manifest["documents"]
    console.print(
        f"{run_dir}: {docs['ok']} ok, {docs['failed']} failed, "
        f"{docs['skipped_already_done']} already done"
    )
    console.print(batch_text(manifest["batch"]))
    console.print(spend_text(manifest))
    if docs["failed"]:
        err_console.print(f"failed documents and their reasons: {run_dir / 'errors.jsonl'}")
        raise typer.Exit(EXIT_FAILED)


@batch_app.command("cancel", epilog="Example: dealx batch cancel runs/latest")
def cancel(run_dir: RunDirArg) -> None:
    """Cancel the run's running batches; collect then writes what they finished."""
    from pipeline.batch.run import cancel_batch

    cancelled = cancel_batch(run_dir)
    console.print(f"cancelling {len(cancelled)} batch(es): {', '.join(cancelled) or '-'}")
