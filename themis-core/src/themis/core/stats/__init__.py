"""Statistics over stored runs: per-metric summaries and paired run comparisons.

numpy is imported when a statistic is first computed and scipy when a test
needs it, so ``import themis`` does not pay for them.
"""

from themis.core.stats.engine import StatsEngine
from themis.core.stats.models import (
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
    "format_p",
    "p_phrase",
]
