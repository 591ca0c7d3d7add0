"""numpy and scipy are the ``stats`` extra of themis-eval-core, not dependencies.

Together they are most of an installation's size (over 200 MB of a 270 MB
venv), and only statistics use them: intervals, tests and effect sizes.
Without them a run, its store, bundles and reports work; reports show means
and say how to get intervals, and anything that needs a statistic raises
:class:`StatsUnavailableError` naming the extra to install.
"""

from __future__ import annotations

from themis.core.distributions import CORE, pip_install
from themis.core.errors import StatsUnavailableError as StatsUnavailableError

INSTALL_HINT = pip_install(CORE, "stats")


def unavailable(missing: str) -> StatsUnavailableError:
    return StatsUnavailableError(
        f"statistics (confidence intervals, significance tests, effect sizes) need "
        f"numpy and scipy, and {missing} is not installed: {INSTALL_HINT}",
        name=missing,
    )
