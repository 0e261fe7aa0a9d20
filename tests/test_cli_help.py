"""The command line a newcomer reads: -h on every command, an example and every default in
each help page, and a README whose commands, options and exit codes are the CLI's own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

import schemas.errors
from pipeline.cli.main import app
from tests.dealx_process import REPO, Dealx

README = (REPO / "README.md").read_text(encoding="utf-8")


def commands(group: Any = None, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every leaf command of the CLI as ("cache export", its click command)."""
    group = group or typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from commands(command, (*prefix, name))
        else:
            yield " ".join((*prefix, name)), command


COMMANDS = dict(commands())


def readme_section(title: str) -> str:
    """The text of a `## title` section of the README."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_h_an_example_and_every_default(name: str, dealx: Dealx) -> None:
    result = dealx(*name.split(), "-h")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert re.search(rf"Usage: .*\b{name} \[OPTIONS\]", text)
    assert "Example: dealx " in text
    for param in COMMANDS[name].params:
        if param.param_type_name != "option" or param.is_flag or param.required:
            continue
        # An option whose value may come from settings shows the default it ends up with.
        assert param.default is not None or isinstance(param.show_default, str), (name, param)


def test_help_shows_the_settings_defaults(dealx: Dealx) -> None:
    text = " ".join(dealx("extract", "-h").stdout.split())
    for shown in ("local/smollm2-135m", ".dealx/cache.sqlite", "readwrite", "(strict)"):
        assert shown in text
    assert "- reads one article from standard input" in text


def test_readme_lists_exactly_the_cli_commands() -> None:
    listed = re.findall(r"^\| `dealx ([a-z-]+(?: [a-z-]+)?)", readme_section("Commands"), re.M)
    assert sorted(listed) == sorted(COMMANDS)


def test_readme_synopses_name_only_real_options() -> None:
    """Every `--option` on a `dealx COMMAND` line of a README code block is an option of that
    command (a continuation line belongs to the command above it)."""
    checked = 0
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        command = None
        for line in block.splitlines():
            line = line.split("  #")[0]
            words = line.split()
            if words[:1] == ["dealx"]:
                two = " ".join(words[1:3])
                command = two if two in COMMANDS else words[1]
                assert command in COMMANDS, line
            elif not (command and line.startswith(" ")):
                command = None
            if command is None:
                continue
            params = COMMANDS[command].params
            options = {opt for p in params for opt in (*p.opts, *p.secondary_opts)}
            for option in re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", line):
                assert option in options, (command, option)
                checked += 1
    assert checked > 20


def test_readme_exit_codes_are_the_documented_constants() -> None:
    documented = {
        int(code) for code in re.findall(r"^\| (\d+) \|", readme_section("Exit codes"), re.M)
    }
    constants = {value for name, value in vars(schemas.errors).items() if name.startswith("EXIT_")}
    assert documented == constants | {0}


def test_tables_piped_to_a_file_are_not_folded(tmp_path: Path, dealx: Dealx) -> None:
    gold = tmp_path / "gold with a long folder name to make the title wider than eighty columns"
    doc = {"doc_id": "a-rather-long-document-identifier-0001", "companies": [], "deals": []}
    gold.mkdir()
    (gold / f"{doc['doc_id']}.json").write_text(__import__("json").dumps(doc), encoding="utf-8")
    result = dealx("summary", gold)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Gold records in {gold}"
    # One row, unbroken, with every column; the title is wider than 80 columns.
    [row] = [line for line in lines if doc["doc_id"] in line]
    assert re.fullmatch(r"│ a-rather-long-document-identifier-0001 │ +0 │ +0 │ +0 │ +0 │", row)
    assert max(len(line) for line in lines) > 80
