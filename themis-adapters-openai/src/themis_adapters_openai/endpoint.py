"""What a generator and a judge over an OpenAI-compatible endpoint have in common.

Both name a model, an API mode and inference parameters (their identity),
send rendered chat messages through a transport, and read the text back.
The OpenAI and vLLM adapters differ only in their transport, the API modes
they offer and a few parameter names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from themis.core.authoring.identity import content_hash
from themis.core.batching import BatchJournal
from themis.core.engine.ratelimit import report_rate_limit_headers
from themis.core.models import JSONValue, Message
from themis_adapters_openai.batch import Batcher
from themis_adapters_openai.params import InferenceParams
from themis_adapters_openai.transport import Transport
from themis_adapters_openai.wire import (
    ApiMode,
    WireRequest,
    WireResponse,
    as_json,
    build_request,
    check_api_mode,
    check_model,
    check_supported,
    field_of,
    output_text,
    rate_limits,
    scrub,
    token_usage,
)


@dataclass(frozen=True, slots=True)
class Completion:
    """One call's request, response, text and token usage."""

    request: WireRequest
    response: WireResponse
    text: str
    token_usage: dict[str, int] | None


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """What a generator or judge is built from, already checked by its factory."""

    model: str
    api_mode: ApiMode
    params: InferenceParams
    transport: Transport


def checked_settings(
    where: str,
    model: object,
    api_mode: str,
    allowed_modes: tuple[str, ...],
    params: InferenceParams,
    transport: Transport,
) -> EndpointSettings:
    """Refuse a bad model name, API mode or parameter the mode does not take."""
    mode = check_api_mode(api_mode, allowed_modes, where)
    check_supported(mode, params, where)
    return EndpointSettings(check_model(model, where), mode, params, transport)


class CompatibleEndpoint:
    """A model behind an OpenAI-compatible API, called through a transport."""

    component_id: str = "openai-compatible/endpoint"
    version: str = "1"
    chat_max_tokens_field: str = "max_completion_tokens"
    """Chat Completions' name for the output-token limit on this endpoint."""
    operational_options: ClassVar[frozenset[str]] = frozenset(
        {
            "client",
            "base_url",
            "api_key_env",
            "timeout_s",
            "batch",
            "batch_window_s",
            "batch_size",
            "poll_interval_s",
            "max_poll_interval_s",
        }
    )
    """Factory options that say where and how the model is reached, not what is
    asked: outside the fingerprint, and left out of the run id when a
    configuration file sets them (see ``themis.core.authoring.registry.identity_options``)."""

    batcher: Batcher | None = None
    """Set when calls go through a provider's Batch API (``openai(..., batch=True)``)."""

    def __init__(self, settings: EndpointSettings) -> None:
        self.model = settings.model
        self.api_mode = settings.api_mode
        self.params = settings.params
        self.transport = settings.transport

    @property
    def max_output_tokens(self) -> int | None:
        """The output-token limit sent with each call: the engine's token
        estimate for ``provider_rate_limits`` counts it before the call."""
        return self.params.max_output_tokens

    @property
    def batch_capacity(self) -> int | None:
        """How many calls the engine may let this endpoint hold while it gathers
        them into a batch (see ``themis.core.batching``); None: one call at a time."""
        return None if self.batcher is None else self.batcher.settings.size

    def attach_batch_journal(self, journal: BatchJournal) -> None:
        """The run's record of this endpoint's batches, handed over by the engine."""
        if self.batcher is not None:
            self.batcher.attach(journal)

    def identity(self) -> dict[str, JSONValue]:
        """Everything identity-bearing; never a URL, a timeout or a credential."""
        return {
            "component_id": self.component_id,
            "version": self.version,
            "model": self.model,
            "api_mode": self.api_mode,
            "params": self.params.identity(),
        }

    def fingerprint(self) -> str:
        return content_hash(self.identity())

    async def complete(
        self,
        messages: list[Message],
        *,
        seed: int | None,
        stop: Sequence[str] = (),
        asked_by: str | None = None,
    ) -> Completion:
        """One call. ``stop`` adds a prompt's stop sequences to the configured
        ones where the API takes them (Chat Completions, Completions); the
        Responses API has none, and the prompt's parsers cut there instead.
        ``asked_by`` names the candidate a call is for, so a batch tells apart
        equal requests of different candidates."""
        request = build_request(
            self.api_mode,
            self.model,
            messages,
            self._with_stop(stop),
            seed=seed,
            chat_max_tokens_field=self.chat_max_tokens_field,
        )
        if self.batcher is not None:
            response = await self.batcher.send(request, asked_by)
        else:
            response = await self.transport.send(request)
            report_rate_limit_headers(response.headers)  # the engine paces by them
        text = output_text(self.api_mode, response.payload, self.transport.where)
        return Completion(request, response, text, token_usage(response.payload))

    def _with_stop(self, stop: Sequence[str]) -> InferenceParams:
        if not stop or self.api_mode == "responses":
            return self.params
        merged = list(self.params.stop or [])
        merged += [sequence for sequence in stop if sequence not in merged]
        return self.params.model_copy(update={"stop": merged})

    async def server_provenance(self) -> dict[str, JSONValue] | None:
        """What the server says about this model, for the run snapshot's provenance:
        its ``/v1/models`` entry (vLLM's names the weights behind the model,
        ``root``, and its context length, ``max_model_len``). Server-side
        settings such as a chat template are not part of the run id, so this
        is the record of what answered. None when the endpoint cannot say."""
        entries_of = getattr(self.transport, "model_entries", None)
        entries = None if entries_of is None else await entries_of()
        if entries is None:
            return None
        url_of = getattr(self.transport, "server_url", None)
        described = {
            "component_id": self.component_id,
            "model": self.model,
            "server": None if url_of is None else url_of(),
            "models_entry": next((e for e in entries if e.get("id") == self.model), None),
        }
        scrubbed: dict[str, JSONValue] = scrub(described, self.transport.secrets())
        return scrubbed

    async def aclose(self) -> None:
        """At the end of a run: close the connections opened in its event loop
        (a transport written before ``aclose`` was part of the protocol has none)."""
        if self.batcher is not None:
            await self.batcher.aclose()
        close = getattr(self.transport, "aclose", None)
        if close is not None:
            await close()

    def record(self, completion: Completion) -> dict[str, JSONValue]:
        """What is kept of a call: ids, usage, rate limits, the request and the
        raw response, with every secret scrubbed."""
        payload, headers = completion.response.payload, completion.response.headers
        record: dict[str, Any] = {
            "response_id": field_of(payload, "id"),
            "model": field_of(payload, "model"),
            "request_id": headers.get("x-request-id"),
            "usage": completion.token_usage,
            "rate_limits": rate_limits(headers),
            "batch": dict(completion.response.provenance) or None,
            "request": completion.request.json_body(),
            "raw_response": as_json(payload),
        }
        kept = {key: value for key, value in record.items() if value is not None}
        scrubbed: dict[str, JSONValue] = scrub(kept, self.transport.secrets())
        return scrubbed

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, api_mode={self.api_mode!r})"
