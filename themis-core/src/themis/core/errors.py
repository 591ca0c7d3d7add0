"""Every error Themis raises, in one tree, and how a failure is classified.

Each class says who has to act on it, so the CLI can map the tree onto exit
codes and the engine onto stored failure categories without matching names::

    ThemisError
    ├── UserError                 the input is wrong: the message says what, where, what to do
    │   ├── ConfigError           (ValueError) a config file, override or option is invalid
    │   │   └── CandidateSeedsError   the seeds cannot be laid out over the candidates
    │   ├── UnknownComponentError (LookupError) no installed distribution registers the id
    │   ├── ComponentLoadError    (ImportError) a registered component fails to import or build
    │   ├── InvalidComponentError (TypeError) an object does not meet its kind's contract
    │   │   └── InvalidComponentOptionError  (ValueError) a component's options are refused
    │   ├── BundleError           (ValueError) a bundle cannot be read, exported or imported
    │   ├── UnknownRunError       (LookupError) the store holds no run with this id
    │   ├── UnknownCaseError      (LookupError) the run has no case with this key
    │   ├── DatasetUnavailableError  (RuntimeError) a dataset cannot be loaded here
    │   ├── PreflightError        (RuntimeError) a component's preflight check failed
    │   ├── ExistingRunError      (RuntimeError) the policy forbids running over a stored run
    │   ├── MissingUpstreamError  (LookupError) replay needs an upstream result that is not stored
    │   ├── StatsUnavailableError (ImportError) the statistics extra is not installed
    │   └── ExecutorUnavailableError (ImportError) the executor's extra (ray) is not installed
    ├── ComponentError            a component misbehaved: its case fails, the run goes on
    │   ├── ParseFailure          (ValueError) the candidate lacks what the parser extracts
    │   ├── ComponentOutputError  (TypeError) a component returned the wrong type
    │   ├── WorkflowBuildError    (ValueError) a metric cannot build its evaluation workflow
    │   ├── JudgmentParseError    (ValueError) a judge's answer lacks the asked-for verdict
    │   └── ComponentTimeoutError (TimeoutError) a component call outlived its time limit
    ├── ProviderError             a model provider's call failed; ``category`` says how to treat it
    │   └── ProviderUnavailableError  the provider stayed down through every probe
    ├── ExecutorError             the executor lost its workers (Ray actors died past replacing)
    └── StoreError                the run store cannot be used; what was committed is kept
        ├── StoreOpenError        (ValueError) the path is unusable or holds no Themis store
        │   └── StoreNotFoundError    a store was read that does not exist
        ├── StoreWriteError       (RuntimeError) the store stopped accepting events
        │   └── StoreLockedError      another process held the write lock too long (exit 4)
        ├── PostgresStoreError    (RuntimeError) PostgreSQL cannot be reached or used
        ├── BlobError             (RuntimeError) a blob is missing or corrupted
        └── UnsupportedEventSchemaError  (ValueError) an event was written by a newer Themis

Every class also subclasses the builtin it subclassed before the tree existed
(shown in parentheses), so ``except ValueError`` around a config load or
``except ImportError`` around a component still catches what it caught.
The classes are defined here and re-exported where they used to live
(``themis.core.authoring.config_files.ConfigError``, ``themis.core.authoring.registry.
UnknownComponentError`` ...), so both import paths name the same class.
Distributions above core extend the tree (``themis_catalog``'s
``UnknownVariantError`` is a ``UserError``; the OpenAI adapter's
``MalformedResponseError`` a ``ProviderError``).

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


class ThemisError(Exception):
    """The root of every error Themis raises on purpose.

    ``category`` is what a failed case records when this error ends its work
    item (see :func:`classify`).
    """

    category: ErrorCategory = ErrorCategory.component_error


# -- the input is wrong ------------------------------------------------------


class UserError(ThemisError):
    """Something the user asked for cannot be done; the message says what and how to fix it.

    The CLI reports it as one line and exits with code 2.
    """


class ConfigError(UserError, ValueError):
    """A configuration file, override or option is invalid; the message says where."""


class CandidateSeedsError(ConfigError):
    """The seeds cannot be laid out over the candidates of a case."""


class UnknownComponentError(UserError, LookupError):
    """No installed distribution registers the requested component id."""


class ComponentLoadError(UserError, ImportError):
    """A registered component could not be imported or constructed."""


class InvalidComponentError(UserError, TypeError):
    """An object does not satisfy its kind's contract."""


