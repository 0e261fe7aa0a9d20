"""`local/<model>`: the embedded model, served by llama.cpp's server that dealx starts itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from pipeline.pricing import Price
from pipeline.providers.base import Capabilities, Provider
from pipeline.providers.llama_server import LlamaServer, gguf_path
from schemas.errors import ConfigError, ModelServerError

if TYPE_CHECKING:
    from pipeline.settings import Settings


def llama_cpp_extra_body(response_model: type[BaseModel]) -> dict[str, Any]:
    """llama.cpp accepts the schema only inside a json_object response_format (json_schema is
    rejected), and only a schema that reaches the server constrains decoding."""
    return {
        "response_format": {"type": "json_object", "schema": response_model.model_json_schema()}
    }


class LocalProvider(Provider):
    """llama.cpp on a free port on 127.0.0.1, started on the first cache miss and stopped at
    the end of the run."""

    name = "local"
    # The embedded model scores best with the constrained strategy (see README).
    default_strategy = "constrained"
    # llama.cpp's server answers one request at a time; more would only queue there.
    capabilities = Capabilities(json_schema=True, max_concurrency=1)

    def __init__(self, settings: Settings, model: str) -> None:
        super().__init__(settings, model)
        self._server: LlamaServer | None = None

    @property
    def cache_base_url(self) -> str | None:
        # The server's port is chosen at run time; the model name identifies the endpoint.
        return None

    def check(self) -> None:
        if self.settings.base_url:
            raise ConfigError("base_url: the local model runs its own server; drop --base-url")
        if self.settings.cache_mode != "replay":  # replaying needs no model installed
            gguf_path(self.model)

    def extra_body(self, response_model: type[BaseModel]) -> dict[str, Any]:
        return llama_cpp_extra_body(response_model)

    def start(self) -> str:
        self._server = LlamaServer(self.model, self.settings.context_tokens)
        self._server.start()
        return self._server.base_url

    def api_key(self) -> str:
        return "local-no-key"

    def server_died(self) -> ModelServerError | None:
        return self._server.died_error() if self._server is not None else None

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @classmethod
    def price_per_mtok(cls, model: str) -> Price:
        return Price(0.0, 0.0)  # runs on this machine
