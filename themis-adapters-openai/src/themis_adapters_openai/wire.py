"""The OpenAI wire format, shared by every OpenAI-compatible adapter.

OpenAI's API and the servers that copy it (vLLM, llama.cpp, ...) speak the
same JSON. This module builds the request body for each API mode from
rendered chat messages and :class:`InferenceParams`, and reads the text,
token usage, ids and rate-limit headers back from a response, whether that
response is an SDK object or decoded JSON. It never imports the SDK, so an
adapter that speaks plain HTTP can use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from themis.core.engine.ratelimit import report_rate_limit_headers
from themis.core.errors import ErrorCategory, ProviderError, parse_retry_after
from themis.core.models import JSONValue, Message
from themis.core.observability.redaction import REDACTED, redact_secrets
from themis.core.observability.scrubbing import scrub_value
from themis_adapters_openai.params import InferenceParams

ApiMode = Literal["responses", "chat_completions", "completions"]
API_MODES: tuple[str, ...] = get_args(ApiMode)

MAX_DETAIL_CHARS = 300
"""How much of an error body goes into an error message."""


@dataclass(frozen=True, slots=True)
class WireRequest:
    """One request: the fields every OpenAI-compatible server knows, and provider extras."""

    api_mode: ApiMode
    body: dict[str, JSONValue]
    extra_body: dict[str, JSONValue] = field(default_factory=dict)

    def json_body(self) -> dict[str, JSONValue]:
        """The body as sent over HTTP: extras merged in (they win on a clash)."""
        return {**self.body, **self.extra_body}


@dataclass(frozen=True, slots=True)
class WireResponse:
    """A response body (SDK object or decoded JSON) and its HTTP headers, lower-cased."""

    payload: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    provenance: Mapping[str, str] = field(default_factory=dict)
    """Where the answer came from when not a plain call (a batch's id and line)."""


def check_api_mode(api_mode: str, allowed: tuple[str, ...], where: str) -> ApiMode:
    if api_mode not in allowed:
        raise ValueError(f"{where}: api_mode must be one of {list(allowed)}, got {api_mode!r}")
    return api_mode  # type: ignore[return-value]


def check_model(model: object, where: str) -> str:
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"{where}: model must be a non-empty model name, got {model!r}")
    return model


def check_supported(api_mode: ApiMode, params: InferenceParams, where: str) -> None:
    """Refuse, before any work, settings the chosen API does not take."""
    unsupported: list[str] = []
    if api_mode == "responses":
        unsupported += [name for name in ("seed", "stop") if getattr(params, name) is not None]
    if api_mode == "completions" and params.response_format is not None:
        unsupported.append("response_format")
    if unsupported:
        raise ValueError(
            f"{where}: the {api_mode} API does not accept {', '.join(unsupported)}; "
            "drop it or choose another api_mode"
        )


def messages_payload(messages: list[Message]) -> list[dict[str, JSONValue]]:
    return [{"role": message.role, "content": message.content} for message in messages]


def _responses_text_format(response_format: dict[str, JSONValue]) -> dict[str, JSONValue]:
    """Chat Completions' ``response_format`` in the Responses API's ``text.format`` shape."""
    if response_format.get("type") != "json_schema":
        return {"type": response_format["type"]}
    spec = response_format["json_schema"]
    assert isinstance(spec, dict)
    return {"type": "json_schema", **spec}


def _logprobs_fields(api_mode: ApiMode, top: int) -> dict[str, JSONValue]:
    """Each API's way of asking for the ``top`` most likely tokens per position."""
    if api_mode == "chat_completions":
        return {"logprobs": True, "top_logprobs": top}
    if api_mode == "completions":
        return {"logprobs": top}
    return {"top_logprobs": top, "include": ["message.output_text.logprobs"]}


