"""`vllm/<model>`: a model served by vLLM's OpenAI-compatible server."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pipeline.providers.base import Provider, json_schema_response_format


class VLLMProvider(Provider):
    """vLLM constrains decoding to a `json_schema` response_format (its structured outputs
    backend, xgrammar or guidance). That field works on every vLLM release with structured
    outputs; the older `guided_json` extra field was removed in vLLM 0.12, and sending its
    successor `structured_outputs` beside the response_format instructor also sends would
    ask for two constraints at once."""

    name = "vllm"
    default_base_url = "http://localhost:8000/v1"

    def extra_body(self, response_model: type[BaseModel]) -> dict[str, Any]:
        return {"response_format": json_schema_response_format(response_model)}
