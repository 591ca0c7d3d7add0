"""A model served by vLLM as a judge, so a self-hosted model can grade candidates."""

from __future__ import annotations

from typing import Any

from themis.core.deferred.factories import rebuildable
from themis.core.models import JSONValue
from themis_adapters_openai import CompatibleJudge
from themis_adapters_openai.wire import ApiMode
from themis_adapters_vllm.endpoint import vllm_settings
from themis_adapters_vllm.server import DEFAULT_API_KEY_ENV, DEFAULT_TIMEOUT_S, check_server


class VLLMJudge(CompatibleJudge):
    """A vLLM-served judge model; build it with :func:`vllm_judge`."""

    component_id = "vllm/judge"
    version = "1"
    chat_max_tokens_field = "max_tokens"

    async def preflight(self) -> None:
        """Before the run: the server is healthy and serves this model."""
        await check_server(self.transport, self.model)


@rebuildable()
def vllm_judge(
    model: str,
    base_url: str,
    client: Any = None,
    api_mode: ApiMode = "chat_completions",
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    max_output_tokens: int | None = None,
    seed: int | None = None,
    stop: str | list[str] | None = None,
    logprobs: int | None = None,
    response_format: dict[str, JSONValue] | None = None,
    top_k: int | None = None,
    min_p: float | None = None,
    repetition_penalty: float | None = None,
    structured_outputs: dict[str, JSONValue] | None = None,
    extra_body: dict[str, JSONValue] | None = None,
    api_key_env: str = DEFAULT_API_KEY_ENV,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> VLLMJudge:
    """A vLLM-served model as a judge model for workflow-backed metrics.

    Registered as ``vllm/judge``, so a configuration file can name it:
    ``judge_models = [{id = "vllm/judge", options = {model = "...", base_url = "..."}}]``.
    Options and identity are those of :func:`themis_adapters_vllm.vllm`; the
    workflow's seed is sent where the API takes one.
    """
    settings = vllm_settings(
        f"vllm_judge(model={model!r})",
        model,
        base_url,
        client,
        api_mode,
        {
            "temperature": temperature,
            "top_p": top_p,
            "max_output_tokens": max_output_tokens,
            "seed": seed,
            "stop": stop,
            "logprobs": logprobs,
            "response_format": response_format,
            "top_k": top_k,
            "min_p": min_p,
            "repetition_penalty": repetition_penalty,
            "structured_outputs": structured_outputs,
            "extra_body": extra_body or {},
        },
        api_key_env=api_key_env,
        timeout_s=timeout_s,
    )
    return VLLMJudge(settings)
