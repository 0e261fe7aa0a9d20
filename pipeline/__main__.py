"""`python -m pipeline` is the `dealx` command."""

from pipeline.cli import main

main()
