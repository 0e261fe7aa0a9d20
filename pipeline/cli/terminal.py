"""The two consoles dealx prints to.

A line is never wrapped at the terminal width (rich wraps at 80 columns when stdout is not a
terminal, which cut `gold/...: all gold files valid` in two under a long path), so every message
stays one line a script can grep. Tables printed to a pipe or a file are as wide as their
content, not folded into 80 columns. Text is never read as rich markup: paths, article quotes
and model output may hold square brackets.
"""

from __future__ import annotations

from rich.console import Console

# The width of a console that is not a terminal: wide enough that no table is ever folded
# (a table is only as wide as its content).
PIPED_WIDTH = 100_000


def _console(*, stderr: bool) -> Console:
    console = Console(stderr=stderr, soft_wrap=True, markup=False, highlight=False)
    if not console.is_terminal:
        console.width = PIPED_WIDTH
    return console


stdout = _console(stderr=False)
stderr = _console(stderr=True)
