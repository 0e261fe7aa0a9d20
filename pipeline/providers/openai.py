"""`openai/<model>`: the OpenAI API, or with --base-url any OpenAI-compatible server."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from pipeline.pricing import OPENAI_BATCH_DISCOUNT, Price
from pipeline.providers.base import Capabilities, Provider, json_schema_response_format
from pipeline.providers.strict_schema import strict_json_schema
from schemas.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.settings import Settings

OPENAI_HOST = "api.openai.com"


class OpenAIProvider(Provider):
    """OpenAI itself gets strict structured outputs (the answer always fits the schema);
    another server gets what instructor's JSON_SCHEMA mode sends, which it may or may not
    enforce."""

    name = "openai"
    # OpenAI's list prices (USD per million tokens in, out); its Batch API takes half off.
    prices = {  # noqa: RUF012 - read only
        "gpt-4o-mini": Price(0.15, 0.60, OPENAI_BATCH_DISCOUNT),
        "gpt-4o": Price(2.50, 10.00, OPENAI_BATCH_DISCOUNT),
        "gpt-4.1-nano": Price(0.10, 0.40, OPENAI_BATCH_DISCOUNT),
        "gpt-4.1-mini": Price(0.40, 1.60, OPENAI_BATCH_DISCOUNT),
        "gpt-4.1": Price(2.00, 8.00, OPENAI_BATCH_DISCOUNT),
    }

    def __init__(self, settings: Settings, model: str, *, strict: bool | None = None) -> None:
        super().__init__(settings, model)
        # None: strict exactly when the endpoint is OpenAI's own.
        self.strict = self._is_openai() if strict is None else strict
        # Another server may or may not enforce instructor's schema; answers are validated
        # either way.
        self.capabilities = Capabilities(json_schema=self.strict)

    def _is_openai(self) -> bool:
        base_url = self.settings.base_url
        return base_url is None or urlsplit(base_url).hostname == OPENAI_HOST

    @property
    def cache_base_url(self) -> str | None:
        return self.settings.base_url

    def check(self) -> None:
        super().check()
        if self.settings.cache_mode != "replay":
            self.api_key()  # fail before any document, not once per document

    def extra_body(self, response_model: type[BaseModel]) -> dict[str, Any]:
        if not self.strict:
            return {}
        schema = strict_json_schema(response_model)
        return {"response_format": json_schema_response_format(response_model, schema, True)}

    def api_key(self) -> str:
        """The key from OPENAI_API_KEY; a server given by --base-url may need none."""
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            return key
        if self.settings.base_url is None:
            raise ConfigError(
                "OPENAI_API_KEY is not set: export OPENAI_API_KEY=sk-... , or point "
                "--base-url at an OpenAI-compatible server, or use --model local/smollm2-135m"
            )
        return "no-key"
