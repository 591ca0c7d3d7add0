"""Statistics over stored runs: per-metric summaries and paired run comparisons.

numpy is imported when a statistic is first computed and scipy when a test
needs it, so ``import themis`` does not pay for them. Both come with the
``stats`` extra (``pip install 'themis-eval-core[stats]'``); without it,
:func:`summarize_means` still gives means and everything else raises
:class:`StatsUnavailableError`.
"""

from themis.core.analysis.stats.engine import StatsEngine, summarize_means
from themis.core.analysis.stats.extra import StatsUnavailableError
from themis.core.analysis.stats.models import (
    MetricComparison,
    MetricSummary,
    RunComparison,
    SignificanceTest,
    format_p,
    p_phrase,
)

__all__ = [
    "MetricComparison",
    "MetricSummary",
    "RunComparison",
    "SignificanceTest",
    "StatsEngine",
    "StatsUnavailableError",
    "format_p",
    "p_phrase",
    "summarize_means",
]
