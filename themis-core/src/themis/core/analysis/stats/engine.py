"""StatsEngine: summaries of one run and comparisons of two, read from stored score rows.

Nothing is re-run: every number comes from the ``score_rows`` projection of
a store. Resampling is seeded (by the engine's ``seed`` and the metric id), so
the same store gives the same report on every machine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from themis.core.analysis.inspection import get_run_snapshot
from themis.core.analysis.outcomes import counted_values, stored_outcomes
from themis.core.analysis.stats.models import (
    MetricComparison,
    MetricSummary,
    RunComparison,
    SignificanceTest,
)
from themis.core.models import RunSnapshot, case_key_for
from themis.core.storage.projections import ScoreRow
from themis.core.storage.stores.base import RunStore

if TYPE_CHECKING:
    import numpy as np

    from themis.core.analysis.stats.functions import FloatArray

    Values = Sequence[float] | FloatArray

Correction = Literal["holm", "bh", "none"]


class StatsEngine:
    """Per-metric means with confidence intervals, and paired run comparisons.

    ``confidence`` sets every interval's level, ``resamples`` the number of
    bootstrap and permutation resamples, ``seed`` makes them reproducible,
    ``alpha`` and ``correction`` decide when a difference counts as
    significant (Holm by default; ``"bh"`` for Benjamini-Hochberg; ``"none"``).
    Scores are taken as higher-is-better.
    """

    def __init__(
        self,
        *,
        confidence: float = 0.95,
        resamples: int = 5000,
        seed: int = 0,
        alpha: float = 0.05,
        correction: Correction = "holm",
    ) -> None:
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
        if resamples < 100:
            raise ValueError(f"resamples must be at least 100, got {resamples}")
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
        if correction not in ("holm", "bh", "none"):
            raise ValueError(f"correction must be 'holm', 'bh' or 'none', got {correction!r}")
        self.confidence = confidence
        self.resamples = resamples
        self.seed = seed
        self.alpha = alpha
        self.correction: Correction = correction

    def _rng(self, *names: str) -> np.random.Generator:
        from themis.core.analysis.stats.functions import seeded_rng

        return seeded_rng(self.seed, *names)

    # -- one run -----------------------------------------------------------

    def summarize_values(
        self,
        metric_id: str,
        values: Sequence[float],
        *,
        errors: int = 0,
        parse_failures: int = 0,
        dataset_id: str | None = None,
    ) -> MetricSummary:
        """Mean and bootstrap confidence interval of one metric's values.

        ``values`` are every counted case's, parse failures (as 0) included;
        ``parse_failures`` says how many of them those are.
        """
        from themis.core.analysis.stats.functions import as_array, bootstrap_mean_ci

        array = as_array(values)
        if len(array) == 0:
            return MetricSummary(
                metric_id=metric_id,
                dataset_id=dataset_id,
                n=0,
                errors=errors,
                confidence=self.confidence,
            )
        low, high = bootstrap_mean_ci(
            array,
            confidence=self.confidence,
            resamples=self.resamples,
            rng=self._rng("summary", metric_id, dataset_id or ""),
        )
        return MetricSummary(
            metric_id=metric_id,
            dataset_id=dataset_id,
            n=len(array),
            parse_failures=parse_failures,
            errors=errors,
            mean=float(array.mean()),
            ci_low=low,
            ci_high=high,
            confidence=self.confidence,
        )

    def summarize(
        self, store: RunStore, run_id: str, *, by_dataset: bool = False
    ) -> list[MetricSummary]:
        """Every metric of a stored run, over all datasets (and per dataset if asked).

        A case whose answer did not parse counts 0 (see ``themis.core.analysis.outcomes``).
        Needs numpy (the ``stats`` extra) for the intervals; :func:`summarize_means`
        gives the same summaries without them.
        """
        return [
            self.summarize_values(
                metric_id,
                values,
                errors=errors,
                parse_failures=unparsed,
                dataset_id=dataset_id,
            )
            for metric_id, dataset_id, values, errors, unparsed in _scored_values(
                store, run_id, by_dataset
            )
        ]

    # -- the tests, on paired values ---------------------------------------

    def paired_bootstrap(
        self, baseline: Values, candidate: Values, *, metric_id: str = ""
    ) -> tuple[float, float, float]:
        """(CI low, CI high, p-value) of the mean difference candidate - baseline."""
        from themis.core.analysis.stats.functions import paired_bootstrap

        return paired_bootstrap(
            _differences(baseline, candidate),
            confidence=self.confidence,
            resamples=self.resamples,
            rng=self._rng("paired_bootstrap", metric_id),
        )

    def permutation_test(
        self, baseline: Values, candidate: Values, *, metric_id: str = ""
    ) -> float:
        """Two-sided p-value of the paired (sign-flip) permutation test."""
        from themis.core.analysis.stats.functions import sign_flip_test

        return sign_flip_test(
            _differences(baseline, candidate),
            resamples=self.resamples,
            rng=self._rng("permutation", metric_id),
        )

    def paired_t_test(self, baseline: Values, candidate: Values) -> SignificanceTest:
        from themis.core.analysis.stats.functions import paired_t_test

        statistic, p_value = paired_t_test(_differences(baseline, candidate))
        return SignificanceTest(statistic=statistic, p_value=p_value)

    def wilcoxon(self, baseline: Values, candidate: Values) -> SignificanceTest:
        from themis.core.analysis.stats.functions import wilcoxon_signed_rank

        statistic, p_value = wilcoxon_signed_rank(_differences(baseline, candidate))
        return SignificanceTest(statistic=statistic, p_value=p_value)

    def mcnemar(self, baseline: Values, candidate: Values) -> SignificanceTest:
        """McNemar's exact test; both runs' values must be 0 or 1."""
        from themis.core.analysis.stats.functions import mcnemar_exact

        b, c, p_value = mcnemar_exact(baseline, candidate)
        return SignificanceTest(
            statistic=float(min(b, c)),
            p_value=p_value,
            details={"baseline_only_correct": b, "candidate_only_correct": c},
        )

    def effect_size(self, baseline: Values, candidate: Values) -> float | None:
        """Cohen's d_z of the paired differences (None when undefined)."""
        from themis.core.analysis.stats.functions import cohens_dz

        return cohens_dz(_differences(baseline, candidate))

    @staticmethod
    def holm(p_values: Sequence[float]) -> list[float]:
        from themis.core.analysis.stats.functions import holm

        return holm(p_values)

    @staticmethod
    def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
        from themis.core.analysis.stats.functions import benjamini_hochberg

        return benjamini_hochberg(p_values)

    # -- two runs ----------------------------------------------------------

    def compare_values(
        self, metric_id: str, baseline: Values, candidate: Values
    ) -> MetricComparison:
        """Every test on one metric's paired values (not yet adjusted across metrics)."""
        from themis.core.analysis.stats.functions import as_array, is_binary

        base, cand = as_array(baseline), as_array(candidate)
        if len(base) != len(cand):
            raise ValueError(
                f"{metric_id}: paired values differ in length ({len(base)} vs {len(cand)})"
            )
        if len(base) == 0:
            return MetricComparison(metric_id=metric_id, n_pairs=0, confidence=self.confidence)
        low, high, p_bootstrap = self.paired_bootstrap(base, cand, metric_id=metric_id)
        binary = is_binary(base) and is_binary(cand)
        tests = {
            "paired_bootstrap": SignificanceTest(
                statistic=float((cand - base).mean()), p_value=p_bootstrap
            ),
            "permutation": SignificanceTest(
                statistic=float((cand - base).mean()),
                p_value=self.permutation_test(base, cand, metric_id=metric_id),
            ),
            "paired_t": self.paired_t_test(base, cand),
            "wilcoxon": self.wilcoxon(base, cand),
        }
        if binary:
            tests["mcnemar"] = self.mcnemar(base, cand)
        primary = "mcnemar" if binary else "permutation"
        return MetricComparison(
            metric_id=metric_id,
            n_pairs=len(base),
            baseline_mean=float(base.mean()),
            candidate_mean=float(cand.mean()),
            difference=float(cand.mean() - base.mean()),
            ci_low=low,
            ci_high=high,
            confidence=self.confidence,
            effect_size=self.effect_size(base, cand),
            binary=binary,
            tests=tests,
            primary_test=primary,
            p_value=tests[primary].p_value,
        )

    def compare(
        self,
        store: RunStore,
        baseline_run_id: str,
        candidate_run_id: str,
        *,
        metric_ids: Sequence[str] | None = None,
    ) -> RunComparison:
        """Compare two stored runs metric by metric on the cases both scored.

        Cases are paired by case key, so the runs must share datasets; an
        answer that did not parse counts 0, as in every mean. A case one run
        could not score (an error) is left out of that metric's pairs (and
        counted in ``baseline_only`` / ``candidate_only``).
        """
        baseline_snapshot = get_run_snapshot(store, baseline_run_id)
        candidate_snapshot = get_run_snapshot(store, candidate_run_id)
        baseline_rows, baseline_unparsed = _values(store, baseline_snapshot)
        candidate_rows, candidate_unparsed = _values(store, candidate_snapshot)
        baseline_metrics = _metric_order(
            [ref.name for ref in baseline_snapshot.component_refs.metrics],
            store.score_rows(baseline_run_id),
        )
        candidate_metrics = set(
            [ref.name for ref in candidate_snapshot.component_refs.metrics] + list(candidate_rows)
        )
        shared = [metric for metric in baseline_metrics if metric in candidate_metrics]
        unmatched = sorted((set(baseline_metrics) | candidate_metrics) - set(shared))
        if metric_ids is not None:
            missing = sorted(set(metric_ids) - set(shared))
            if missing:
                raise ValueError(
                    f"metric_ids: {missing} are not scored by both runs; shared metrics: {shared}"
                )
            shared = [metric for metric in shared if metric in metric_ids]
        comparisons: list[MetricComparison] = []
        for metric_id in shared:
            base_values = baseline_rows.get(metric_id, {})
            cand_values = candidate_rows.get(metric_id, {})
            keys = sorted(set(base_values) & set(cand_values))
            comparison = self.compare_values(
                metric_id,
                [base_values[key] for key in keys],
                [cand_values[key] for key in keys],
            )
            comparisons.append(
                comparison.model_copy(
                    update={
                        "baseline_only": len(set(base_values) - set(cand_values)),
                        "candidate_only": len(set(cand_values) - set(base_values)),
                        "baseline_parse_failures": len(
                            baseline_unparsed.get(metric_id, set()) & set(keys)
                        ),
                        "candidate_parse_failures": len(
                            candidate_unparsed.get(metric_id, set()) & set(keys)
                        ),
                    }
                )
            )
        if shared and all(comparison.n_pairs == 0 for comparison in comparisons):
            raise ValueError(
                f"runs {baseline_run_id!r} and {candidate_run_id!r} share no scored case; "
                "compare runs over the same datasets, after both have been scored"
            )
        case_keys = {
            case_key_for(d.dataset_id, c.case_id)
            for d in baseline_snapshot.datasets
            for c in d.cases
        }
        shared_cases = sum(
            case_key_for(d.dataset_id, c.case_id) in case_keys
            for d in candidate_snapshot.datasets
            for c in d.cases
        )
        return RunComparison(
            baseline_run_id=baseline_run_id,
            candidate_run_id=candidate_run_id,
            shared_cases=shared_cases,
            alpha=self.alpha,
            correction=self.correction,
            confidence=self.confidence,
            resamples=self.resamples,
            seed=self.seed,
            metrics=self._adjust(comparisons, baseline_run_id, candidate_run_id),
            unmatched_metrics=unmatched,
        )

    def _adjust(
        self, comparisons: list[MetricComparison], baseline_run_id: str, candidate_run_id: str
    ) -> list[MetricComparison]:
        """Holm and BH across metrics, then the verdict of each."""
        tested = [i for i, c in enumerate(comparisons) if c.p_value is not None]
        raw = [float(comparisons[i].p_value or 0.0) for i in tested]
        holm = dict(zip(tested, self.holm(raw), strict=True))
        bh = dict(zip(tested, self.benjamini_hochberg(raw), strict=True))
        adjusted: list[MetricComparison] = []
        for index, comparison in enumerate(comparisons):
            if index not in holm:
                adjusted.append(comparison)
                continue
            decisive = {"holm": holm[index], "bh": bh[index], "none": comparison.p_value}[
                self.correction
            ]
            difference = comparison.difference or 0.0
            significant = decisive is not None and decisive < self.alpha and difference != 0.0
            better: Literal["baseline", "candidate", "neither"] = "neither"
            if significant:
                better = "candidate" if difference > 0 else "baseline"
            adjusted.append(
                comparison.model_copy(
                    update={
                        "p_value_holm": holm[index],
                        "p_value_bh": bh[index],
                        "significant": significant,
                        "better": better,
                        "better_run_id": {
                            "candidate": candidate_run_id,
                            "baseline": baseline_run_id,
                        }.get(better),
                    }
                )
            )
        return adjusted


