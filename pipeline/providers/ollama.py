"""`ollama/<model>`: a model served by Ollama through its OpenAI-compatible endpoint."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pipeline.providers.base import Provider, json_schema_response_format


class OllamaProvider(Provider):
    """Ollama (0.5 and later) turns a `json_schema` response_format into its own `format`
    and constrains decoding to the schema with llama.cpp's grammar."""

    name = "ollama"
    default_base_url = "http://localhost:11434/v1"

    def extra_body(self, response_model: type[BaseModel]) -> dict[str, Any]:
        return {"response_format": json_schema_response_format(response_model)}

    def api_key(self) -> str:
        return "ollama"  # required by the client, ignored by Ollama
