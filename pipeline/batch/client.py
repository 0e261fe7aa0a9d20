"""The provider's Files and Batches endpoints, through the openai client (its auth, retries
and error types): upload an input file, create, find, retrieve and cancel a batch, stream a
result file line by line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
from openai.types import Batch

from pipeline.batch.jsonl import CHAT_URL
from pipeline.providers import Provider

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
# Batches listed per page when looking for one created by an interrupted submit.
LIST_PAGE = 100


class BatchClient:
    """Files and Batches calls for one provider endpoint."""

    def __init__(self, provider: Provider) -> None:
        settings = provider.settings
        self.client = openai.OpenAI(
            base_url=provider.base_url,
            api_key=provider.api_key(),
            timeout=settings.timeout_s,
            max_retries=max(0, settings.transport_attempts - 1),
        )

    def close(self) -> None:
        self.client.close()

    def upload(self, path: Path) -> str:
        """Upload a JSONL input file (purpose "batch"); returns its file id."""
        with path.open("rb") as handle:
            return self.client.files.create(file=(path.name, handle), purpose="batch").id

    def find(self, input_file_id: str) -> Batch | None:
        """The batch already created for an input file, if any: a submit interrupted between
        creating the batch and recording its id must not create a second one."""
        for batch in self.client.batches.list(limit=LIST_PAGE):
            if batch.input_file_id == input_file_id:
                return batch
        return None

    def create(self, input_file_id: str, run: str, part: int) -> Batch:
        """Create the batch of an input file, with the run and part in its metadata."""
        # No automatic retry: a create whose answer was lost may have made the batch, and a
        # retry would make a second one. A rerun finds it by its input file instead.
        return self.client.with_options(max_retries=0).batches.create(
            input_file_id=input_file_id,
            endpoint=CHAT_URL,
            completion_window="24h",
            metadata={"dealx_run": run[-512:], "dealx_part": str(part)},
        )

    def retrieve(self, batch_id: str) -> Batch:
        return self.client.batches.retrieve(batch_id)

    def cancel(self, batch_id: str) -> Batch:
        return self.client.batches.cancel(batch_id)

    def lines(self, file_id: str) -> Iterator[bytes]:
        """The lines of a result file, streamed (never the whole file in memory)."""
        with self.client.files.with_streaming_response.content(file_id) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield line.encode() if isinstance(line, str) else line