class InvalidComponentOptionError(InvalidComponentError, ValueError):
    """A component's options are refused (unknown, of the wrong type, or out of
    range); a ValueError as well, as a factory's own refusal always was."""


class BundleError(UserError, ValueError):
    """A bundle cannot be read, exported or imported; nothing was written."""


class UnknownRunError(UserError, LookupError):
    """The store holds no run with this id."""


class UnknownCaseError(UserError, LookupError):
    """The run has no case with this key (or the id is ambiguous)."""


class DatasetUnavailableError(UserError, RuntimeError):
    """A dataset cannot be loaded here (library missing, offline, unknown); the message
    says what to do."""


class PreflightError(UserError, RuntimeError):
    """A component's ``preflight()`` check failed; no work was started."""


class ExistingRunError(UserError, RuntimeError):
    """The store already holds this run and the policy says not to run over it."""


class MissingUpstreamError(UserError, LookupError):
    """Replay needs a stored upstream result that the store does not hold."""

    category = ErrorCategory.not_found


class StatsUnavailableError(UserError, ImportError):
    """numpy or scipy is not installed; the message says which extra brings them."""


class ExecutorUnavailableError(UserError, ImportError):
    """The executor a run asks for is not installed (``executor="ray"`` without
    the ``ray`` extra); the message says what to install."""


# -- a component misbehaved --------------------------------------------------


class ComponentError(ThemisError):
    """A component failed on one case; the engine records it there and goes on."""


class ParseFailure(ComponentError, ValueError):
    """The candidate does not contain what the parser extracts."""

    category = ErrorCategory.parse_error


class ComponentOutputError(ComponentError, TypeError):
    """A component returned something other than its contract's type."""


class WorkflowBuildError(ComponentError, ValueError):
    """Raised when a metric cannot build a valid evaluation workflow."""


class JudgmentParseError(ComponentError, ValueError):
    """A judge's answer does not contain the verdict the workflow asked for."""


class ComponentTimeoutError(ComponentError, TimeoutError):
    """A component call did not return within its time limit
    (``RuntimeConfig.task_timeout_s``, else ``component_timeout_s``)."""

    category = ErrorCategory.timeout


# -- a provider call failed --------------------------------------------------


class ProviderError(ThemisError):
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


# -- the store cannot be used ------------------------------------------------


class ExecutorError(ThemisError, RuntimeError):
    """The executor lost the workers running a run: Ray actors kept dying past
    ``RuntimeConfig.ray_max_replacements``. What they committed is kept; resume.
    The CLI reports it as one line and exits with code 2."""


class StoreError(ThemisError):
    """The run store cannot be opened, reached, read or written.

    Whatever the store committed before is kept; fix the store and resume.
    """


class StoreOpenError(StoreError, ValueError):
    """A store cannot be opened: its path is unusable, or the file there is not
    a Themis store. The message names the path and what to do."""


class StoreNotFoundError(StoreOpenError):
    """A store was read that does not exist: reading never creates one."""


class StoreWriteError(StoreError, RuntimeError):
    """The store stopped accepting events; the run cannot record more work."""


class StoreLockedError(StoreWriteError):
    """Another process held the store's write lock longer than the run waits
    (``RuntimeConfig.store_lock_timeout_s``). The CLI exits with code 4."""


class PostgresStoreError(StoreError, RuntimeError):
    """The PostgreSQL store cannot be reached or used (the message never holds the password)."""


class BlobError(StoreError, RuntimeError):
    """A blob an event refers to is missing or does not match its ref."""


class UnsupportedEventSchemaError(StoreError, ValueError):
    """A stored event was written by a newer Themis than this one."""


# -- classification ----------------------------------------------------------


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
    if isinstance(exc, ThemisError):
        return Classification(exc.category, False)
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
