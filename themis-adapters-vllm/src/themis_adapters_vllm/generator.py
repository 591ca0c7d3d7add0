"""The vLLM generator: candidates from a model served by vLLM's OpenAI-compatible server."""

from __future__ import annotations

from typing import Any

from themis.core.deferred.factories import rebuildable
from themis.core.models import JSONValue
from themis_adapters_openai import CompatibleGenerator
from themis_adapters_openai.wire import ApiMode
from themis_adapters_vllm.endpoint import vllm_settings
from themis_adapters_vllm.server import DEFAULT_API_KEY_ENV, DEFAULT_TIMEOUT_S, check_server


class VLLMGenerator(CompatibleGenerator):
    """Candidates from a vLLM server; build it with :func:`vllm`."""

    component_id = "vllm/generator"
    version = "1"
    chat_max_tokens_field = "max_tokens"

    async def preflight(self) -> None:
        """Before the run: the server is healthy and serves this model."""
        await check_server(self.transport, self.model)


@rebuildable()
def vllm(
    model: str,
    base_url: str,
    client: Any = None,
    api_mode: ApiMode = "chat_completions",
    *,
    instructions: str | None = None,
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
) -> VLLMGenerator:
    """A generator over vLLM's OpenAI-compatible server at ``base_url`` (``http://host:8000/v1``).

    ``api_mode`` is ``"chat_completions"``, ``"responses"`` or
    ``"completions"``. Requests go over aiohttp, or through ``client`` when one
    is given (an ``openai.AsyncOpenAI`` pointed at the server, an object
    shaped like it, or a zero-argument callable making one per run). Before a
    run starts, the server's ``/health`` and model list are checked, so a
    stopped server or a wrong ``model`` fails at once.

    Identity-bearing: ``model``, ``api_mode``, ``instructions`` and every
    inference parameter, vLLM's extras included (``top_k``, ``min_p``,
    ``repetition_penalty``, ``structured_outputs`` such as
    ``{"json": schema}`` or ``{"choice": [...]}``, and ``extra_body``).
    ``seed`` unset sends each candidate's own seed. The URL, timeout and the
    key (read from ``api_key_env`` when the server wants one) are not, and the
    key is never stored.
    """
    settings = vllm_settings(
        f"vllm(model={model!r})",
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
    return VLLMGenerator(settings, instructions=instructions)
