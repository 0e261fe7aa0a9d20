"""Hostile paths, settings and input to the real `dealx` command line: an output path of the
wrong kind, a setting that cannot work (NaN, infinity, a prices table that is not a table, a
pyproject.toml that is not UTF-8), an endless standard input and a base URL with a query string
each end in one line `dealx: error: <where>: <problem>` and their documented exit code, before
any work and with nothing done lost; a real bug still shows its traceback."""

from __future__ import annotations

import io
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.cli import main as cli
from pipeline.extraction import documents
from pipeline.extraction.documents import UnreadableDocument, read_document, read_stream
from pipeline.providers import resolve
from pipeline.settings import Settings, load_settings
from pipeline.store.cache import ResponseCache
from pipeline.store.cache_transfer import import_entries
from schemas.errors import (
    EXIT_AUTH,
    EXIT_FAILED,
    EXIT_USAGE,
    AuthError,
    ConfigError,
    InputError,
)
from tests.dealx_process import REPO, dealx_env, extract_in_process, run_dealx

RESPONSES = REPO / "tests" / "fixtures" / "responses"
SEEDS = REPO / "seeds"
SECRET = "sk-hostile-test-secret"
KEPT = b"an earlier file, to be left as it was\n"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A cache of the recorded answers and a plain run of the seeds replayed from it."""
    root = tmp_path_factory.mktemp("replayed")
    cache = root / "cache.sqlite"
    with ResponseCache(cache) as store:
        import_entries(store, RESPONSES)
    settings = Settings(paths=[SEEDS], cache=cache, cache_mode="replay", strategy="plain")
    manifest = extract_in_process(settings, root / "run")
    assert manifest["documents"]["failed"] == 0
    return cache, root / "run"


def _file(tmp_path: Path) -> Path:
    """A regular file where a command wants a folder (or a folder's parent)."""
    path = tmp_path / "taken"
    path.write_bytes(KEPT)
    return path


def _in_run(run: Path, name: str) -> Path:
    """A regular file where a command writes the folder RUN_DIR/`name`."""
    path = run / name
    shutil.rmtree(path, ignore_errors=True)
    path.write_bytes(KEPT)
    return path


# Each case: the command's arguments and the path its error must name, given the tmp folder,
# the cache and a copy of the replayed run.
Case = Callable[[Path, Path, Path], tuple[list[str | Path], Path]]
OUTPUT_CASES: dict[str, Case] = {
    "report -o DIR": lambda tmp, cache, run: (
        ["report", run, "-o", tmp],
        tmp,
    ),
    "report -o FILE/x.html": lambda tmp, cache, run: (
        ["report", run, "-o", _file(tmp) / "x.html"],
        tmp / "taken",
    ),
    "extract --out FILE": lambda tmp, cache, run: (
        ["extract", SEEDS, "--out", _file(tmp), "--cache", cache, "--cache-mode", "replay"],
        tmp / "taken",
    ),
    "consolidate --out FILE": lambda tmp, cache, run: (
        ["consolidate", run, "--out", _file(tmp)],
        tmp / "taken",
    ),
    "cache export FILE": lambda tmp, cache, run: (
        ["cache", "export", _file(tmp), "--cache", cache],
        tmp / "taken",
    ),
    "gold draft --out FILE": lambda tmp, cache, run: (
        ["gold", "draft", run, "--out", _file(tmp)],
        tmp / "taken",
    ),
    "eval, RUN_DIR/eval a file": lambda tmp, cache, run: (
        ["eval", run],
        _in_run(run, "eval"),
    ),
    "errors, RUN_DIR/eval a file": lambda tmp, cache, run: (
        ["errors", run],
        _in_run(run, "eval"),
    ),
    "consolidate, RUN_DIR/consolidated a file": lambda tmp, cache, run: (
        ["consolidate", run],
        _in_run(run, "consolidated"),
    ),
}


@pytest.mark.parametrize("case", OUTPUT_CASES.values(), ids=OUTPUT_CASES)
def test_an_output_path_of_the_wrong_kind_is_one_line_and_exit_2(
    tmp_path: Path, replayed: tuple[Path, Path], case: Case
) -> None:
    cache, replayed_run = replayed
    run = shutil.copytree(replayed_run, tmp_path / "run")
    out = tmp_path / "out"
    out.mkdir()
    args, named = case(out, cache, run)
    result = run_dealx(args, env=dealx_env(tmp_path / "scratch"))
    assert result.returncode == EXIT_USAGE, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"dealx: error: {named}: "), line
    assert "Traceback" not in result.stderr
    if named.is_file():  # the file in the way is left as it was
        assert named.read_bytes() == KEPT


def test_a_path_with_odd_bytes_or_a_secret_prints_escaped_and_redacted(
    tmp_path: Path, replayed: tuple[Path, Path]
) -> None:
    taken = Path(tmp_path.joinpath(f"{SECRET}-").as_posix() + "\udcff")  # the byte 0xff
    taken.write_bytes(KEPT)
    env = dealx_env(tmp_path / "scratch", OPENAI_API_KEY=SECRET)
    result = run_dealx(["cache", "export", taken, "--cache", replayed[0]], env=env)
    assert result.returncode == EXIT_USAGE
    assert result.stderr == f"dealx: error: {tmp_path}/***-\\xff: File exists\n"
    assert taken.read_bytes() == KEPT


