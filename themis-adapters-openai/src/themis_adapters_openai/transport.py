"""How a request reaches the model: through the official SDK, or any client shaped like it.

A transport sends a :class:`WireRequest` and returns a :class:`WireResponse`,
turning every failure into a :class:`ProviderError` the engine knows how to
treat. Themis's engine owns retries, so clients Themis builds have the SDK's
own retries switched off.
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import openai as openai_sdk

from themis.core.errors import ErrorCategory, ProviderError
from themis.core.models import JSONValue
from themis.core.observability.scrubbing import (
    register_secrets,
    secret_header_values,
    secrets_in_url,
)
from themis_adapters_openai.wire import (
    MalformedResponseError,
    WireRequest,
    WireResponse,
    as_json,
    error_for_status,
    lower_headers,
    public_url,
    scrub,
)

ClientT = TypeVar("ClientT")


class Transport(Protocol):
    """What a generator or judge needs from the thing that talks to the model."""

    where: str

    async def send(self, request: WireRequest) -> WireResponse: ...

    async def served_models(self) -> list[str] | None:
        """The model names the endpoint serves, or None when it cannot say."""
        ...

    async def model_entries(self) -> list[dict[str, JSONValue]] | None:
        """The endpoint's ``/v1/models`` entries as JSON objects, or None when it cannot say."""
        ...

    def server_url(self) -> str | None:
        """The API root requests go to, without credentials, or None when unknown."""
        ...

    def secrets(self) -> list[str]:
        """Credential values to scrub from anything recorded."""
        ...

    async def aclose(self) -> None:
        """Close what this transport opened in the running event loop; called when a run ends."""
        ...


class PerEventLoop(Generic[ClientT]):
    """One client per running event loop.

    Connection pools belong to the loop that opened them, and each
    ``Experiment.run()`` runs in a fresh loop, so a client is never carried
    from one loop to the next.
    """

    def __init__(self, factory: Callable[[], ClientT]) -> None:
        self._factory = factory
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ClientT] = (
            weakref.WeakKeyDictionary()
        )

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (an experiment shipped to a Ray actor), it carries its
        factory only: clients stay with the loops that opened them."""
        return {"_factory": self._factory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._factory = state["_factory"]
        self._clients = weakref.WeakKeyDictionary()

    def get(self) -> ClientT:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._factory()
            self._clients[loop] = client
        return client

    def pop(self) -> ClientT | None:
        """Forget the running loop's client and return it (None when there is none), to close it."""
        return self._clients.pop(asyncio.get_running_loop(), None)


def _resource(client: Any, api_mode: str) -> Any:
    if api_mode == "responses":
        return client.responses
    if api_mode == "chat_completions":
        return client.chat.completions
    return client.completions


