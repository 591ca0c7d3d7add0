"""Redaction of secret-looking values in anything Themis writes for people to move or read.

Events should never hold a secret in the first place (adapters keep API keys
and auth headers out of what they return). Bundles and reports still pass
everything through :func:`redact_secrets` as a second line of defence: a
third-party generator that copies its request headers into ``artifacts``
must not leak a key into a file that gets emailed around.

Redaction is by key name, so it never alters ordinary text: a mapping key
such as ``api_key``, ``Authorization`` or ``x-api-key`` keeps its key and has
its value replaced by :data:`REDACTED`.
"""

from __future__ import annotations

import functools
import re
from typing import Any

REDACTED = "[redacted]"
"""What a secret-looking value is replaced with."""

_SECRET_KEY = re.compile(
    r"""^(
        authorization | proxy_authorization | cookie | set_cookie
        | (x_)?api_?key | .*_api_?key
        | (access|refresh|id|auth|bearer|session|secret)_token
        | client_secret | .*_secret | secret
        | password | passwd | .*_password
        | private_key | .*_private_key
    )$""",
    re.VERBOSE,
)


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a credential (case- and separator-insensitive).

    Cached: adapters scrub every recorded response, whose keys repeat.
    """
    normal = re.sub(r"[-\s.]+", "_", key.strip().lower())
    return bool(_SECRET_KEY.match(normal))


def redact_secrets(value: Any) -> Any:
    """A copy of a JSON-like value with every secret-looking key's value redacted,
    and every string scrubbed of known secrets and URL credentials
    (``themis.core.observability.scrubbing``)."""
    if isinstance(value, str):
        from themis.core.observability.scrubbing import scrub_text  # it builds on this module

        return scrub_text(value)
    if isinstance(value, dict):
        return {
            key: (
                REDACTED
                if isinstance(key, str) and is_secret_key(key) and value[key] is not None
                else redact_secrets(value[key])
            )
            for key in value
        }
    if isinstance(value, list | tuple):
        return [redact_secrets(item) for item in value]
    return value


def secret_paths(value: Any, path: str = "") -> list[str]:
    """Dotted paths of every secret-looking key that holds a value, for error messages."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and is_secret_key(key) and item not in (None, "", REDACTED):
                found.append(where)
            else:
                found.extend(secret_paths(item, where))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(secret_paths(item, f"{path}[{index}]"))
    return found
