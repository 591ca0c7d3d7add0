"""The OpenAI generator: one request per candidate through the official async SDK."""

from __future__ import annotations

from typing import Any

from themis.core.authoring.prompts import render_messages
from themis.core.contexts import GenerateContext
from themis.core.deferred.factories import rebuildable
from themis.core.models import Case, GenerationResult, JSONValue
from themis_adapters_openai.batch import (
    DEFAULT_MAX_POLL_INTERVAL_S,
    DEFAULT_POLL_INTERVAL_S,
    DEFAULT_WINDOW_S,
    MAX_BATCH_REQUESTS,
    batcher_for,
)
from themis_adapters_openai.client import (
    DEFAULT_API_KEY_ENV,
    DEFAULT_TIMEOUT_S,
    OPENAI_API_MODES,
    openai_transport,
)
from themis_adapters_openai.endpoint import CompatibleEndpoint, EndpointSettings, checked_settings
from themis_adapters_openai.params import InferenceParams
from themis_adapters_openai.transport import SDKTransport
from themis_adapters_openai.wire import ApiMode


def candidate_id(ctx: GenerateContext) -> str:
    """Unique within a run: the case, the experiment seed and the sample index."""
    return f"{ctx.case_key}#s{ctx.base_seed}.{ctx.sample_index}"


class CompatibleGenerator(CompatibleEndpoint):
    """A generator over an OpenAI-compatible endpoint.

    The case input and the run's PromptSpec render into chat messages
    (``instructions`` first), so a prompt change is a new generation. Each
    candidate records its token usage and, as artifacts, the response id,
    the rate-limit headers, the request sent and the raw response.
    """

    def __init__(self, settings: EndpointSettings, *, instructions: str | None = None) -> None:
        super().__init__(settings)
        self.instructions = instructions

    def identity(self) -> dict[str, JSONValue]:
        return {**super().identity(), "instructions": self.instructions}

    async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        messages = render_messages(ctx.prompt_spec, case.input, instructions=self.instructions)
        stop = ctx.prompt_spec.stop if ctx.prompt_spec is not None else ()
        completion = await self.complete(
            messages, seed=ctx.seed, stop=stop, asked_by=candidate_id(ctx)
        )
        return GenerationResult(
            candidate_id=candidate_id(ctx),
            final_output=completion.text,
            token_usage=completion.token_usage,
            artifacts=self.record(completion),
        )


class OpenAIGenerator(CompatibleGenerator):
    """Candidates from an OpenAI model; build it with :func:`openai`."""

    component_id = "openai/generator"
    version = "1"
    transport: SDKTransport

    async def preflight(self) -> None:
        """Fail before the run starts when no client can be made (no API key)."""
        self.transport.client()


@rebuildable()
def openai(
    model: str,
    client: Any = None,
    instructions: str | None = None,
    api_mode: ApiMode = "responses",
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    max_output_tokens: int | None = None,
    seed: int | None = None,
    stop: str | list[str] | None = None,
    logprobs: int | None = None,
    response_format: dict[str, JSONValue] | None = None,
    extra_body: dict[str, JSONValue] | None = None,
    base_url: str | None = None,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    batch: bool = False,
    batch_window_s: float = DEFAULT_WINDOW_S,
    batch_size: int = MAX_BATCH_REQUESTS,
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    max_poll_interval_s: float = DEFAULT_MAX_POLL_INTERVAL_S,
) -> OpenAIGenerator:
    """A generator that asks an OpenAI model for each candidate.

    ``api_mode`` is ``"responses"`` (the Responses API) or
    ``"chat_completions"``. ``client`` is an ``openai.AsyncOpenAI`` (or an
    object shaped like it) used as given, or a zero-argument callable that
    makes one for each run: an SDK client serves one event loop, so a client
    object serves one run. Without a client, Themis builds one per run with
    the key from the environment variable ``api_key_env``, ``base_url``,
    ``timeout_s``, and the SDK's retries off (the engine retries).

    Identity-bearing: ``model``, ``api_mode``, ``instructions`` and the
    inference parameters (``temperature``, ``top_p``, ``max_output_tokens``,
    ``seed``, ``stop``, ``logprobs``, ``response_format`` in Chat Completions' shape,
    ``extra_body``). ``seed`` unset sends each candidate's own seed (Chat
    Completions only: the Responses API takes none). The key, URL and timeout
    are not identity, and the key is never stored.

    ``batch=True`` sends the calls through OpenAI's Batch API (half the price,
    answers within 24 hours; see ``themis_adapters_openai.batch``): a batch is
    sent when it holds ``batch_size`` requests (at most 50,000), after a
    quiet tenth of ``batch_window_s`` with no new request, or ``batch_window_s``
    after its first; it is polled every ``poll_interval_s``, less often as it
    waits, up to ``max_poll_interval_s``. Batch mode is not identity: a batch
    run has the same run id, and its answers are reused, as a direct one.
    """
    params = InferenceParams(
        temperature=temperature,
        top_p=top_p,
        max_output_tokens=max_output_tokens,
        seed=seed,
        stop=stop,  # a str is accepted and made a list
        logprobs=logprobs,
        response_format=response_format,
        extra_body=extra_body or {},
    )
    transport = openai_transport(
        model, client=client, base_url=base_url, api_key_env=api_key_env, timeout_s=timeout_s
    )
    where = f"openai(model={model!r})"
    settings = checked_settings(where, model, api_mode, OPENAI_API_MODES, params, transport)
    generator = OpenAIGenerator(settings, instructions=instructions)
    generator.batcher = batcher_for(
        where,
        transport,
        settings.api_mode,
        batch=batch,
        window_s=batch_window_s,
        size=batch_size,
        poll_interval_s=poll_interval_s,
        max_poll_interval_s=max_poll_interval_s,
    )
    return generator
