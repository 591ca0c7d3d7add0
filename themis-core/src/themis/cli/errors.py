"""Exit codes and the errors the CLI reports as one line instead of a traceback.

Exit codes: 0 success; 1 an internal error (a bug: the traceback is shown);
2 a user error (bad config or option, unknown component, missing run or
store, an unusable bundle): one line on stderr, no traceback unless
``--debug``; 3 the command ran but some cases failed; 4 the store stayed
locked by another process longer than ``runtime.store_lock_timeout_s``
(one line; what was committed is kept, resume later); 130 interrupted.
"""

from __future__ import annotations

from themis.core.config_files import ConfigError
from themis.core.engine.runner import ExistingRunError, PreflightError
from themis.core.registry import ComponentLoadError, InvalidComponentError, UnknownComponentError
from themis.core.stats.extra import StatsUnavailableError
from themis.core.stores.base import UnknownRunError
from themis.core.stores.blobs import BlobError
from themis.core.stores.postgres import PostgresStoreError

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_FAILED_CASES = 3
EXIT_STORE_LOCKED = 4
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Something the user asked for cannot be done; the message says what and how to fix it."""


USER_ERRORS: tuple[type[BaseException], ...] = (
    UserError,
    ConfigError,
    UnknownComponentError,
    ComponentLoadError,
    InvalidComponentError,
    UnknownRunError,
    PreflightError,
    ExistingRunError,
    StatsUnavailableError,
    PostgresStoreError,
    BlobError,
    ValueError,
    OSError,
)
"""Exceptions that mean "the input is wrong", not "Themis is broken".

pydantic's ValidationError is a ValueError, so a bad bundle or model field
lands here too; OSError covers files that cannot be read or written;
StatsUnavailableError names the extra to install; PostgresStoreError a
database that cannot be reached (its message hides the password) and BlobError
a missing or corrupted blob.
"""


def one_line(exc: BaseException) -> str:
    """An error message folded onto one line (multi-line validation errors included)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__