def summarize_means(
    store: RunStore, run_id: str, *, by_dataset: bool = False, confidence: float = 0.95
) -> list[MetricSummary]:
    """:meth:`StatsEngine.summarize` without intervals, in plain Python: what a
    report shows when numpy and scipy (the ``stats`` extra) are not installed."""
    return [
        MetricSummary(
            metric_id=metric_id,
            dataset_id=dataset_id,
            n=len(values),
            parse_failures=unparsed,
            errors=errors,
            mean=sum(values) / len(values) if values else None,
            confidence=confidence,
        )
        for metric_id, dataset_id, values, errors, unparsed in _scored_values(
            store, run_id, by_dataset
        )
    ]


def _scored_values(
    store: RunStore, run_id: str, by_dataset: bool
) -> list[tuple[str, str | None, list[float], int, int]]:
    """(metric, dataset or None for all, counted values in case-key order, errors,
    parse failures) of a run: unparsed answers are among the values, as 0."""
    snapshot = get_run_snapshot(store, run_id)
    rows = store.score_rows(run_id)
    counted = stored_outcomes(store, snapshot)
    order = _metric_order([ref.name for ref in snapshot.component_refs.metrics], rows)
    groups: list[str | None] = [None]
    if by_dataset:
        groups += [dataset.dataset_id for dataset in snapshot.datasets]
    scored: list[tuple[str, str | None, list[float], int, int]] = []
    for metric_id in order:
        for dataset_id in groups:
            selected = sorted(
                (
                    outcome
                    for outcome in counted
                    if outcome.metric_id == metric_id
                    and (dataset_id is None or outcome.dataset_id == dataset_id)
                ),
                key=lambda outcome: outcome.case_key,
            )
            values = [o.value for o in selected if o.value is not None]
            errors = sum(o.kind == "error" for o in selected)
            unparsed = sum(o.kind == "unparsed" for o in selected)
            scored.append((metric_id, dataset_id, values, errors, unparsed))
    return scored


def _differences(baseline: Values, candidate: Values) -> np.ndarray:
    from themis.core.analysis.stats.functions import as_array

    base, cand = as_array(baseline), as_array(candidate)
    if len(base) != len(cand):
        raise ValueError(f"paired values differ in length ({len(base)} vs {len(cand)})")
    return cand - base


def _values(
    store: RunStore, snapshot: RunSnapshot
) -> tuple[dict[str, dict[str, float]], dict[str, set[str]]]:
    """Counted values by metric and case key (unparsed answers as 0, errors left
    out), and the case keys of the unparsed answers by metric."""
    counted = stored_outcomes(store, snapshot)
    unparsed: dict[str, set[str]] = defaultdict(set)
    for outcome in counted:
        if outcome.kind == "unparsed":
            unparsed[outcome.metric_id].add(outcome.case_key)
    return counted_values(counted), unparsed


def _metric_order(configured: list[str], rows: Sequence[ScoreRow]) -> list[str]:
    """Metrics in the order the experiment lists them, then any others by name."""
    seen = {row.metric_id for row in rows}
    return [*configured, *sorted(seen - set(configured))]
