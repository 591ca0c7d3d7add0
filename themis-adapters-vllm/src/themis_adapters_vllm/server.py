"""Talking to a vLLM server over HTTP with httpx2, and checking it before a run.

vLLM serves OpenAI's API under ``/v1`` and its own ``/health`` at the root.
The same transport works for any server that copies OpenAI's API (llama.cpp's
server, for one): a server without ``/health`` is checked through its model
list alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx2 as httpx

from themis.core.errors import ErrorCategory, ProviderError
from themis_adapters_openai.transport import PerEventLoop, Transport
from themis_adapters_openai.wire import (
    MalformedResponseError,
    WireRequest,
    WireResponse,
    error_detail,
    error_for_status,
    lower_headers,
    scrub,
)

DEFAULT_API_KEY_ENV = "VLLM_API_KEY"
DEFAULT_TIMEOUT_S = 120.0

_PATHS = {
    "chat_completions": "chat/completions",
    "responses": "responses",
    "completions": "completions",
}


def check_base_url(base_url: object, where: str) -> str:
    """The API root (``http://host:8000/v1``), refused early when it is not an http(s) URL."""
    url = httpx.URL(base_url) if isinstance(base_url, str) else None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            f"{where}: base_url must be the server's http(s) API root such as "
            f"'http://localhost:8000/v1', got {base_url!r}"
        )
    return str(base_url).rstrip("/")


DEFAULT_CONNECTIONS = 64
CONNECTIONS_PER_CLIENT = 4


class ClientPool:
    """Several small httpx clients used as one.

    An httpx connection pool scans all of its connections for every request,
    so one client with 64 connections spends more CPU per request than the
    request itself costs at high concurrency. Sharding the connections over
    clients of ``CONNECTIONS_PER_CLIENT`` keeps each scan short; a request
    takes the least busy client.
    """

    def __init__(self, factory: Callable[[], httpx.AsyncClient], *, clients: int) -> None:
        self._clients = [factory() for _ in range(max(1, clients))]
        self._in_flight = [0] * len(self._clients)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        index = min(range(len(self._clients)), key=self._in_flight.__getitem__)
        self._in_flight[index] += 1
        try:
            return await self._clients[index].request(method, url, **kwargs)
        finally:
            self._in_flight[index] -= 1


class VLLMServer:
    """A transport over one server's OpenAI-compatible HTTP API.

    One ``httpx.AsyncClient`` per event loop. The key, when the server wants
    one (``vllm serve --api-key``), is read from ``api_key_env`` and sent as a
    bearer token; it is never stored.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key_env: str,
        timeout_s: float,
        connections: int = DEFAULT_CONNECTIONS,
    ) -> None:
        if not isinstance(timeout_s, int | float) or timeout_s <= 0:
            raise ValueError(
                f"vllm(model={model!r}): timeout_s must be a positive number of seconds, "
                f"got {timeout_s!r}"
            )
        self.base_url = base_url
        self.where = f"vLLM model {model!r} at {base_url}"
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.connections = max(CONNECTIONS_PER_CLIENT, int(connections))
        self._clients = PerEventLoop(self._make_client)

    @property
    def root_url(self) -> str:
        """The server root, where vLLM serves ``/health``."""
        return self.base_url.removesuffix("/v1")

    def secrets(self) -> list[str]:
        key = os.environ.get(self.api_key_env)
        return [key] if key else []

    def _make_client(self) -> ClientPool:
        secrets = self.secrets()
        headers = {"Authorization": f"Bearer {secrets[0]}"} if secrets else {}
        tls = httpx.create_ssl_context()  # one TLS context for every client of the pool
        return ClientPool(
            lambda: httpx.AsyncClient(
                verify=tls,
                base_url=self.base_url + "/",
                timeout=self.timeout_s,
                headers=headers,
                limits=httpx.Limits(
                    max_connections=CONNECTIONS_PER_CLIENT,
                    max_keepalive_connections=CONNECTIONS_PER_CLIENT,
                ),
            ),
            clients=self.connections // CONNECTIONS_PER_CLIENT,
        )

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._clients.get().request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise ProviderError(
                f"{self.where}: request timed out after {self.timeout_s:g}s ({type(exc).__name__})",
                category=ErrorCategory.timeout,
            ) from None
        except httpx.TransportError as exc:
            raise ProviderError(
                scrub(
                    f"{self.where}: cannot reach the server: {type(exc).__name__}: {exc}",
                    self.secrets(),
                ),
                category=ErrorCategory.connection,
            ) from None

    def _error(self, response: httpx.Response) -> ProviderError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return error_for_status(
            response.status_code,
            body=scrub(body, self.secrets()),
            headers=lower_headers(response.headers),
            where=self.where,
        )

    async def send(self, request: WireRequest) -> WireResponse:
        response = await self._request("POST", _PATHS[request.api_mode], json=request.json_body())
        if response.status_code >= 400:
            raise self._error(response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise MalformedResponseError(self.where, f"{type(exc).__name__}: {exc}") from None
        if not isinstance(payload, dict):
            raise MalformedResponseError(self.where, f"expected a JSON object, got {payload!r:.80}")
        return WireResponse(payload, lower_headers(response.headers))

    async def served_models(self) -> list[str] | None:
        response = await self._request("GET", "models")
        if response.status_code >= 400:
            raise self._error(response)
        try:
            data = response.json()["data"]
            return [str(model["id"]) for model in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedResponseError(self.where, f"model list: {exc!r}") from None

    async def check_health(self) -> None:
        """``GET /health``; a server without that endpoint (404) passes on to the model check."""
        response = await self._request("GET", self.root_url + "/health")
        if response.status_code >= 400 and response.status_code != 404:
            raise ProviderError(
                f"{self.where}: the server is not healthy: GET /health answered "
                f"HTTP {response.status_code}: {error_detail(response.text) or '(empty body)'}",
                category=ErrorCategory.server_error,
                status_code=response.status_code,
            )


async def check_server(transport: Transport, model: str) -> None:
    """Before a run: the server is up and serves ``model``.

    An injected SDK-shaped client is asked for its model list when it has
    one; a client without one (a test double) is taken on trust.
    """
    if isinstance(transport, VLLMServer):
        await transport.check_health()
    served = await transport.served_models()
    if served is not None and model not in served:
        raise ValueError(
            f"{transport.where}: the server does not serve {model!r}; it serves "
            f"{sorted(served)}. Pass one of those as model (vLLM's --served-model-name)."
        )
