"""Building the OpenAI SDK client Themis uses when none is given."""

from __future__ import annotations

import os
from typing import Any

import openai as openai_sdk

from themis.core.errors import ErrorCategory, ProviderError
from themis.core.observability.scrubbing import redact_url, register_secrets, secrets_in_url
from themis_adapters_openai.transport import SDKTransport

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_TIMEOUT_S = 60.0
OPENAI_API_MODES = ("responses", "chat_completions")


def openai_transport(
    model: str,
    *,
    client: Any,
    base_url: str | None,
    api_key_env: str,
    timeout_s: float,
) -> SDKTransport:
    """A transport over ``client`` (a client, or a callable making one per run), or
    over ``AsyncOpenAI`` clients Themis builds.

    Built clients read the key from the environment variable ``api_key_env``
    when they are first needed (so compiling an experiment needs no key) and
    have the SDK's retries off: the engine retries, honouring Retry-After.
    """
    register_secrets(secrets_in_url(base_url))
    where = f"OpenAI model {model!r}" + (f" at {redact_url(base_url)}" if base_url else "")
    if client is not None:
        return SDKTransport(where=where, client=client)
    if not isinstance(timeout_s, int | float) or timeout_s <= 0:
        raise ValueError(
            f"{where}: timeout_s must be a positive number of seconds, got {timeout_s!r}"
        )

    def make_client() -> openai_sdk.AsyncOpenAI:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise ProviderError(
                f"{where}: no API key: set the {api_key_env} environment variable "
                "or pass client=openai.AsyncOpenAI(...)",
                category=ErrorCategory.authentication,
            )
        return openai_sdk.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    return SDKTransport(where=where, client=make_client)
