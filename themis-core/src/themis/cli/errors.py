"""Exit codes, and how the error tree (``themis.core.errors``) maps onto them.

Exit codes: 0 success; 1 an internal error (a bug: the traceback is shown);
2 the input or the environment is wrong (a ``UserError``: bad config or
option, unknown component, missing run, unusable bundle; a ``StoreError``:
a store that cannot be opened, reached or read; a ``ProviderError`` that ends
the command; an ``ExecutorError``: Ray actors kept dying): one line on
stderr, no traceback unless ``--debug``; 3 the command ran but some cases
failed; 4 the store stayed locked by another process longer than
``runtime.store_lock_timeout_s`` (a ``StoreLockedError``; one line; what
was committed is kept, resume later); 130 interrupted.

Anything outside those branches of the tree, a bare ``ValueError`` or
``OSError`` included, is a bug in Themis or in a component and exits 1 with
its traceback: reporting it as "your input is wrong" would hide it.
"""

from __future__ import annotations

from themis.core.errors import (
    ExecutorError,
    ProviderError,
    StoreError,
    StoreLockedError,
    ThemisError,
)
from themis.core.errors import UserError as UserError

EXIT_OK = 0
EXIT_INTERNAL_ERROR = 1
EXIT_USER_ERROR = 2
EXIT_FAILED_CASES = 3
EXIT_STORE_LOCKED = 4
EXIT_INTERRUPTED = 130

EXIT_CODES: tuple[tuple[type[ThemisError], int], ...] = (
    (StoreLockedError, EXIT_STORE_LOCKED),
    (UserError, EXIT_USER_ERROR),
    (StoreError, EXIT_USER_ERROR),
    (ProviderError, EXIT_USER_ERROR),
    (ExecutorError, EXIT_USER_ERROR),
)
"""Branch of the error tree -> exit code; the first branch that matches wins."""

USER_ERRORS: tuple[type[BaseException], ...] = tuple(branch for branch, _ in EXIT_CODES)
"""The errors the CLI reports as one line instead of a traceback."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an error that ended a command (1 for anything unexpected)."""
    for branch, code in EXIT_CODES:
        if isinstance(exc, branch):
            return code
    return EXIT_INTERNAL_ERROR


def one_line(exc: BaseException) -> str:
    """An error message folded onto one line (multi-line validation errors included)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__
