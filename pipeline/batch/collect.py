"""Turn a finished batch into ledger statuses: read its output and error files line by line,
then validate each answer against its request's schema and store the valid ones in the cache
(so the run's documents replay from it, exactly as after a live run)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from instructor.core import IncompleteOutputException
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from pipeline.batch.client import BatchClient
from pipeline.batch.ledger import Ledger, Part
from pipeline.engine import Session
from pipeline.extraction.documents import read_document
from pipeline.failures import describe_failure, redact
from pipeline.providers.structured import token_count, validate_answer
from pipeline.store.cache import CacheEntry, row_of

EXPIRED_CODE = "batch_expired"
# Rows written to the ledger (and entries to the cache) per transaction.
CHUNK = 5_000


def _error_reason(line: dict[str, Any]) -> tuple[str, str]:
    """(status, reason) of an error-file line: expired for batch_expired, else failed with the
    error's code and message, or the HTTP status and the body's error message."""
    error = line.get("error") or {}
    response = line.get("response") or {}
    body = response.get("body") if isinstance(response, dict) else None
    if not error and isinstance(body, dict):
        error = body.get("error") or {}
    code = error.get("code") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(error, str):  # not OpenAI's shape, but a reason all the same
        message = error
    if code == EXPIRED_CODE:
        return "expired", f"{EXPIRED_CODE}: {message or 'the batch expired before this request'}"
    status = response.get("status_code") if isinstance(response, dict) else None
    parts = [f"HTTP {status}" if status else None, code, message]
    reason = ": ".join(str(part) for part in parts if part) or "error without detail"
    return "failed", redact(" ".join(reason.split())[:300])


def _result_line(raw: bytes) -> dict[str, Any] | str:
    """A line of a result file as an object with its custom_id, or what is wrong with it (a
    file cut short, or a server that writes something else)."""
    try:
        line = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's stack
        return "not valid JSON"
    if not isinstance(line, dict):
        return "not a JSON object"
    if not isinstance(line.get("custom_id"), str):
        return "no custom_id"
    return line


def _outcome(line: dict[str, Any]) -> tuple[str, str | None, str | None, int, int]:
    """(status, reason, answer, tokens in, tokens out) of one result line: answered with the
    completion's body for an HTTP 200 without error, else expired or failed (_error_reason);
    a count that is not a token count is taken as none."""
    response = line.get("response")
    response = response if isinstance(response, dict) else {}
    body = response.get("body")
    usage = body.get("usage") if isinstance(body, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    tokens = token_count(usage.get("prompt_tokens")), token_count(usage.get("completion_tokens"))
    if response.get("status_code") == 200 and not line.get("error") and isinstance(body, dict):
        return "answered", None, json.dumps(body), *tokens
    return *_error_reason(line), None, *tokens


def read_results(ledger: Ledger, client: BatchClient, part: Part, batch: Batch) -> None:
    """Record what a terminal batch returned for each of its requests; those in neither file
    end missing (failed for a batch that failed or was cancelled, with the batch's reason).
    The part is marked collected in the same transaction as its last statuses."""
    db = ledger.db
    pending: list[tuple[Any, ...]] = []

    def flush() -> None:
        with db:
            db.executemany(
                "UPDATE requests SET status = ?, reason = ?, answer = ?, "
                "tokens_in = tokens_in + ?, tokens_out = tokens_out + ? "
                "WHERE custom_id = ? AND part = ? AND status = 'submitted'",
                pending,
            )
        pending.clear()

    # Lines that could not be read: how many, and the first (a count, so that a file of
    # garbage costs no memory per line).
    unread, first_unread = 0, ""
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        for number, raw in enumerate(client.lines(file_id), start=1):
            line = _result_line(raw)
            if isinstance(line, str):
                unread += 1
                first_unread = first_unread or f"line {number} of {file_id}: {line}"
                continue
            pending.append((*_outcome(line), line["custom_id"], part.part))
            if len(pending) >= CHUNK:
                flush()
    flush()
    if batch.status in ("failed", "cancelled"):
        errors = [e.message or e.code for e in (batch.errors.data if batch.errors else []) or []]
        leftover, reason = (
            "failed",
            f"batch {batch.status}: "
            + ("; ".join(str(e) for e in errors if e) or "no reason given"),
        )
    else:
        leftover, reason = "missing", "in neither the output nor the error file of its batch"
    if unread:
        reason += f"; {unread} line(s) of them could not be read (first: {first_unread})"
    with db:
        db.execute(
            "UPDATE requests SET status = ?, reason = ? WHERE part = ? AND status = 'submitted'",
            (leftover, redact(reason[:300]), part.part),
        )
        db.execute(
            "UPDATE parts SET collected = 1, status = ?, output_file_id = ?, error_file_id = ? "
            "WHERE part = ?",
            (batch.status, batch.output_file_id, batch.error_file_id, part.part),
        )


def parse_answer(completion: ChatCompletion, model: type[BaseModel]) -> BaseModel:
    """An answer in its response model, validated exactly as a live answer is; an answer cut
    at max_tokens is refused, as a live call refuses it."""
    try:
        return validate_answer(completion, model)
    except IncompleteOutputException as exc:
        message = "output truncated at max_tokens (finish_reason=length); not parsed"
        raise ValueError(message) from exc


def validate_answers(ledger: Ledger, session: Session) -> int:
    """Validate every downloaded answer: valid ones go into the cache and end ok, the others
    invalid with the validation error. Requests are rebuilt from each document, one document
    at a time; an answer whose request no longer exists (the article changed since it was
    sent) ends invalid too. Returns how many answers were validated."""
    extractor, cache = session.extractor, session.cache
    assert cache is not None  # a batch run always has a cache (checked when it is submitted)
    done = 0
    updates: list[tuple[str, str, str | None, str | None]] = []
    rows: list[tuple[Any, ...]] = []

    def flush() -> None:
        # The cache first: a crash between the two leaves answers cached but still
        # "answered", which the next collect validates again, never the reverse.
        cache.put_rows(rows)
        ledger.settle(updates)
        rows.clear()
        updates.clear()

    for doc_id in ledger.doc_ids_with(("answered",)):
        answered = ledger.answers(doc_id)
        done += len(answered)
        path = ledger.doc_path(doc_id)
        try:
            requests = extractor.requests_for(read_document(Path(path or doc_id)))[0]
        except Exception as exc:
            requests, reason = [], f"cannot read the article again: {describe_failure(exc)}"
        else:
            reason = "the article changed since the batch was submitted"
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        for request in requests:
            key = request.cache_key()
            if key not in answered:
                continue
            text, batch_id = answered.pop(key)
            body = json.loads(text) if text else None
            try:
                completion = ChatCompletion.model_validate(body)
                parsed = parse_answer(completion, request.response_model)
            except Exception as exc:
                updates.append((key, "invalid", "batch", describe_failure(exc)))
                continue
            usage = completion.usage
            rows.append(
                row_of(
                    CacheEntry(
                        key=key,
                        doc_id=doc_id,
                        request=request.describe(),
                        raw_response=body,
                        record=parsed.model_dump(mode="json"),
                        prompt_tokens=token_count(getattr(usage, "prompt_tokens", None)),
                        completion_tokens=token_count(getattr(usage, "completion_tokens", None)),
                        latency_s=0.0,
                        created_at=created_at,
                        server_model=completion.model,
                        reasks=0,
                        transport_retries=0,
                        provenance={
                            **extractor.provenance,
                            "recorded_by": "dealx batch",
                            "batch_id": batch_id,
                        },
                    )
                )
            )
            updates.append((key, "ok", "batch", None))
        updates.extend((key, "invalid", "batch", reason) for key in answered)
        if len(updates) >= CHUNK:
            flush()
    flush()
    return done


def mark_answered_by_cache(ledger: Ledger, session: Session, doc_ids: Iterable[str]) -> None:
    """After live retries: each request of these documents the cache now answers is ok (via
    live); the others keep their status and reason."""
    cache = session.cache
    assert cache is not None
    updates = []
    for doc_id in doc_ids:
        for custom_id, status, *_ in ledger.doc_requests(doc_id):
            if status != "ok" and cache.get_answer(custom_id) is not None:
                updates.append((custom_id, "ok", "live", None))
    ledger.settle(updates)
