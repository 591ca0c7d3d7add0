"""The distribution names Themis is published under, for install hints and versions.

The package index's ``themis-core`` is an unrelated project, so the core is
published as ``themis-eval-core``; its folder stays ``themis-core/`` and its
import package stays ``themis``. Every message that tells a user what to
install is built here or checked against the workspace's real distribution
names by tests/test_install_hints.py.
"""

from __future__ import annotations

CORE = "themis-eval-core"
"""The distribution that holds the ``themis`` import package."""


def pip_install(distribution: str, extra: str | None = None) -> str:
    """The command that installs ``distribution`` (with ``extra``), quoted for a shell."""
    if extra is None:
        return f"pip install {distribution}"
    return f"pip install '{distribution}[{extra}]'"
