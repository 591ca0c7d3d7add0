"""Talking to a vLLM server over HTTP with aiohttp, and checking it before a run.

vLLM serves OpenAI's API under ``/v1`` and its own ``/health`` at the root.
The same transport works for any server that copies OpenAI's API (llama.cpp's
server, for one): a server without ``/health`` is checked through its model
list alone.

Why aiohttp rather than httpx: a self-hosted server answers hundreds of
requests a second, and the client's CPU per request decides whether Themis
keeps up. On the 2-core benchmark machine aiohttp (C-accelerated HTTP
parsing) spends about 0.5 ms of CPU per chat request where httpx2 spends
1.4 ms, which alone put a 64-way run 15% over its ideal wall time (see
docs/performance.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from themis.core.errors import ErrorCategory, ProviderError
from themis.core.models import JSONValue
from themis.core.observability.scrubbing import redact_url, register_secrets, secrets_in_url
from themis_adapters_openai.transport import PerEventLoop, Transport
from themis_adapters_openai.wire import (
    MalformedResponseError,
    WireRequest,
    WireResponse,
    error_detail,
    error_for_status,
    lower_headers,
    public_url,
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
    if isinstance(base_url, str):
        try:
            parts = urlsplit(base_url)
            host = parts.hostname
        except ValueError:  # such as an unclosed IPv6 bracket
            host = None
        if host and parts.scheme in ("http", "https"):
            return base_url.rstrip("/")
    raise ValueError(
        f"{where}: base_url must be the server's http(s) API root such as "
        f"'http://localhost:8000/v1', got {base_url!r}"
    )


def env_proxy(url: str) -> str | None:
    """The proxy for ``url`` that ``HTTP_PROXY`` / ``HTTPS_PROXY`` name, unless ``NO_PROXY``
    exempts its host (on macOS and Windows the system's proxy settings count too).

    Read once per session: aiohttp's own ``trust_env`` reads the environment
    and ``~/.netrc`` again for every request, which cost more CPU than the
    request itself.
    """
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


@dataclass(frozen=True, slots=True)
class Reply:
    """A response read in full, so the connection goes back to the pool at once."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class VLLMServer:
    """A transport over one server's OpenAI-compatible HTTP API.

    One ``aiohttp.ClientSession`` per event loop, closed by :meth:`aclose` at
    the end of each run. It opens as many connections as the run has
    requests in flight: the run's concurrency settings are the one limit.
    The key, when the server wants one (``vllm serve --api-key``), is read
    from ``api_key_env`` and sent as a bearer token (credentials in the base URL
    are sent instead when there are some); it is never stored.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key_env: str,
        timeout_s: float,
    ) -> None:
        if not isinstance(timeout_s, int | float) or timeout_s <= 0:
            raise ValueError(
                f"vllm(model={model!r}): timeout_s must be a positive number of seconds, "
                f"got {timeout_s!r}"
            )
        self.base_url = base_url
        register_secrets(secrets_in_url(base_url))
        self.where = f"vLLM model {model!r} at {redact_url(base_url)}"
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self._sessions = PerEventLoop(self._make_session)

    @property
    def root_url(self) -> str:
        """The server root, where vLLM serves ``/health``."""
        return self.base_url.removesuffix("/v1")

    def secrets(self) -> list[str]:
        """The API key and the base URL's credentials, registered with core's
        scrubbing so that they never reach a store or a log."""
        key = os.environ.get(self.api_key_env)
        found = [key] if key else []
        found += secrets_in_url(self.base_url)
        register_secrets(found)
        return found

    def _make_session(self) -> aiohttp.ClientSession:
        self.secrets()  # registered before any request can fail
        key = os.environ.get(self.api_key_env)
        # Credentials in the URL are sent as Basic auth by aiohttp, which
        # refuses a second Authorization header: the URL's win, as in httpx.
        has_userinfo = urlsplit(self.base_url).username is not None
        headers = {"Authorization": f"Bearer {key}"} if key and not has_userinfo else {}
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            proxy=env_proxy(self.base_url),
        )

    async def aclose(self) -> None:
        """Close this event loop's session; the next run opens a new one."""
        session = self._sessions.pop()
        if session is not None:
            await session.close()

    async def _request(self, method: str, url: str, **kwargs: Any) -> Reply:
        try:
            async with self._sessions.get().request(method, url, **kwargs) as response:
                body = await response.read()
                return Reply(response.status, lower_headers(response.headers), body)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise ProviderError(
                f"{self.where}: request timed out after {self.timeout_s:g}s ({type(exc).__name__})",
                category=ErrorCategory.timeout,
            ) from None
        except aiohttp.ClientError as exc:
            raise ProviderError(
                scrub(
                    f"{self.where}: cannot reach the server: {type(exc).__name__}: {exc}",
                    self.secrets(),
                ),
                category=ErrorCategory.connection,
            ) from None

    def _error(self, response: Reply) -> ProviderError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return error_for_status(
            response.status,
            body=scrub(body, self.secrets()),
            headers=response.headers,
            where=self.where,
        )

    async def send(self, request: WireRequest) -> WireResponse:
        response = await self._request(
            "POST", f"{self.base_url}/{_PATHS[request.api_mode]}", json=request.json_body()
        )
        if response.status >= 400:
            raise self._error(response)
        try:
            payload = response.json()
        except ValueError as exc:
            raise MalformedResponseError(self.where, f"{type(exc).__name__}: {exc}") from None
        if not isinstance(payload, dict):
            raise MalformedResponseError(self.where, f"expected a JSON object, got {payload!r:.80}")
        return WireResponse(payload, response.headers)

    async def served_models(self) -> list[str] | None:
        return [str(entry["id"]) for entry in await self.model_entries()]

    async def model_entries(self) -> list[dict[str, JSONValue]]:
        response = await self._request("GET", f"{self.base_url}/models")
        if response.status >= 400:
            raise self._error(response)
        try:
            data = response.json()["data"]
            entries = [dict(entry) for entry in data]
            for entry in entries:
                entry["id"]  # every entry names its model
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedResponseError(self.where, f"model list: {exc!r}") from None
        return entries

    def server_url(self) -> str:
        return public_url(self.base_url)

    async def check_health(self) -> None:
        """``GET /health``; a server without that endpoint (404) passes on to the model check."""
        response = await self._request("GET", self.root_url + "/health")
        if response.status >= 400 and response.status != 404:
            raise ProviderError(
                f"{self.where}: the server is not healthy: GET /health answered "
                f"HTTP {response.status}: {error_detail(response.text) or '(empty body)'}",
                category=ErrorCategory.server_error,
                status_code=response.status,
            )


async def check_server(transport: Transport, model: str) -> None:
    """Before a run: the server is up and serves ``model``.

    An injected SDK-shaped client is asked for its model list when it has
    one; a client without one (a test double) is taken on trust.
    """
    if isinstance(transport, VLLMServer):
        # Both questions at once; an unhealthy server is the error to report.
        health, models = await asyncio.gather(
            transport.check_health(), transport.served_models(), return_exceptions=True
        )
        for outcome in (health, models):
            if isinstance(outcome, BaseException):
                raise outcome
        served = models if isinstance(models, list) else None
    else:
        served = await transport.served_models()
    if served is not None and model not in served:
        raise ValueError(
            f"{transport.where}: the server does not serve {model!r}; it serves "
            f"{sorted(served)}. Pass one of those as model (vLLM's --served-model-name)."
        )