def build_request(
    api_mode: ApiMode,
    model: str,
    messages: list[Message],
    params: InferenceParams,
    *,
    seed: int | None,
    chat_max_tokens_field: str = "max_completion_tokens",
) -> WireRequest:
    """The request for one call. ``seed`` is the candidate's seed, used when
    ``params.seed`` is unset and the API takes a seed."""
    body: dict[str, JSONValue] = {"model": model}
    if api_mode == "responses":
        system = [m.content for m in messages if m.role == "system"]
        if system:
            body["instructions"] = "\n\n".join(str(text) for text in system)
        body["input"] = messages_payload([m for m in messages if m.role != "system"])
        max_tokens_field = "max_output_tokens"
    elif api_mode == "chat_completions":
        body["messages"] = messages_payload(messages)
        max_tokens_field = chat_max_tokens_field
    else:
        body["prompt"] = "\n\n".join(str(m.content) for m in messages)
        max_tokens_field = "max_tokens"
    settings: dict[str, JSONValue] = {
        "temperature": params.temperature,
        "top_p": params.top_p,
        max_tokens_field: params.max_output_tokens,
    }
    if api_mode != "responses":
        settings["seed"] = params.seed if params.seed is not None else seed
        settings["stop"] = params.stop
    if params.logprobs is not None:
        settings.update(_logprobs_fields(api_mode, params.logprobs))
    if params.response_format is not None:
        if api_mode == "responses":
            settings["text"] = {"format": _responses_text_format(params.response_format)}
        else:
            settings["response_format"] = params.response_format
    body.update({key: value for key, value in settings.items() if value is not None})
    return WireRequest(api_mode=api_mode, body=body, extra_body=params.provider_extras())


# -- reading responses --------------------------------------------------------


class MalformedResponseError(ProviderError):
    """A 2xx response whose body is not the shape the API promises.

    Retryable: a truncated or garbled body is usually a transient fault of the
    server or a proxy in front of it.
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(
            f"{where}: malformed response body: {problem}", category=ErrorCategory.server_error
        )


def field_of(obj: Any, name: str) -> Any:
    """A field of a decoded JSON object or an attribute of an SDK object."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _text_parts(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(field_of(part, "text") or "") for part in content)
    raise TypeError(f"content is {type(content).__name__}, not text")


def output_text(api_mode: ApiMode, payload: Any, where: str) -> str:
    """The generated text of a response, or :class:`MalformedResponseError`."""
    try:
        if api_mode == "responses":
            text = field_of(payload, "output_text")
            if isinstance(text, str):
                return text
            output = field_of(payload, "output")
            if not isinstance(output, list):
                raise TypeError("no 'output' list")
            return "".join(
                _text_parts(field_of(item, "content"))
                for item in output
                if field_of(item, "type") == "message"
            )
        choices = field_of(payload, "choices")
        if not isinstance(choices, list) or not choices:
            raise TypeError("no 'choices'")
        if api_mode == "chat_completions":
            return _text_parts(field_of(field_of(choices[0], "message"), "content"))
        return _text_parts(field_of(choices[0], "text"))
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        raise MalformedResponseError(where, str(exc)) from None


def token_usage(payload: Any) -> dict[str, int] | None:
    """Input, output and total tokens, under the same names for every API mode."""
    usage = field_of(payload, "usage")
    if usage is None:
        return None
    counts: dict[str, int] = {}
    for name, aliases in (
        ("input_tokens", ("input_tokens", "prompt_tokens")),
        ("output_tokens", ("output_tokens", "completion_tokens")),
        ("total_tokens", ("total_tokens",)),
    ):
        for alias in aliases:
            value = field_of(usage, alias)
            if isinstance(value, int) and not isinstance(value, bool):
                counts[name] = value
                break
    if "total_tokens" not in counts and {"input_tokens", "output_tokens"} <= counts.keys():
        counts["total_tokens"] = counts["input_tokens"] + counts["output_tokens"]
    return counts or None


def lower_headers(headers: Any) -> dict[str, str]:
    if headers is None:
        return {}
    items = headers.items() if hasattr(headers, "items") else headers
    return {str(key).lower(): str(value) for key, value in items}