def _raise(error: BaseException) -> Callable[[], None]:
    def app() -> None:
        raise error

    return app


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (
            OSError(28, "No space left on device", b"/full/\xff"),
            EXIT_USAGE,
            r"/full/\xff: No space",
        ),
        (
            OSError(18, "Invalid cross-device link", "/a", None, "/b"),
            EXIT_USAGE,
            "/a -> /b: Invalid",
        ),
        (OSError("no path,\nthis message"), EXIT_USAGE, "no path, this message"),
        # DealxErrors as before: their own line and exit code.
        (InputError("docs: no such file or folder"), EXIT_USAGE, "docs: no such file or folder"),
        (AuthError("the model endpoint rejected the API key"), EXIT_AUTH, "the model endpoint"),
        (InputError("/tmp/a\nb\x1b[31m: no such file"), EXIT_USAGE, "/tmp/a\\nb\\x1b[31m: no such"),
    ],
)
def test_main_prints_os_and_dealx_errors_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: BaseException,
    code: int,
    line: str,
) -> None:
    monkeypatch.setattr(cli, "app", _raise(error))
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == code
    [printed] = capsys.readouterr().err.splitlines()
    assert printed.startswith(f"dealx: error: {line}")


@pytest.mark.parametrize("error", [RuntimeError("a bug"), KeyError("x"), KeyboardInterrupt()])
def test_main_leaves_bugs_and_ctrl_c_alone(
    monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    monkeypatch.setattr(cli, "app", _raise(error))
    with pytest.raises(type(error)):
        cli.main()


def _pyproject(tmp_path: Path, text: bytes) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_bytes(text)
    return path


@pytest.mark.parametrize(
    ("toml", "environ", "message"),
    [
        (
            b"",
            {"DEALX_PRICES": "[]"},
            "^prices: a table of model specs is expected.* \\(set by DEALX_PRICES\\)$",
        ),
        (
            b"",
            {"DEALX_PRICES": '{"openai/x": {"input": NaN, "output": 1}}'},
            "^prices: 'openai/x': prices must be finite.*DEALX_PRICES",
        ),
        (
            b"",
            {"DEALX_TEMPERATURE": "nan"},
            "^temperature: must be a finite number, got nan \\(set by DEALX_TEMPERATURE\\)$",
        ),
        (
            b"",
            {"DEALX_TIMEOUT_S": "inf"},
            "^timeout_s: must be a finite number, got inf \\(set by DEALX_TIMEOUT_S\\)$",
        ),
        (
            b"",
            {"DEALX_TIMEOUT_S": "0"},
            "^timeout_s: must be positive, got 0.0 \\(set by DEALX_TIMEOUT_S\\)$",
        ),
        (
            b"",
            {"DEALX_MAX_COST_USD": "nan"},
            "^max_cost_usd: must be a finite number, got nan \\(set by DEALX_MAX_COST_USD\\)$",
        ),
        (
            b"",
            {"DEALX_TRANSPORT_MAX_WAIT_S": "-1"},
            "transport_max_wait_s: must not be negative",
        ),
        (b"[tool.dealx]\nprices = 5", {}, r"\[tool.dealx\] prices: a table of model specs"),
        (b"[tool.dealx]\nprices = []", {}, r"\[tool.dealx\] prices: a table of model specs"),
        (b"[tool.dealx]\ntemperature = nan", {}, r"\[tool.dealx\] temperature: must be a finite"),
        (b"[tool.dealx]\ntemperature = inf", {}, "temperature: must be a finite number, got inf"),
        (b"[tool.dealx]\nconcurrency = true", {}, "concurrency: cannot read True"),
        (b"[tool.dealx]\nmax-tokens = 2.5", {}, "max_tokens: cannot read 2.5"),
        (b"[tool]\ndealx = 5", {}, r"pyproject.toml: \[tool.dealx\] must be a table of settings"),
        (b"tool = 5", {}, r"pyproject.toml: \[tool.dealx\] must be a table of settings"),
        (b"# caf\xe9\n[tool.dealx]\n", {}, r"pyproject.toml: not UTF-8 \(byte 5\)"),
    ],
)
def test_bad_settings_name_where_they_were_set(
    tmp_path: Path, toml: bytes, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, pyproject=_pyproject(tmp_path, toml), environ=environ)


@pytest.mark.parametrize("name", ["temperature", "timeout_s", "transport_max_wait_s"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_float_setting_must_be_finite_from_the_command_line_or_python(
    tmp_path: Path, name: str, value: float
) -> None:
    none = tmp_path / "none.toml"
    with pytest.raises(ConfigError, match=f"^{name}: must be a finite number, got {value}$"):
        load_settings({name: value}, pyproject=none, environ={})
    with pytest.raises(ConfigError, match=f"^{name}: must be a finite number"):
        Settings(**{name: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "extra_env", "line"),
    [
        (
            [],
            {"DEALX_TEMPERATURE": "nan"},
            "temperature: must be a finite number, got nan (set by DEALX_TEMPERATURE)",
        ),
        (["--temperature", "inf"], {}, "temperature: must be a finite number, got inf"),
        (
            ["--model", "openai/x", "--base-url", f"http://127.0.0.1:9/v1?api-key={SECRET}"],
            {},
            "base_url: a query string (?...) or fragment (#...) cannot be sent",
        ),
    ],
)
def test_a_bad_setting_stops_extract_before_any_work(
    tmp_path: Path, args: list[str], extra_env: dict[str, str], line: str
) -> None:
    out = tmp_path / "run"
    env = dealx_env(tmp_path, **extra_env)
    result = run_dealx(["extract", SEEDS, "--out", out, "--cache-mode", "replay", *args], env=env)
    assert result.returncode == EXIT_USAGE
    [printed] = result.stderr.splitlines()
    assert printed.startswith(f"dealx: error: {line}")
    assert SECRET not in result.stderr
    assert not out.exists()


def test_an_endless_poll_interval_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["extract", SEEDS, "--batch", "--poll-seconds", "inf", "--out", out]
    result = run_dealx(args, env=dealx_env(tmp_path))
    assert result.returncode == EXIT_USAGE
    assert "'--poll-seconds': must be a finite number of seconds, got inf" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "ollama/llama3", "vllm/qwen"])
@pytest.mark.parametrize("tail", [f"?api-key={SECRET}", "#section", "?"])
def test_a_base_url_with_a_query_or_fragment_is_refused_unechoed(model: str, tail: str) -> None:
    settings = Settings(model=model, base_url=f"http://host:8000/v1{tail}", cache_mode="replay")
    with pytest.raises(ConfigError, match=r"query string \(\?...\) or fragment") as refused:
        resolve(settings)
    assert SECRET not in str(refused.value)


def test_a_plain_base_url_is_still_accepted() -> None:
    settings = Settings(model="vllm/qwen", base_url="http://host:8000/v1", cache_mode="replay")
    assert resolve(settings).base_url == "http://host:8000/v1"


def test_standard_input_is_read_up_to_the_article_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_ARTICLE_BYTES", 100)
    assert read_stream(io.BytesIO(b"a" * 100)).text == "a" * 100

    class Endless(io.RawIOBase):
        """A stream that never ends, counting what it was asked for."""

        given = 0

        def read(self, size: int = -1) -> bytes:
            assert 0 < size <= 101  # never "everything"
            self.given += size
            return b"a" * size

    endless = Endless()
    with pytest.raises(UnreadableDocument, match=r"^<stdin>: larger than"):
        read_stream(endless)  # type: ignore[arg-type]
    assert endless.given == 101  # the limit plus one byte


def test_an_article_file_over_the_limit_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "MAX_ARTICLE_BYTES", 100)
    (tmp_path / "fits.txt").write_bytes(b"a" * 100)
    (tmp_path / "big.txt").write_bytes(b"a" * 101)
    assert read_document(tmp_path / "fits.txt").text == "a" * 100
    with pytest.raises(UnreadableDocument, match=r"big\.txt: larger than") as refused:
        read_document(tmp_path / "big.txt")
    assert refused.value.exit_code == EXIT_FAILED  # a document error, not the whole command


