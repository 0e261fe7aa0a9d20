"""dealx as a user installs it: the wheel, installed (not editable) into a fresh virtual
environment, run from another folder. An exported cache is replayed by `dealx extract`, scored
by `dealx eval` and reported by `dealx report` without --seeds: nothing depends on tests/ or on
the working directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, (args, result.stdout[-2000:], result.stderr[-2000:])
    return result.stdout


def test_wheel_installs_and_replays_from_another_folder(tmp_path: Path) -> None:
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, REPO, cwd=tmp_path)
    [wheel] = dist.glob("dealx-*.whl")
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # The dependencies come from this test's environment (a path entry, not a site dir, so
    # its editable dealx is not activated); dealx itself only from the wheel.
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = venv / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        wheel,
        cwd=tmp_path,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = run(
        python,
        "-c",
        "import pipeline, eval; print(pipeline.__file__, eval.__file__)",
        cwd=work,
        env=env,
    )
    assert str(REPO) not in where and str(site) in where

    dealx = [python, "-m", "pipeline"]
    cache = work / "cache.sqlite"
    run(
        *dealx,
        "cache",
        "import",
        REPO / "tests/fixtures/responses",
        "--cache",
        cache,
        cwd=work,
        env=env,
    )
    run(
        *dealx,
        "extract",
        REPO / "seeds",
        "--cache",
        cache,
        "--cache-mode",
        "replay",
        "--out",
        work / "run",
        cwd=work,
        env=env,
    )
    manifest = json.loads((work / "run" / "manifest.json").read_text())
    assert manifest["documents"]["ok"] == 5 and manifest["cache_misses"] == 0
    scores = json.loads(
        run(
            *dealx,
            "eval",
            work / "run",
            "--gold",
            REPO / "gold",
            "--format",
            "json",
            cwd=work,
            env=env,
        )
    )
    assert scores["overall"]["f1"] > 0
    report = run(*dealx, "report", work / "run", "--gold", REPO / "gold", cwd=work, env=env)
    page = Path(report.strip()).read_text(encoding="utf-8")
    assert "article text not found" not in page and "Alexandr Wang" in page
