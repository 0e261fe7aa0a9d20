"""`python -m pipeline` is the `dealx` command."""

from pipeline.cli.main import main

main()