def test_extract_from_an_endless_standard_input_stops_at_the_limit(tmp_path: Path) -> None:
    with open("/dev/zero", "rb") as zeros:
        result = subprocess.run(
            [sys.executable, "-m", "pipeline", "extract", "-", "--out", str(tmp_path / "run")],
            stdin=zeros,
            capture_output=True,
            cwd=REPO,
            env=dealx_env(tmp_path),
            timeout=120,
        )
    assert result.returncode == EXIT_FAILED
    limit = documents.MAX_ARTICLE_BYTES // 2**20
    assert result.stderr.decode() == (
        f"dealx: error: <stdin>: larger than {limit} MiB, too large for one article\n"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "command", [["--version"], ["schema"], ["eval", "RUN", "--format", "json"], ["eval", "RUN"]]
)
def test_output_into_a_closed_pipe_exits_1_quietly(
    replayed: tuple[Path, Path], tmp_path: Path, command: list[str]
) -> None:
    """`dealx eval RUN | head` where head has stopped reading: exit 1 with nothing on stderr
    (no traceback, no 'Exception ignored'), and what the command writes to disk is there."""
    run = tmp_path / "run"
    shutil.copytree(replayed[1], run)
    args = [str(run) if part == "RUN" else part for part in command]
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "pipeline", *args],
            cwd=REPO,
            env=dealx_env(tmp_path),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (finished.returncode, finished.stderr) == (EXIT_FAILED, "")
    if command[0] == "eval":
        assert (run / "eval" / "eval.json").is_file()
