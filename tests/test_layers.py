"""Import-layer contracts: schemas <- pipeline <- eval, and only the command line (pipeline/cli)
imports both. Read from the source with ast, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGES = ("schemas", "pipeline", "eval")


def imports_of(path: Path) -> set[str]:
    """Every module a source file imports at run time, at any depth (function bodies too;
    `if TYPE_CHECKING:` blocks, which never run, are left out)."""
    found: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        pending.extend(ast.iter_child_nodes(node))
    return found


def module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    """dealx module -> the dealx modules it imports."""
    modules = {module_name(p): p for package in PACKAGES for p in Path(package).rglob("*.py")}
    return {
        name: {imported for imported in imports_of(path) if imported.split(".")[0] in PACKAGES}
        for name, path in modules.items()
    }


def test_schemas_import_nothing_above_them() -> None:
    for module, imported in graph().items():
        if module.startswith("schemas"):
            assert all(i.startswith("schemas") for i in imported), (module, imported)


def test_pipeline_does_not_import_eval_outside_the_command_line() -> None:
    for module, imported in graph().items():
        if module.startswith("pipeline") and not module.startswith("pipeline.cli"):
            assert not any(i.startswith("eval") for i in imported), (module, imported)


def test_eval_does_not_import_the_command_line() -> None:
    for module, imported in graph().items():
        if module.startswith("eval"):
            assert not any(i.startswith("pipeline.cli") for i in imported), (module, imported)


def test_no_import_cycle_between_modules() -> None:
    edges = graph()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in edges.get(module, ()):
            if state.get(target) == 1:
                raise AssertionError(" -> ".join([*path, module, target]))
            if target not in state:
                visit(target, [*path, module])
        state[module] = 2

    for module in edges:
        if module not in state:
            visit(module, [])


def test_help_and_version_load_no_heavy_library() -> None:
    heavy = ("openai", "instructor", "pandas", "scipy", "numpy", "httpx", "rapidfuzz")
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['dealx', *sys.argv[1:]]\n"
        "try:\n"
        "    runpy.run_module('pipeline', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print([m for m in {heavy!r} if m in sys.modules])\n"
    )
    for flag in ("--help", "--version"):
        result = subprocess.run(
            [sys.executable, "-c", probe, flag], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip().splitlines()[-1] == "[]", (flag, result.stdout)
