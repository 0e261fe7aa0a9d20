"""Batch input files: one JSONL line per request, `custom_id` = the request's cache key and
`body` exactly what a live call sends, split into parts within the provider's limits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import instructor

from pipeline.batch.ledger import Ledger
from pipeline.extraction.request import ModelRequest
from pipeline.providers.structured import ResponseFormats
from schemas.errors import ConfigError

CHAT_URL = "/v1/chat/completions"


@dataclass(frozen=True)
class Limits:
    """The most requests and bytes one batch input file may hold (OpenAI: 50,000 and 200 MB)."""

    requests: int = 50_000
    bytes: int = 200 * 1024 * 1024


OPENAI_LIMITS = Limits()


class RequestBodies:
    """Chat-completions bodies of requests as the live path sends them: the messages, the
    model and decoding parameters, the `json_schema` response_format of the response model
    (the one a live call sends, built once per schema), and the provider's extra body on top
    (which the openai client merges the same way). tests/test_batch.py checks that the lines
    equal the requests a live run sends."""

    def __init__(self) -> None:
        self._formats = ResponseFormats()

    def __call__(self, request: ModelRequest) -> dict[str, Any]:
        settings = request.settings
        if settings.mode is not instructor.Mode.JSON_SCHEMA:
            raise ConfigError(f"batch: instructor mode {settings.mode.value} is not supported")
        response_format = self._formats.get(request.response_model, request.schema_sha256)
        return {
            "messages": request.messages,
            "model": settings.model,
            **settings.decoding,
            "response_format": response_format,
            **request.extra_body,
        }


def request_line(custom_id: str, body: dict[str, Any]) -> bytes:
    """One line of a batch input file."""
    line = {"custom_id": custom_id, "method": "POST", "url": CHAT_URL, "body": body}
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class PartWriter:
    """Writes request lines into RUN_DIR/batch/input-NNN.jsonl, starting a new part before
    one would pass the limits, and assigns each request its part in the ledger."""

    def __init__(self, ledger: Ledger, limits: Limits) -> None:
        self.ledger = ledger
        self.limits = limits
        self._part: int | None = None
        self._file: IO[bytes] | None = None
        self._count = 0
        self._bytes = 0

    def add(self, custom_id: str, line: bytes) -> None:
        if len(line) > self.limits.bytes:
            raise ValueError(f"request {custom_id[:16]} alone exceeds {self.limits.bytes} bytes")
        if (
            self._file is None
            or self._count >= self.limits.requests
            or self._bytes + len(line) > self.limits.bytes
        ):
            self._start()
        assert self._file is not None and self._part is not None
        self._file.write(line)
        self._count += 1
        self._bytes += len(line)
        self.ledger.db.execute(
            "UPDATE requests SET part = ? WHERE custom_id = ?", (self._part, custom_id)
        )

    def _start(self) -> None:
        self._finish_part()
        self._part = self.ledger.next_part()
        path = self.path(self._part)
        self._file = path.open("wb")
        self._count = self._bytes = 0
        # The row first, with its counts filled in when the part is closed.
        self.ledger.db.execute(
            "INSERT INTO parts (part, path, requests, bytes) VALUES (?, ?, 0, 0)",
            (self._part, path.name),
        )

    def path(self, part: int) -> Path:
        return self.ledger.folder / f"input-{part:03d}.jsonl"

    def _finish_part(self) -> None:
        if self._file is not None and self._part is not None:
            self._file.close()
            self.ledger.db.execute(
                "UPDATE parts SET requests = ?, bytes = ? WHERE part = ?",
                (self._count, self._bytes, self._part),
            )
        self._file = None

    def close(self) -> None:
        """Close the last part (the caller commits the ledger)."""
        self._finish_part()
