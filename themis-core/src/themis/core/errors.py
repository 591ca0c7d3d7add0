"""The shared error vocabulary: how a failure is classified and whether to retry.

Adapters raise :class:`ProviderError` (or map their SDK's errors with
:func:`classify`) so that the engine's retry and circuit-breaker policy treats
every provider alike.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum


class ErrorCategory(StrEnum):
    rate_limit = "rate_limit"
    timeout = "timeout"
    connection = "connection"
    server_error = "server_error"
    invalid_request = "invalid_request"
    authentication = "authentication"
    not_found = "not_found"
    parse_error = "parse_error"
    circuit_open = "circuit_open"  # written by Themis before the breaker held calls
    provider_unavailable = "provider_unavailable"
    component_error = "component_error"


RETRYABLE_CATEGORIES = frozenset(
    {
        ErrorCategory.rate_limit,
        ErrorCategory.timeout,
        ErrorCategory.connection,
        ErrorCategory.server_error,
    }
)


class ProviderError(Exception):
    """A provider call failed in a way the engine should know how to treat."""

    def __init__(
        self,
        message: str,
        *,
        category: ErrorCategory,
        retry_after_s: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.retry_after_s = retry_after_s
        self.status_code = status_code

    @property
    def retryable(self) -> bool:
        return self.category in RETRYABLE_CATEGORIES


class ProviderUnavailableError(ProviderError):
    """A component's provider stayed down through every probe of its circuit
    breaker: the calls waiting for it, and those after, fail with this at once
    rather than each spending its retries on a service that is not there."""

    def __init__(self, component_id: str, probes: int, down_for_s: float, last_error: str) -> None:
        super().__init__(
            f"provider unavailable: {component_id!r} failed {probes} probe(s) over "
            f"{down_for_s:.1f}s after repeated failures (last error: {last_error}); "
            "check the service, then resume the run to retry its failed cases",
            category=ErrorCategory.provider_unavailable,
        )


class ComponentTimeoutError(TimeoutError):
    """A component call did not return within its time limit
    (``RuntimeConfig.task_timeout_s``, else ``component_timeout_s``)."""


@dataclass(frozen=True, slots=True)
class Classification:
    category: ErrorCategory
    retryable: bool
    retry_after_s: float | None = None


def classify(exc: BaseException) -> Classification:
    """Map an exception onto the shared vocabulary."""
    if isinstance(exc, ProviderError):
        return Classification(exc.category, exc.retryable, exc.retry_after_s)
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return Classification(ErrorCategory.timeout, True)
    if isinstance(exc, ConnectionError):
        return Classification(ErrorCategory.connection, True)
    return Classification(ErrorCategory.component_error, False)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` (or ``retry-after-ms``) header value."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds)
