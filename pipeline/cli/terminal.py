"""The two consoles dealx prints to.

A line is never wrapped at the terminal width (rich wraps at 80 columns when stdout is not a
terminal, which cut `gold/...: all gold files valid` in two under a long path), so every message
stays one line a script can grep. Text is never read as rich markup: paths, article quotes and
model output may hold square brackets.
"""

from __future__ import annotations

from rich.console import Console

stdout = Console(soft_wrap=True, markup=False, highlight=False)
stderr = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