class SDKTransport:
    """Calls an ``openai.AsyncOpenAI`` client, or any object with the same shape.

    ``client`` is either such an object, used as given (it keeps its own retry
    settings: pass ``max_retries=0`` to leave retries to Themis), or a
    zero-argument callable that makes one, called once per event loop.
    """

    def __init__(self, *, where: str, client: Any) -> None:
        if client is None:
            raise ValueError(f"{where}: needs a client or a callable that makes one")
        self.where = where
        self._client = None if callable(client) else client
        self._clients = PerEventLoop(client) if callable(client) else None
        self._bound_to: weakref.ref[asyncio.AbstractEventLoop] | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled, the transport forgets which event loop it served."""
        return {**self.__dict__, "_bound_to": None}

    def client(self) -> Any:
        if self._clients is not None:
            return self._clients.get()
        if isinstance(self._client, openai_sdk.AsyncOpenAI):
            self._check_same_loop()
        return self._client

    def _check_same_loop(self) -> None:
        """An SDK client's connections belong to the loop that opened them; every
        ``Experiment.run()`` has a loop of its own, so a second run cannot reuse them."""
        loop = asyncio.get_running_loop()
        if self._bound_to is None:
            self._bound_to = weakref.ref(loop)
        elif self._bound_to() is not loop:
            raise ValueError(
                f"{self.where}: this AsyncOpenAI client already served an earlier run, in "
                "another event loop, and its connections cannot move to this one. Pass a "
                "factory instead, client=lambda: openai.AsyncOpenAI(...), so that each run "
                "gets a client of its own."
            )

    def secrets(self) -> list[str]:
        """Every secret the client holds: its API key, the credentials in its
        base URL and the values of its auth-like default headers. They are
        registered with core's scrubbing, so they never reach a store or a log."""
        client = self._client
        if client is None:
            try:
                client = self.client()
            except (RuntimeError, ProviderError):  # no running loop, or no client to make
                return []
        key = getattr(client, "api_key", None)
        found = [key] if isinstance(key, str) and key else []
        found += secrets_in_url(str(getattr(client, "base_url", "") or ""))
        headers = getattr(client, "default_headers", None)
        if isinstance(headers, Mapping):
            found += secret_header_values(headers)
        register_secrets(found)
        return found

    async def aclose(self) -> None:
        """Close the client made for this event loop; a client passed in is its owner's to close."""
        if self._clients is None:
            return
        client = self._clients.pop()
        close = getattr(client, "close", None)
        if close is not None:
            outcome = close()
            if inspect.isawaitable(outcome):
                await outcome

    async def send(self, request: WireRequest) -> WireResponse:
        resource = _resource(self.client(), request.api_mode)
        kwargs: dict[str, Any] = dict(request.body)
        if request.extra_body:
            kwargs["extra_body"] = request.extra_body
        try:
            raw_api = getattr(resource, "with_raw_response", None)
            if raw_api is None:
                # A client shaped like the SDK but without raw access (a test double).
                payload = await resource.create(**kwargs)
                return WireResponse(payload, lower_headers(getattr(payload, "headers", None)))
            raw = await raw_api.create(**kwargs)
            headers = lower_headers(raw.headers)
            try:
                payload = raw.parse()
            except ValueError as exc:
                raise MalformedResponseError(self.where, f"{type(exc).__name__}: {exc}") from None
            return WireResponse(payload, headers)
        except openai_sdk.OpenAIError as exc:
            raise self.provider_error(exc) from None

    async def served_models(self) -> list[str] | None:
        entries = await self.model_entries()
        return None if entries is None else [str(entry.get("id")) for entry in entries]

    async def model_entries(self) -> list[dict[str, JSONValue]] | None:
        models = getattr(self.client(), "models", None)
        if models is None or not callable(getattr(models, "list", None)):
            return None
        try:
            page = await models.list()
        except openai_sdk.OpenAIError as exc:
            raise self.provider_error(exc) from None
        entries: list[dict[str, JSONValue]] = []
        for model in getattr(page, "data", page):
            entry = as_json(model)
            entries.append(entry if isinstance(entry, dict) else {"id": str(model)})
        return entries

    def server_url(self) -> str | None:
        try:
            url = getattr(self.client(), "base_url", None)
        except (RuntimeError, ProviderError):  # no running loop, or no client to make
            return None
        return None if url is None else public_url(str(url))

    def provider_error(self, exc: openai_sdk.OpenAIError) -> ProviderError:
        """The SDK's exception in the engine's vocabulary, with secrets scrubbed."""
        secrets = self.secrets()
        if isinstance(exc, openai_sdk.APIStatusError):
            return error_for_status(
                exc.status_code,
                body=scrub(exc.body, secrets),
                headers=lower_headers(exc.response.headers),
                where=self.where,
            )
        if isinstance(exc, openai_sdk.APITimeoutError):
            category, what = ErrorCategory.timeout, "request timed out"
        elif isinstance(exc, openai_sdk.APIConnectionError):
            category, what = ErrorCategory.connection, "cannot reach the server"
        elif isinstance(exc, openai_sdk.APIResponseValidationError):
            category, what = ErrorCategory.server_error, "malformed response body"
        else:
            category, what = ErrorCategory.component_error, "client error"
        message = scrub(f"{self.where}: {what}: {type(exc).__name__}: {exc}", secrets)
        return ProviderError(message, category=category)
