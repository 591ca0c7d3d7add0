"""Judge models over an OpenAI-compatible endpoint, so a real model can grade candidates."""

from __future__ import annotations

from typing import Any

from themis.core.deferred.factories import rebuildable
from themis.core.models import JSONValue, Message
from themis.core.workflows import JudgeResponse
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
from themis_adapters_openai.endpoint import CompatibleEndpoint, checked_settings
from themis_adapters_openai.params import InferenceParams
from themis_adapters_openai.transport import SDKTransport
from themis_adapters_openai.wire import ApiMode, field_of


def judge_messages(prompt: Any, where: str) -> list[Message]:
    """A judge prompt as chat messages: a string is one user message."""
    if isinstance(prompt, str):
        return [Message(role="user", content=prompt)]
    if isinstance(prompt, list) and prompt:
        messages: list[Message] = []
        for index, item in enumerate(prompt):
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("role"), str)
                or not isinstance(item.get("content"), str)
            ):
                raise TypeError(
                    f"{where}: judge prompt[{index}] must be a {{'role': str, 'content': str}} "
                    f"message, got {item!r}"
                )
            messages.append(Message(role=item["role"], content=item["content"]))
        return messages
    raise TypeError(
        f"{where}: a judge prompt is a string or a non-empty list of chat messages, "
        f"got {type(prompt).__name__}"
    )


class CompatibleJudge(CompatibleEndpoint):
    """A judge model: sends the workflow's prompt and returns the model's answer.

    The raw response comes back scrubbed of secrets, so the workflow trace
    that stores it never holds a key.
    """

    async def judge(self, prompt: Any, *, seed: int | None = None) -> JudgeResponse:
        completion = await self.complete(judge_messages(prompt, repr(self)), seed=seed)
        answered_by = field_of(completion.response.payload, "model")
        return JudgeResponse(
            text=completion.text,
            token_usage=completion.token_usage,
            raw=self.record(completion),
            model=answered_by if isinstance(answered_by, str) else self.model,
        )


class OpenAIJudge(CompatibleJudge):
    """An OpenAI model as a judge; build it with :func:`openai_judge`."""

    component_id = "openai/judge"
    version = "1"
    transport: SDKTransport

    async def preflight(self) -> None:
        """Fail before the run starts when no client can be made (no API key)."""
        self.transport.client()


@rebuildable()
def openai_judge(
    model: str,
    client: Any = None,
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
) -> OpenAIJudge:
    """An OpenAI model as a judge model for workflow-backed metrics
    (``builtin/llm_rubric``, ``builtin/pairwise_preference``).

    Registered as ``openai/judge``, so a configuration file can name it:
    ``judge_models = [{id = "openai/judge", options = {model = "gpt-4o-mini"}}]``.
    Options and identity are those of :func:`themis_adapters_openai.openai`;
    the workflow's seed is sent where the API takes one. With ``batch=True``
    the judge's calls go through OpenAI's Batch API, as the generator's do;
    identical judge requests in one run then share one answer.
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
    where = f"openai_judge(model={model!r})"
    judge = OpenAIJudge(
        checked_settings(where, model, api_mode, OPENAI_API_MODES, params, transport)
    )
    judge.batcher = batcher_for(
        where,
        transport,
        judge.api_mode,
        batch=batch,
        window_s=batch_window_s,
        size=batch_size,
        poll_interval_s=poll_interval_s,
        max_poll_interval_s=max_poll_interval_s,
    )
    return judge
