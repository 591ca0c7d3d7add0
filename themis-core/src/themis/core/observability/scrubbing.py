"""Scrubbing secrets by value from everything Themis stores, exports or logs.

Redaction by key name (``redaction.py``) cannot see a secret inside text: a
provider's error message that quotes the request URL with its credentials
(``https://user:KEY@host/v1``), or an error body echoing an ``Authorization``
header a client was built with. So every secret an adapter knows (API keys,
URL passwords, the values of auth-like headers) is registered here, and text
on its way to a store, a report, a bundle or a log has each registered value
replaced with ``[redacted]``. URL userinfo is redacted wherever it appears,
registered or not.

The registry is per process and only grows: a secret seen once stays secret.
Values shorter than :data:`MIN_SECRET_LENGTH` are not registered, since
replacing a short string everywhere would damage ordinary text (a model's
answer that happens to contain it); URL userinfo is still redacted by shape.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from themis.core.observability.redaction import REDACTED, is_secret_key

MIN_SECRET_LENGTH = 8

_lock = threading.Lock()
_known: tuple[str, ...] = ()
"""Registered secrets, longest first (so a key containing another goes whole)."""

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s/@'\"<>]+)@")
_BEARER = re.compile(r"^(bearer|basic|token)\s+", re.IGNORECASE)

T = TypeVar("T")


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so that :func:`scrub_text` removes them."""
    global _known
    fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    if not fresh or fresh.issubset(_known):
        return
    with _lock:
        _known = tuple(sorted(set(_known) | fresh, key=len, reverse=True))


def known_secrets() -> tuple[str, ...]:
    return _known


def secrets_in_url(url: str | None) -> list[str]:
    """The credentials a URL carries: its password (and ``user:password``), and
    the values of secret-looking query parameters (``?api_key=...``)."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    if parts.password:
        pair = f"{parts.username}:{parts.password}"
        # ... and the Basic auth header a client derives from them
        found += [parts.password, pair, base64.b64encode(pair.encode()).decode()]
    elif parts.username:
        found.append(parts.username)  # a bare token as the user name
    found += [value for key, value in parse_qsl(parts.query) if is_secret_key(key) and value]
    return found


def secret_header_values(headers: Mapping[str, Any] | None) -> list[str]:
    """The values of auth-like headers, with and without their ``Bearer`` prefix."""
    found: list[str] = []
    for name, value in (headers or {}).items():
        if isinstance(name, str) and isinstance(value, str) and is_secret_key(name):
            found.append(value)
            bare = _BEARER.sub("", value)
            if bare != value:
                found.append(bare)
    return found


def redact_url(url: str) -> str:
    """A URL as it may be shown: its userinfo replaced."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", url)


def redact_urls_in(value: T) -> T:
    """A JSON-like value with the userinfo of every URL in it redacted: how a
    component's options are recorded (credentials are never identity, and
    this depends on nothing but the value, so run ids stay reproducible)."""
    if isinstance(value, str):
        return redact_url(value) if "@" in value else value  # type: ignore[return-value]
    if isinstance(value, dict):
        return {key: redact_urls_in(item) for key, item in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [redact_urls_in(item) for item in value]  # type: ignore[return-value]
    return value


def scrub_text(text: str) -> str:
    """``text`` with URL userinfo and every registered secret replaced."""
    if "@" in text and "://" in text:
        text = redact_url(text)
    for secret in _known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_value(value: T) -> T:
    """A JSON-like value with :func:`scrub_text` applied to every string in it."""
    if isinstance(value, str):
        return scrub_text(value)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {key: scrub_value(item) for key, item in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [scrub_value(item) for item in value]  # type: ignore[return-value]
    return value


def _may_hold_secret(text: str) -> bool:
    return ("@" in text and "://" in text) or any(secret in text for secret in _known)


def scrub_model(model: T) -> T:
    """A pydantic model (an event, a result) with secrets scrubbed from its JSON.

    The model itself comes back when it holds none, which is the usual case;
    that check costs one serialisation, and nothing while no secret is known
    and no URL with userinfo appears.
    """
    dump = getattr(model, "model_dump_json", None)
    if dump is None:
        return model
    text = dump()
    if not _may_hold_secret(text):
        return model
    scrubbed = scrub_text(text)
    if scrubbed == text:
        return model
    return type(model).model_validate_json(scrubbed)  # type: ignore[attr-defined,no-any-return]


class ScrubbingFilter(logging.Filter):
    """Scrubs every record logged under ``themis`` (and adapters' loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


LOGGED_BY = ("themis", "httpx", "httpx2", "httpcore", "httpcore2", "openai", "aiohttp")
"""Loggers whose records may quote a request: Themis's and its adapters' HTTP
clients' (httpx logs each request's URL, credentials included, at INFO)."""


def themis_loggers() -> list[str]:
    """The names of every logger of :data:`LOGGED_BY` made so far, children
    included (a filter on a logger does not reach its children)."""
    names = [name for name in logging.root.manager.loggerDict if name.split(".", 1)[0] in LOGGED_BY]
    return sorted({*LOGGED_BY, *names})


def install_log_filter(*logger_names: str) -> None:
    for name in logger_names or ("themis",):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ScrubbingFilter) for f in logger.filters):
            logger.addFilter(ScrubbingFilter())
