"""A fake OpenAI-compatible HTTP server on 127.0.0.1 for offline tests and benchmarks.

It is the only fake dealx allows: a real socket speaking the chat-completions API, so the
real ``openai``/``instructor`` stack (httpx, retries, timeouts, parsing) runs unchanged.
What each request gets back is scripted by a handler that returns an action::

    with FakeOpenAI(Script([Status(503), Reply('{"deals": []}')]), latency=0.1) as server:
        client = openai.OpenAI(api_key="sk-test", base_url=server.base_url)
        ...
    assert server.count() == 2

It also speaks the Files and Batches endpoints (``/v1/files``, ``/v1/batches``): an uploaded
JSONL input file is validated as OpenAI does, and each line is answered by the same handler as
a chat request when the batch is polled; a :class:`BatchPlan` makes batches expire part way,
drop lines from both result files, fail validation, or lose the answer to a create.

Pure standard library, so ``bench/`` scripts can import it without pytest.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "BATCHES_PATH",
    "CHAT_PATH",
    "EMPTY_EXTRACTION",
    "FILES_PATH",
    "MODELS_PATH",
    "Action",
    "BatchPlan",
    "FakeOpenAI",
    "Handler",
    "Hang",
    "RecordedRequest",
    "Reply",
    "Reset",
    "Script",
    "ScriptByMarker",
    "Status",
    "Step",
    "free_port",
    "messages_text",
]

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
FILES_PATH = "/v1/files"
BATCHES_PATH = "/v1/batches"
EMPTY_EXTRACTION = '{"companies": [], "people": [], "deals": []}'


@dataclass(frozen=True)
class Reply:
    """A 200 chat completion whose assistant message is ``content``.

    When the request carries ``tools`` (instructor's TOOLS mode) the content becomes the
    arguments of a tool call to the requested function; ``tool_call=False`` forces plain
    content anyway, as a model that ignores the tools would. ``model=None`` echoes the
    requested model; ``usage=None`` estimates token counts from character counts.
    """

    content: str = EMPTY_EXTRACTION
    finish_reason: str = "stop"
    model: str | None = None
    delay: float = 0.0
    usage: Mapping[str, int] | None = None
    tool_call: bool | None = None


@dataclass(frozen=True)
class Status:
    """An HTTP error with an OpenAI-style ``{"error": {...}}`` body.

    ``body`` replaces that default: a mapping is sent as JSON, a string as-is (e.g. a
    proxy's HTML 502 page). ``error_code`` fills ``error.code``, e.g. ``"invalid_api_key"``
    or ``"insufficient_quota"``.
    """

    code: int
    body: Mapping[str, Any] | str | None = None
    headers: Mapping[str, str] | None = None
    delay: float = 0.0
    error_code: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Hang:
    """Read the request, then answer nothing for ``seconds`` and close; like a real server, stop
    sooner when the client hangs up (a timed-out request is then no longer in flight) or the
    server shuts down."""

    seconds: float = 60.0


@dataclass(frozen=True)
class Reset:
    """Abort the connection with a TCP RST instead of a response (client sees ECONNRESET)."""


Action = Reply | Status | Hang | Reset
Handler = Callable[[dict[str, Any], int], Action]
"""Called with the parsed request body and the 0-based index of the chat request."""
Step = Action | Handler
"""Scripts hold fixed actions or handlers computing one from the request."""

_ACTIONS = (Reply, Status, Hang, Reset)


@dataclass(frozen=True)
class BatchPlan:
    """How the fake runs batches. A batch is ``validating`` when created and ``in_progress``
    at its first retrieve; at retrieve number ``polls`` it ends. ``expire_after`` lines are
    answered, the rest go to the error file as ``batch_expired`` (status ``expired``);
    ``omit`` holds line indexes written to neither file; ``fail`` makes every batch fail
    validation with that message. Lines that are not valid batch requests fail validation
    too, as at OpenAI (bad JSON, duplicate ``custom_id``, another URL). The first
    ``lose_creates`` creates make their batch but answer 502, as when the answer is lost on
    the way back. ``damaged`` maps line indexes to what the output file holds instead of their
    result (``{custom_id}`` in it becomes the line's own): a file cut short or garbled on the
    way, or a server that writes what it likes."""

    polls: int = 2
    expire_after: int | None = None
    omit: frozenset[int] = frozenset()
    fail: str | None = None
    lose_creates: int = 0
    damaged: Mapping[int, str] = field(default_factory=dict)


def _resolve(step: Step, body: dict[str, Any], index: int) -> Action:
    return step if isinstance(step, _ACTIONS) else step(body, index)


class Script:
    """A handler playing ``steps`` in order, then ``default`` for every later request."""

    def __init__(self, steps: Iterable[Step] = (), default: Step = Reply()) -> None:
        self._steps = list(steps)
        self._default = default
        # Requests arrive on concurrent handler threads; each step must be used exactly once.
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        """How many scripted steps have not been played yet."""
        with self._lock:
            return len(self._steps)

    def __call__(self, body: dict[str, Any], index: int) -> Action:
        with self._lock:
            step = self._steps.pop(0) if self._steps else self._default
        return _resolve(step, body, index)


class ScriptByMarker:
    """A handler keeping one :class:`Script` per marker string found in the messages.

    Concurrent requests for different documents interleave unpredictably, so a single
    ordered script is not deterministic; keying by a marker (e.g. a document id in the
    prompt) is. The longest matching marker wins, so ``doc-1`` does not shadow ``doc-10``.
    Requests matching no marker, and markers whose steps are used up, get ``default``.
    """

    def __init__(self, scripts: Mapping[str, Sequence[Step]], default: Step = Reply()) -> None:
        self._default = default
        self._scripts = {
            marker: Script(steps, default)
            for marker, steps in sorted(scripts.items(), key=lambda kv: -len(kv[0]))
        }

    def remaining(self, marker: str) -> int:
        """How many scripted steps are left for ``marker``."""
        return self._scripts[marker].remaining

    def __call__(self, body: dict[str, Any], index: int) -> Action:
        text = messages_text(body)
        for marker, script in self._scripts.items():
            if marker in text:
                return script(body, index)
        return _resolve(self._default, body, index)


def messages_text(body: Any) -> str:
    """All text content of a chat request's messages, joined by newlines."""
    if not isinstance(body, dict):
        return ""
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            # Multi-part content: [{"type": "text", "text": ...}, ...]
            parts.extend(p["text"] for p in content if isinstance(p, dict) and "text" in p)
    return "\n".join(parts)


def free_port() -> int:
    """A localhost port with nothing listening on it, for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; ``headers`` keys are lower-cased, ``query`` is the raw query
    string (without ``?``) and ``raw`` the body's bytes as sent."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = field(default_factory=time.monotonic)
    query: str = ""
    raw: bytes = b""

    @property
    def text(self) -> str:
        """The messages' text (empty for non-chat requests)."""
        return messages_text(self.body)


VOLATILE_HEADERS = ("user-agent", "x-stainless-", "content-length")


def wire(request: RecordedRequest) -> dict[str, Any]:
    """A request as the server saw it, without headers that differ between two calls."""
    headers = {
        name: value
        for name, value in request.headers.items()
        if not name.startswith(VOLATILE_HEADERS)
    }
    return {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": headers,
        "body": request.body,
    }


class FakeOpenAI:
    """An OpenAI-compatible server on ``127.0.0.1:<free port>`` run in a daemon thread.

    ``handler`` decides each chat completion: a fixed action, a :class:`Script`, a
    :class:`ScriptByMarker` or any ``(body, index) -> action`` callable; it defaults to an
    empty extraction. ``latency`` seconds are waited before every answer, on the request's
    own thread, so concurrent requests overlap instead of queueing.
    """

    def __init__(
        self,
        handler: Step = Reply(),
        *,
        latency: float = 0.0,
        model: str = "fake-model",
        shutdown_timeout: float = 2.0,
        batch_plan: BatchPlan = BatchPlan(),
    ) -> None:
        self.handler = handler
        self.batch_plan = batch_plan
        # Uploaded files (bytes) and batches (OpenAI batch objects) by id.
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self._batch_lock = threading.Lock()
        self.latency = latency
        self.model = model
        self.shutdown_timeout = shutdown_timeout
        # Exceptions raised by handlers (each answered with a 500) or by the server itself;
        # tests may assert it stays empty.
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        # The serving thread and every connection's handler thread, for close() to join.
        self._threads: set[threading.Thread] = set()
        self._chat_count = 0
        self._in_flight = 0
        self._peak_in_flight = 0
        self._httpd: _Server | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Bind a free port and serve in the background; returns self."""
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAI already started")
        self._httpd = _Server(self)
        thread = threading.Thread(
            target=self._httpd.serve_forever,
            # A short poll keeps shutdown() from waiting out the default 0.5 s select.
            kwargs={"poll_interval": 0.05},
            name=f"fake-openai:{self.port}",
            daemon=True,
        )
        thread.start()
        self._threads.add(thread)
        return self

    def close(self) -> None:
        """Stop serving, cut open connections, wake waiting handlers and join their threads.

        A handler thread still busy after ``shutdown_timeout`` (a user handler that blocks)
        is left behind as a daemon rather than hanging the caller.
        """
        if self._httpd is None or self._stopping.is_set():
            return
        with self._lock:
            self._stopping.set()
            # Idle keep-alive connections block their threads in recv(); shutting the
            # sockets down wakes them so every handler thread can end.
            for conn in self._connections:
                _shutdown_quietly(conn)
        self._httpd.shutdown()
        self._httpd.server_close()
        deadline = time.monotonic() + self.shutdown_timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("FakeOpenAI not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """The ``base_url`` for an OpenAI client, ending in ``/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- inspection -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """A snapshot of the chat-completion requests only."""
        return [r for r in self.requests if r.path == CHAT_PATH and r.method == "POST"]

    def count(self, marker: str | None = None, path: str = CHAT_PATH) -> int:
        """Number of requests to ``path``, optionally only those whose messages hold ``marker``."""
        return sum(
            1 for r in self.requests if r.path == path and (marker is None or marker in r.text)
        )

    @property
    def peak_in_flight(self) -> int:
        """The most chat requests ever being answered at the same time."""
        with self._lock:
            return self._peak_in_flight

    # -- used by the request handler ------------------------------------------------------

    def _record(self, request: RecordedRequest) -> int:
        """Store the request; returns its index among chat requests."""
        with self._lock:
            self._requests.append(request)
            if request.method == "POST" and request.path == CHAT_PATH:
                self._chat_count += 1
            return self._chat_count - 1

    def _enter_flight(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def _leave_flight(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _register(self, conn: socket.socket) -> None:
        with self._lock:
            # Forget finished threads so a long benchmark does not accumulate them.
            self._threads = {t for t in self._threads if t.is_alive()}
            self._threads.add(threading.current_thread())
            if self._stopping.is_set():
                # Accepted just before close(): it would otherwise wait for a request forever.
                _shutdown_quietly(conn)
            self._connections.add(conn)

    def _unregister(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _wait(self, seconds: float) -> bool:
        """Sleep unless shutting down; returns False if shutdown cut the wait short."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    # Benchmarks fire 50-64 requests at once; the default backlog of 5 would refuse some.
    request_queue_size = 128
    daemon_threads = True
    # server_close() would join handler threads without a time limit; close() bounds it.
    block_on_close = False

    def __init__(self, owner: FakeOpenAI) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-answer (timeouts, resets) are expected, not worth a traceback;
        # anything else is a bug worth surfacing through ``errors``.
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, OSError):
            self.owner.errors.append(error)


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive, as real servers do, so clients reuse pooled connections.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
    # stalls the second one by ~40 ms on every keep-alive request.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._unregister(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # Tests and benchmarks would drown in access logs on stderr.
        pass

    def do_GET(self) -> None:
        self._serve(None, b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._serve(body, raw)

    def _serve(self, body: Any, raw: bytes) -> None:
        owner = self.server.owner
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = RecordedRequest(self.command, path, headers, body, query=query, raw=raw)
        index = owner._record(request)
        if self.command == "POST" and path == CHAT_PATH:
            owner._enter_flight()
            try:
                self._chat(body if isinstance(body, dict) else {}, index)
            finally:
                owner._leave_flight()
        elif self.command == "GET" and path == MODELS_PATH:
            if owner._wait(owner.latency):
                model = {"id": owner.model, "object": "model", "created": 0, "owned_by": "fake"}
                self._send_json(200, {"object": "list", "data": [model]})
        elif path.startswith((FILES_PATH, BATCHES_PATH)):
            if owner._wait(owner.latency):
                with owner._batch_lock:
                    code, data, content_type = _batch_api(owner, self.command, path, headers, raw)
                self._send(code, data, content_type, None)
        elif owner._wait(owner.latency):
            message = f"Invalid URL ({self.command} {path})"
            self._send_json(404, _error_body(message, "invalid_request_error", None))

    def _chat(self, body: dict[str, Any], index: int) -> None:
        owner = self.server.owner
        try:
            action = _resolve(owner.handler, body, index)
        except Exception as exc:
            owner.errors.append(exc)
            action = Status(500, message=f"fake handler raised {exc!r}")
        if not owner._wait(owner.latency):
            return self._drop()
        if isinstance(action, Reply):
            if owner._wait(action.delay):
                self._send_json(200, _completion(action, body, index, owner.model))
            else:
                self._drop()
        elif isinstance(action, Status):
            if owner._wait(action.delay):
                self._send_status(action)
            else:
                self._drop()
        elif isinstance(action, Hang):
            self._hang(action.seconds)
            self._drop()
        else:
            self._reset()

    def _hang(self, seconds: float) -> None:
        """Hold the request until `seconds` pass, the client closes, or the server stops."""
        owner = self.server.owner
        deadline = time.monotonic() + seconds
        while not owner._stopping.is_set() and time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.01)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return  # the client hung up
                except OSError:
                    return
                owner._stopping.wait(0.01)  # bytes waiting (a pipelined request): no busy loop

    def _send_status(self, status: Status) -> None:
        if isinstance(status.body, str):
            self._send(status.code, status.body.encode(), "text/html", status.headers)
            return
        body = status.body
        if body is None:
            message = status.message or f"fake error {status.code}"
            body = _error_body(message, _error_type(status), status.error_code)
        self._send(status.code, json.dumps(body).encode(), "application/json", status.headers)

    def _send_json(self, code: int, payload: Mapping[str, Any]) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json", None)

    def _send(
        self, code: int, data: bytes, content_type: str, headers: Mapping[str, str] | None
    ) -> None:
        try:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            # The client gave up (timeout) before the answer; nothing left to tell it.
            self.close_connection = True

    def _drop(self) -> None:
        """End the connection without a response (orderly FIN)."""
        self.close_connection = True

    def _reset(self) -> None:
        """End the connection with an RST: SO_LINGER (on, 0 s) makes close() abort it."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference to the socket; the fd only really closes once both go.
        self.rfile.close()
        self.connection.close()


def _error_type(status: Status) -> str:
    """The ``error.type`` OpenAI uses for this status."""
    if status.code >= 500:
        return "server_error"
    if status.code == 429:
        return "insufficient_quota" if status.error_code == "insufficient_quota" else "requests"
    return {403: "permission_error", 409: "conflict_error"}.get(
        status.code, "invalid_request_error"
    )


def _error_body(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _completion(reply: Reply, body: dict[str, Any], index: int, model: str) -> dict[str, Any]:
    tool_name = _tool_name(body)
    as_tool = tool_name is not None if reply.tool_call is None else reply.tool_call
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    finish_reason = reply.finish_reason
    if as_tool:
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": f"call_fake{index}",
                "type": "function",
                "function": {"name": tool_name or "tool", "arguments": reply.content},
            }
        ]
        # A truncated ("length") tool call must stay visible as such.
        if finish_reason == "stop":
            finish_reason = "tool_calls"
    if reply.usage is not None:
        usage = dict(reply.usage)
    else:
        prompt_tokens = len(messages_text(body)) // 4
        completion_tokens = max(1, len(reply.content) // 4)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
    return {
        "id": f"chatcmpl-fake{index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model or body.get("model") or model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
    }


def _tool_name(body: dict[str, Any]) -> str | None:
    """The function the request asks for: the forced ``tool_choice``, else the first tool."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name"))
    tools = body.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[0], dict):
        return str((tools[0].get("function") or {}).get("name") or "tool")
    return None


def _shutdown_quietly(conn: socket.socket) -> None:
    # The socket may already be closed by the client or by a Reset.
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


# -- Files and Batches ------------------------------------------------------------------------

_JSON = "application/json"


def _json(code: int, payload: Any) -> tuple[int, bytes, str]:
    return code, json.dumps(payload).encode(), _JSON


def _not_found(what: str) -> tuple[int, bytes, str]:
    return _json(404, _error_body(f"No such {what}", "invalid_request_error", None))


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes)."""
    boundary = content_type.partition("boundary=")[2].strip('"')
    fields: dict[str, tuple[str | None, bytes]] = {}
    for chunk in raw.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        name = disposition.partition('name="')[2].partition('"')[0]
        filename = disposition.partition('filename="')[2].partition('"')[0] or None
        fields[name] = (filename, data[:-2] if data.endswith(b"\r\n") else data)
    return fields


def _file_object(file_id: str, size: int, filename: str, purpose: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
    }


def _batch_api(
    owner: FakeOpenAI, method: str, path: str, headers: dict[str, str], raw: bytes
) -> tuple[int, bytes, str]:
    """Answer one Files or Batches request (called under the owner's batch lock)."""
    parts = path.strip("/").split("/")[1:]  # ["files", id, "content"], ["batches", id, ...]
    if parts[0] == "files":
        if method == "POST" and len(parts) == 1:
            fields = _multipart(headers.get("content-type", ""), raw)
            filename, data = fields.get("file", (None, b""))
            purpose = fields.get("purpose", (None, b""))[1].decode()
            file_id = f"file-fake{len(owner.files)}"
            owner.files[file_id] = data
            return _json(200, _file_object(file_id, len(data), filename or "upload", purpose))
        if len(parts) >= 2 and parts[1] not in owner.files:
            return _not_found("file")
        if method == "GET" and len(parts) == 3 and parts[2] == "content":
            return 200, owner.files[parts[1]], "application/octet-stream"
        if method == "GET" and len(parts) == 2:
            data = owner.files[parts[1]]
            return _json(200, _file_object(parts[1], len(data), "file", "batch"))
    elif parts[0] == "batches":
        if method == "POST" and len(parts) == 1:
            request = json.loads(raw or b"{}")
            if request.get("input_file_id") not in owner.files:
                return _not_found("file")
            batch_id = f"batch_fake{len(owner.batches)}"
            owner.batches[batch_id] = {
                "id": batch_id,
                "object": "batch",
                "endpoint": request.get("endpoint"),
                "input_file_id": request["input_file_id"],
                "completion_window": request.get("completion_window"),
                "status": "validating",
                "created_at": int(time.time()),
                "metadata": request.get("metadata"),
                "output_file_id": None,
                "error_file_id": None,
                "errors": None,
                "request_counts": {"total": 0, "completed": 0, "failed": 0},
                "_polls": 0,
            }
            if len(owner.batches) <= owner.batch_plan.lose_creates:
                return _json(502, _error_body("bad gateway", "server_error", None))
            return _json(200, _public(owner.batches[batch_id]))
        if method == "GET" and len(parts) == 1:
            data = [_public(batch) for batch in reversed(owner.batches.values())]
            return _json(200, {"object": "list", "data": data, "has_more": False})
        batch = owner.batches.get(parts[1])
        if batch is None:
            return _not_found("batch")
        if method == "GET" and len(parts) == 2:
            _advance(owner, batch)
            return _json(200, _public(batch))
        if method == "POST" and len(parts) == 3 and parts[2] == "cancel":
            if batch["status"] in ("validating", "in_progress", "finalizing"):
                batch["status"] = "cancelling"
            return _json(200, _public(batch))
    return _json(404, _error_body(f"Invalid URL ({method} {path})", "invalid_request_error", None))


def _public(batch: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in batch.items() if not key.startswith("_")}


def _advance(owner: FakeOpenAI, batch: dict[str, Any]) -> None:
    """One retrieve's worth of progress: validating -> in_progress -> ended at `polls`."""
    if batch["status"] in ("completed", "failed", "expired", "cancelled"):
        return
    if batch["status"] == "cancelling":
        _finish(owner, batch, "cancelled", answered=0)
        return
    batch["_polls"] += 1
    if batch["_polls"] == 1:
        batch["status"] = "in_progress"
    if batch["_polls"] >= owner.batch_plan.polls:
        _finish(owner, batch, None, owner.batch_plan.expire_after)


def _input_problem(lines: list[bytes], endpoint: str | None) -> str | None:
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        try:
            request = json.loads(line)
        except ValueError:
            return f"line {number}: not valid JSON"
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or custom_id in seen:
            return f"line {number}: custom_id missing or used twice"
        seen.add(custom_id)
        if request.get("method") != "POST" or request.get("url") != endpoint:
            return f"line {number}: method must be POST and url {endpoint}"
    return None


def _finish(
    owner: FakeOpenAI, batch: dict[str, Any], status: str | None, answered: int | None
) -> None:
    """End a batch: validate its input, answer its lines (the first `answered`; None: all)
    with the chat handler, and write the output and error files."""
    lines = [line for line in owner.files[batch["input_file_id"]].splitlines() if line.strip()]
    problem = owner.batch_plan.fail or _input_problem(lines, batch["endpoint"])
    batch["request_counts"]["total"] = len(lines)
    if problem is not None and status != "cancelled":
        batch["status"] = "failed"
        batch["errors"] = {
            "object": "list",
            "data": [{"code": "invalid_request", "message": problem, "param": None, "line": None}],
        }
        return
    outputs: list[str] = []
    errors: list[str] = []
    completed = failed = 0
    for index, line in enumerate(lines):
        if index in owner.batch_plan.omit:
            continue
        request = json.loads(line)
        custom_id = request["custom_id"]
        if index in owner.batch_plan.damaged:
            outputs.append(owner.batch_plan.damaged[index].replace("{custom_id}", custom_id) + "\n")
            continue
        if answered is not None and index >= answered:
            if status == "cancelled":
                continue  # OpenAI writes nothing for requests a cancel stopped
            message = "This request could not be executed before the completion window expired."
            errors.append(
                _result(index, custom_id, None, {"code": "batch_expired", "message": message})
            )
            failed += 1
            continue
        action = _resolve(owner.handler, request["body"], index)
        if isinstance(action, Reply):
            body = _completion(action, request["body"], index, owner.model)
            outputs.append(_result(index, custom_id, {"status_code": 200, "body": body}, None))
            completed += 1
        elif isinstance(action, Status):
            message = action.message or f"fake error {action.code}"
            body = _error_body(message, _error_type(action), action.error_code)
            errors.append(
                _result(index, custom_id, {"status_code": action.code, "body": body}, None)
            )
            failed += 1
        # Hang and Reset: the request is lost, in neither file.
    for kind, rows in (("output", outputs), ("error", errors)):
        if rows:
            file_id = f"file-fake{len(owner.files)}"
            owner.files[file_id] = "".join(rows).encode()
            batch[f"{kind}_file_id"] = file_id
    batch["request_counts"].update(completed=completed, failed=failed)
    expired = answered is not None and status is None
    batch["status"] = status or ("expired" if expired else "completed")


def _result(index: int, custom_id: str, response: dict[str, Any] | None, error: Any) -> str:
    if response is not None:
        response = {"request_id": f"req_fake{index}", **response}
    line = {
        "id": f"batch_req_fake{index}",
        "custom_id": custom_id,
        "response": response,
        "error": error,
    }
    return json.dumps(line) + "\n"
