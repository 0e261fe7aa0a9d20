"""The helpers the tests share (and bench/bench_load.py): articles the fake server can tell
apart, an answer grounded in them, settings and an in-process run against a fake server, and
`dealx` run as a real subprocess with its peak memory.

Pure standard library plus dealx itself, so bench scripts can import it without pytest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.runner import extract_run
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parent.parent

# What every test article says; ANSWER's names, amount, stake and quotes are all in it, so
# grounding (on by default) keeps the whole answer.
FACT = "Meta invests about $14 billion in Scale AI for a 49 percent stake."
ANSWER = json.dumps(
    {
        "companies": [
            {"name": "Meta", "evidence": [{"quote": "Meta invests"}]},
            {"name": "Scale AI", "evidence": [{"quote": "in Scale AI"}]},
        ],
        "people": [],
        "deals": [
            {
                "deal_type": "investment",
                "parties": [
                    {"name": "Meta", "role": "investor"},
                    {"name": "Scale AI", "role": "target"},
                ],
                "amount": {"value": 14e9, "currency": "USD", "qualifier": "about"},
                "stake_percent": 49,
                "evidence": [{"quote": FACT}],
            }
        ],
    }
)


def article(doc_id: str, fact: str = FACT) -> str:
    """A one-line article holding its own id, the marker a ScriptByMarker keys on."""
    return f"Article {doc_id}: {fact}\n"


def write_docs(folder: Path, count: int, prefix: str = "doc", fact: str = FACT) -> list[str]:
    """`count` articles `<prefix>-NNNN.txt` in `folder`, each stating `fact`; returns their ids."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"{prefix}-{i:04d}" for i in range(count)]
    for doc_id in ids:
        (folder / f"{doc_id}.txt").write_text(article(doc_id, fact), encoding="utf-8")
    return ids


def write_json(path: Path, data: Any) -> None:
    """Write `data` as JSON to `path`, making its folder: gold files and hand-built runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def support(
    records: int, records_supported: int, values: int, values_supported: int
) -> dict[str, int]:
    """One record type's `Support` counts as the pipeline's grounding step writes them."""
    return {
        "records": records,
        "records_supported": records_supported,
        "values": values,
        "values_supported": values_supported,
    }


def fake_settings(base_url: str, tmp_path: Path, **overrides: object) -> Settings:
    """Settings for an in-process run against a fake server, with short timeouts."""
    values: dict[str, object] = {
        "model": "openai/fake-model",
        "base_url": base_url,
        "cache": tmp_path / "cache.sqlite",
        "paths": [tmp_path / "docs"],
        "timeout_s": 5.0,
        "transport_attempts": 3,
        "transport_max_wait_s": 10.0,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def extract_in_process(settings: Settings, run_dir: Path) -> dict[str, Any]:
    """Extract into `run_dir` in this process, with no terminal output; returns the manifest."""
    return extract_run(settings, run_dir)


def extract_folder(folder: Path, base_url: str, **overrides: object) -> dict[str, Any]:
    """Extract FOLDER/docs into FOLDER/run through the fake server at `base_url`, answers
    cached in FOLDER/cache.sqlite: a first run, or a rerun that resumes it; the manifest."""
    return extract_in_process(fake_settings(base_url, folder, **overrides), folder / "run")


def finished_folder(folder: Path, base_url: str, count: int) -> Path:
    """FOLDER/docs with `count` articles and FOLDER/run extracted from them (`extract_folder`):
    a finished run to resume or damage."""
    write_docs(folder / "docs", count)
    extract_folder(folder, base_url)
    return folder


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """A run directory's manifest.json."""
    return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))


def dealx_env(scratch: Path, **extra: str) -> dict[str, str]:
    """The environment of a dealx subprocess: no key and no DEALX_* settings from the caller,
    and HOME and TMPDIR inside `scratch`, so every byte it writes lands there."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DEALX_") and name != "OPENAI_API_KEY"
    }
    for name in ("home", "tmp"):
        (scratch / name).mkdir(parents=True, exist_ok=True)
    env.update(
        PYTHONPATH=str(REPO),
        HOME=str(scratch / "home"),
        TMPDIR=str(scratch / "tmp"),
        **extra,
    )
    return env


@dataclass(frozen=True)
class Finished:
    """A finished dealx process: exit code, output, and peak resident memory."""

    returncode: int
    stdout: str
    stderr: str
    max_rss_mb: float


class DealxProcess:
    """`python -m pipeline ARGS` started in `cwd` (with this process's environment when `env`
    is None); stdout and stderr go to temporary files, so a chatty run cannot fill a pipe and
    stall."""

    def __init__(
        self, args: list[str | Path], cwd: Path, env: dict[str, str] | None = None
    ) -> None:
        # Closed by wait(), which reads them; no file name, so nothing is left behind in `cwd`.
        self._out = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self._err = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline", *map(str, args)],
            cwd=cwd,
            env=env,
            stdout=self._out,
            stderr=self._err,
        )

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, no flush."""
        self.process.send_signal(signal.SIGKILL)

    def wait(self, timeout: float = 300.0) -> Finished:
        """Wait for the exit (killing it past `timeout`), sampling the child's peak RSS.

        The peak is read from /proc (VmHWM), not from wait4's ru_maxrss: the kernel carries
        the parent's high-water mark over the exec into ru_maxrss, so a test process that
        had grown large would be charged to every dealx it starts."""
        deadline, peak_kib = time.monotonic() + timeout, 0
        while True:
            peak_kib = max(peak_kib, _high_water_kib(self.process.pid))
            pid, status = os.waitpid(self.process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.kill()
                pid, status = os.waitpid(self.process.pid, 0)
                break
            time.sleep(0.02)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        outputs = []
        for handle in (self._out, self._err):
            handle.seek(0)
            outputs.append(handle.read())
            handle.close()
        return Finished(self.process.returncode, *outputs, max_rss_mb=peak_kib / 1024)


def _high_water_kib(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), or 0 once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next(
        (int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0
    )


def run_dealx(
    args: list[str | Path],
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
) -> Finished:
    """Run dealx to the end (killed past `timeout`), by default from the repository root with
    this process's environment."""
    return DealxProcess(args, cwd, env).wait(timeout)


# The `dealx` fixture of conftest.py: dealx(*ARGS) runs `dealx ARGS` from the repository root.
Dealx = Callable[..., Finished]


def extract_args(base_url: str, *paths: Path, out: Path, cache: Path, **options: object) -> list:
    """`extract` arguments for the fake server: PATHS --out OUT --cache CACHE --model ... ."""
    args: list[str | Path] = [
        "extract",
        *paths,
        "--out",
        out,
        "--cache",
        cache,
        "--model",
        "openai/fake-model",
        "--base-url",
        base_url,
    ]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return args
