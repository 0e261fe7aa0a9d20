"""Benchmark start-up: the wall time of `dealx --help` and `dealx --version`.

    .venv/bin/python bench/bench_startup.py [--repeats 7] [--imports 10]

Each command runs as a fresh process, the way a user starts it: the `dealx` script next to this
interpreter (`python -m pipeline` where there is none). The floors are measured in the same run:
`python -c pass` (the interpreter alone) and `python -c "import pydantic"` (the schema library
dealx cannot start without). One warm-up round, then `--repeats` rounds that run every command
once each in turn, so that load from other processes falls on all of them alike; the median of
each counts. Target (the issue): both commands answer in under 0.5 s.

`--imports N` also lists the N heaviest packages `dealx --help` imports from outside dealx, with
the chain of dealx modules that pulls each in (from `python -X importtime`), to show what to make
lazy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 0.5
DEALX_PACKAGES = ("pipeline", "eval", "schemas")


def dealx_command() -> list[str]:
    """The installed `dealx` script beside this interpreter, else `python -m pipeline`."""
    script = Path(sys.executable).with_name("dealx")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline"]


def commands() -> dict[str, list[str]]:
    """What is timed, floors first."""
    dealx = dealx_command()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import pydantic'": [sys.executable, "-c", "import pydantic"],
        "dealx --help": [*dealx, "--help"],
        "dealx --version": [*dealx, "--version"],
    }


@dataclass
class Timing:
    """One command's wall times, and why it failed if it did."""

    seconds: list[float]
    failure: str | None = None


def time_once(command: list[str]) -> tuple[float, str | None]:
    """Wall time of one run, and a one-line reason when it exits non-zero."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    if result.returncode == 0:
        return seconds, None
    # The last line that says something, without the frame typer draws around its errors.
    lines = [line.strip(" │") for line in result.stderr.splitlines() if any(map(str.isalnum, line))]
    return seconds, f"exit {result.returncode}: {lines[-1] if lines else '(no output)'}"


def measure(timed: dict[str, list[str]], repeats: int) -> dict[str, Timing]:
    """A warm-up round (compiles bytecode, fills the page cache), then `repeats` interleaved
    rounds."""
    for command in timed.values():
        time_once(command)
    timings = {name: Timing([]) for name in timed}
    for _ in range(repeats):
        for name, command in timed.items():
            seconds, failure = time_once(command)
            timings[name].seconds.append(seconds)
            timings[name].failure = timings[name].failure or failure
    return timings


@dataclass
class Imported:
    """One line of `-X importtime`: a module, its time including what it imported, and the
    module whose import pulled it in."""

    name: str
    cumulative_us: int
    depth: int
    parent: Imported | None = None


def import_tree(*dealx_args: str) -> list[Imported]:
    """Every module `python -m pipeline ARGS` imports, with its parent. importtime prints a
    module after the modules it imported, indented one level deeper, so a line adopts the
    deeper lines above it that have no parent yet."""
    command = [sys.executable, "-X", "importtime", "-m", "pipeline", *dealx_args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    modules: list[Imported] = []
    waiting: list[Imported] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        _, cumulative, name = line.split("|")
        module = Imported(name.strip(), int(cumulative), (len(name) - len(name.lstrip())) // 2)
        while waiting and waiting[-1].depth > module.depth:
            waiting.pop().parent = module
        waiting.append(module)
        modules.append(module)
    return modules


def is_dealx(module: Imported) -> bool:
    return module.name.split(".")[0] in DEALX_PACKAGES


def chain(module: Imported) -> str:
    """The dealx modules, outermost first, whose imports led to `module`."""
    names = []
    parent = module.parent
    while parent is not None:
        if is_dealx(parent):
            names.append(parent.name)
        parent = parent.parent
    return " -> ".join([*reversed(names), module.name])


def heaviest_imports(count: int, *dealx_args: str) -> list[tuple[float, str]]:
    """The `count` costliest imports of modules outside dealx made by dealx code: each one a
    module first imported by a dealx module (a later import of it costs nothing), or imported
    on its own after dealx was (by a library, while the command runs)."""
    entries = []
    started = False
    for module in import_tree(*dealx_args):
        started = started or (module.parent is None and is_dealx(module))
        if is_dealx(module):
            continue
        if module.parent is not None and is_dealx(module.parent):
            entries.append((module.cumulative_us / 1000, chain(module)))
        elif module.parent is None and started:
            entries.append((module.cumulative_us / 1000, f"(while running) {module.name}"))
    return sorted(entries, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds (>= 5)")
    parser.add_argument("--imports", type=int, default=10, help="heaviest imports to list")
    args = parser.parse_args()
    timed = commands()
    print(f"dealx as: {' '.join(dealx_command())}; {args.repeats} interleaved rounds, medians")
    timings = measure(timed, max(args.repeats, 5))
    floor = statistics.median(timings["python -c pass"].seconds)
    for name, timing in timings.items():
        median = statistics.median(timing.seconds)
        line = f"  {name:<28} {median:6.3f} s  {median / floor:5.1f}x the interpreter alone"
        if name.startswith("dealx"):
            verdict = "met" if median < TARGET_S and timing.failure is None else "NOT met"
            line += f"  (target < {TARGET_S} s: {verdict})"
        print(line)
        if timing.failure is not None:
            print(f"    FAILED: {timing.failure}")
    if args.imports > 0:
        print("heaviest imports of `dealx --help` by dealx modules (cumulative, -X importtime):")
        for ms, path in heaviest_imports(args.imports, "--help"):
            print(f"  {ms:7.1f} ms  {path}")


if __name__ == "__main__":
    main()