def rate_limits(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers: how much quota the provider says is left."""
    return {key: value for key, value in headers.items() if key.startswith("x-ratelimit-")}


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """How long the server asked us to wait (``retry-after-ms`` wins over ``retry-after``)."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        seconds = parse_retry_after(milliseconds)
        if seconds is not None:
            return seconds / 1000
    return parse_retry_after(headers.get("retry-after"))


def public_url(url: str) -> str:
    """``url`` without user, password, query or fragment: safe to record."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def as_json(payload: Any) -> JSONValue:
    """A response as plain JSON: SDK objects through ``model_dump``."""
    if payload is None or isinstance(payload, str | int | float | bool | list | dict):
        return payload
    dump = getattr(payload, "model_dump", None)
    if callable(dump):
        try:
            return dump(mode="json")
        except Exception:  # an SDK object that cannot dump itself is still worth a repr
            pass
    return repr(payload)


# -- errors and secrets -----------------------------------------------------------

_STATUS_CATEGORY = {
    401: ErrorCategory.authentication,
    403: ErrorCategory.authentication,
    404: ErrorCategory.not_found,
    408: ErrorCategory.timeout,
    409: ErrorCategory.server_error,
    429: ErrorCategory.rate_limit,
}
_HINTS = {
    ErrorCategory.authentication: "check the API key (it comes from the environment or the client)",
    ErrorCategory.not_found: "check the model name and the base URL",
    ErrorCategory.invalid_request: "the server rejected the request; check the model's parameters",
    ErrorCategory.rate_limit: "rate limited; the engine retries after the server's Retry-After",
    ErrorCategory.server_error: "a server-side failure; the engine retries",
    ErrorCategory.timeout: "the server timed out; the engine retries",
}


def category_for_status(status: int) -> ErrorCategory:
    if status in _STATUS_CATEGORY:
        return _STATUS_CATEGORY[status]
    return ErrorCategory.server_error if status >= 500 else ErrorCategory.invalid_request


def error_detail(body: Any) -> str:
    """The server's own error message from an error body, shortened."""
    detail: Any = body
    error = field_of(body, "error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        detail = error.get("message") or error
    elif isinstance(error, str):
        detail = error
    elif isinstance(body, Mapping) and isinstance(body.get("message"), str):
        detail = body["message"]
    text = detail if isinstance(detail, str) else repr(detail)
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + "..."


def _error_code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, Mapping) else None
    error = error if isinstance(error, Mapping) else body
    if not isinstance(error, Mapping):
        return None
    code = error.get("code") or error.get("type")
    return str(code) if code else None


def error_for_status(
    status: int, *, body: Any, headers: Mapping[str, str], where: str
) -> ProviderError:
    """The engine's view of an HTTP error: retryable or fatal, with the server's reason.
    Its ``x-ratelimit-*`` headers go to the engine's rate limiter too."""
    report_rate_limit_headers(headers)
    category = category_for_status(status)
    hint = _HINTS[category]
    if status == 429 and _error_code(body) == "insufficient_quota":
        # OpenAI's "out of credit" is a 429 too, but waiting never fixes it.
        category = ErrorCategory.invalid_request
        hint = "the account's quota is exhausted; retrying will not help: check plan and billing"
    detail = error_detail(body) or "(empty body)"
    return ProviderError(
        f"{where}: HTTP {status}: {detail} ({hint})",
        category=category,
        retry_after_s=retry_after_s(headers) if category is ErrorCategory.rate_limit else None,
        status_code=status,
    )


def scrub(value: Any, secrets: list[str]) -> Any:
    """A copy with secret-looking keys redacted and every known secret value removed.

    Key-based redaction is core's; removing the literal key values as well
    catches a server that echoes a key back inside a message.
    """
    value = scrub_value(redact_secrets(value))  # URL userinfo and registered secrets too
    live = [secret for secret in secrets if secret]
    if not live:
        return value
    return _scrub_values(value, live)


def _scrub_values(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _scrub_values(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub_values(item, secrets) for item in value]
    return value
