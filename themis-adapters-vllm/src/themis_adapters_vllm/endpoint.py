"""Building a vLLM generator or judge: checked options, parameters and transport."""

from __future__ import annotations

from typing import Any

from themis.core.observability.scrubbing import redact_url
from themis_adapters_openai.endpoint import EndpointSettings, checked_settings
from themis_adapters_openai.transport import SDKTransport, Transport
from themis_adapters_openai.wire import API_MODES
from themis_adapters_vllm.params import VLLMParams
from themis_adapters_vllm.server import VLLMServer, check_base_url


def vllm_settings(
    where: str,
    model: str,
    base_url: str,
    client: Any,
    api_mode: str,
    params: dict[str, Any],
    *,
    api_key_env: str,
    timeout_s: float,
) -> EndpointSettings:
    """Check every option before any work starts; a bad one names itself.

    With ``client`` (an ``openai.AsyncOpenAI`` pointed at the server, any
    object shaped like it, or a callable making one per run) requests go
    through it; otherwise through aiohttp.
    """
    url = check_base_url(base_url, where)
    transport: Transport
    if client is not None:
        transport = SDKTransport(where=f"vLLM model {model!r} at {redact_url(url)}", client=client)
    else:
        transport = VLLMServer(url, model=model, api_key_env=api_key_env, timeout_s=timeout_s)
    return checked_settings(where, model, api_mode, API_MODES, VLLMParams(**params), transport)
