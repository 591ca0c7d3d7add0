"""What statistics report: per-metric summaries and run comparisons."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from themis.core.models import FrozenModel

TEST_LABELS: dict[str, str] = {
    "paired_bootstrap": "paired bootstrap",
    "permutation": "paired permutation test",
    "paired_t": "paired t-test",
    "wilcoxon": "Wilcoxon signed-rank",
    "mcnemar": "McNemar exact",
}
"""Readable names of the tests a comparison runs, by key of ``MetricComparison.tests``."""


class MetricSummary(FrozenModel):
    """A metric's mean over the cases it scored, with a bootstrap confidence interval.

    ``dataset_id`` is None for a summary over every dataset of the run.
    ``n`` cases are in the mean; ``parse_failures`` of them gave no parseable
    answer and count 0. ``errors`` counts cases left out: never answered (a
    failed generation) or not scorable by the metric.
    """

    metric_id: str
    dataset_id: str | None = None
    n: int
    parse_failures: int = 0
    errors: int = 0
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float


class SignificanceTest(FrozenModel):
    """One hypothesis test's statistic and two-sided p-value (None: undefined)."""

    statistic: float | None = None
    p_value: float | None = None
    details: dict[str, float] = Field(default_factory=dict)


class MetricComparison(FrozenModel):
    """How one metric moved from the baseline run to the candidate run.

    Computed over the cases both runs scored (paired by case key); an answer
    that did not parse counts 0, and ``baseline_parse_failures`` /
    ``candidate_parse_failures`` say how many of the pairs hold one.
    ``difference`` is candidate minus baseline; higher scores are better.
    ``p_value`` is the primary test's (McNemar for 0/1 metrics, the paired
    permutation test otherwise); ``p_value_holm`` and ``p_value_bh`` adjust it
    for the number of metrics compared. ``significant`` uses the adjustment
    the engine was configured with.
    """

    metric_id: str
    n_pairs: int
    baseline_only: int = 0
    candidate_only: int = 0
    baseline_parse_failures: int = 0
    candidate_parse_failures: int = 0
    baseline_mean: float | None = None
    candidate_mean: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    confidence: float
    effect_size: float | None = None
    binary: bool = False
    tests: dict[str, SignificanceTest] = Field(default_factory=dict)
    primary_test: str | None = None
    p_value: float | None = None
    p_value_holm: float | None = None
    p_value_bh: float | None = None
    significant: bool = False
    better: Literal["baseline", "candidate", "neither"] = "neither"
    better_run_id: str | None = None

    def describe(self) -> str:
        """One sentence: which run is better on this metric, by how much, how sure."""
        if self.n_pairs == 0 or self.difference is None:
            return f"{self.metric_id}: no case was scored by both runs"
        interval = (
            f" ({self.confidence:.0%} CI {self.ci_low:+.4f} to {self.ci_high:+.4f})"
            if self.ci_low is not None and self.ci_high is not None
            else ""
        )
        change = f"candidate - baseline = {self.difference:+.4f}{interval}"
        evidence = (
            f"{p_phrase(self.p_value)} ({TEST_LABELS.get(self.primary_test or '', 'no test')}; "
            f"Holm {format_p(self.p_value_holm)}, BH {format_p(self.p_value_bh)}; "
            f"n = {self.n_pairs} pairs)"
        )
        verdict = (
            "no significant difference"
            if self.better == "neither"
            else f"{self.better} {self.better_run_id} is better"
        )
        return f"{self.metric_id}: {verdict}: {change}, {evidence}"


class RunComparison(FrozenModel):
    """Every shared metric of two runs, compared on their shared cases."""

    baseline_run_id: str
    candidate_run_id: str
    shared_cases: int
    alpha: float
    correction: Literal["holm", "bh", "none"]
    confidence: float
    resamples: int
    seed: int
    metrics: list[MetricComparison]
    unmatched_metrics: list[str] = Field(default_factory=list)

    def metric(self, metric_id: str) -> MetricComparison:
        for comparison in self.metrics:
            if comparison.metric_id == metric_id:
                return comparison
        known = [comparison.metric_id for comparison in self.metrics]
        raise KeyError(f"metric {metric_id!r} was not compared; compared metrics: {known}")

    @property
    def moved(self) -> list[MetricComparison]:
        """The metrics with a significant difference."""
        return [comparison for comparison in self.metrics if comparison.significant]


def p_phrase(p_value: float | None) -> str:
    """``p = 0.0123`` or ``p < 0.0001``."""
    text = format_p(p_value)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def format_p(p_value: float | None) -> str:
    """A p-value for a report: four decimals below 0.1, three above, '< 0.0001' when tiny."""
    if p_value is None:
        return "n/a"
    if p_value < 1e-4:
        return "< 0.0001"
    return f"{p_value:.4f}" if p_value < 0.1 else f"{p_value:.3f}"
