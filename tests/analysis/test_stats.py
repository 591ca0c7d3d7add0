"""Every statistic checked against scipy (or a textbook computation) on the same data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from tests.analysis.helpers import demo_experiment
from tests.conftest import arithmetic_dataset
from themis import InMemoryRunStore, StatsEngine
from themis.core.analysis.stats import functions
from themis.core.analysis.stats.models import format_p


@pytest.fixture(scope="module")
def paired() -> tuple[np.ndarray, np.ndarray]:
    """Continuous paired scores with a modest true improvement."""
    rng = np.random.default_rng(42)
    baseline = rng.uniform(0.2, 0.8, size=80)
    candidate = np.clip(baseline + rng.normal(0.05, 0.1, size=80), 0.0, 1.0)
    return baseline, candidate


def test_bootstrap_mean_ci_matches_scipy(paired: tuple[np.ndarray, np.ndarray]) -> None:
    values = paired[0]
    low, high = functions.bootstrap_mean_ci(
        values, confidence=0.95, resamples=20_000, rng=np.random.default_rng(1)
    )
    reference = stats.bootstrap(
        (values,),
        np.mean,
        confidence_level=0.95,
        n_resamples=20_000,
        method="percentile",
        rng=np.random.default_rng(2),
    ).confidence_interval
    # Two independent Monte Carlo estimates of the same percentiles.
    assert low == pytest.approx(reference.low, abs=0.004)
    assert high == pytest.approx(reference.high, abs=0.004)
    assert low < values.mean() < high


def test_paired_bootstrap_interval_matches_scipy_and_its_p_value_agrees_with_the_t_test(
    paired: tuple[np.ndarray, np.ndarray],
) -> None:
    baseline, candidate = paired
    differences = candidate - baseline
    low, high, p_value = functions.paired_bootstrap(
        differences, confidence=0.9, resamples=20_000, rng=np.random.default_rng(3)
    )
    reference = stats.bootstrap(
        (differences,),
        np.mean,
        confidence_level=0.9,
        n_resamples=20_000,
        method="percentile",
        rng=np.random.default_rng(4),
    ).confidence_interval
    assert low == pytest.approx(reference.low, abs=0.003)
    assert high == pytest.approx(reference.high, abs=0.003)
    t_p = stats.ttest_rel(candidate, baseline).pvalue
    assert p_value == pytest.approx(t_p, abs=max(0.01, t_p / 2))


def test_paired_bootstrap_p_value_is_large_without_an_effect() -> None:
    rng = np.random.default_rng(5)
    differences = rng.normal(0.0, 1.0, size=50)
    differences -= differences.mean()  # exactly no mean difference
    _, _, p_value = functions.paired_bootstrap(
        differences, confidence=0.95, resamples=2000, rng=rng
    )
    assert p_value == 1.0


def test_exact_sign_flip_test_equals_scipy_permutation_test() -> None:
    differences = np.array([0.3, -0.1, 0.25, 0.4, 0.05, -0.2, 0.35, 0.1, 0.15, 0.3])
    ours = functions.sign_flip_test(differences, resamples=5000, rng=np.random.default_rng(0))
    reference = stats.permutation_test(
        (differences,),
        np.mean,
        permutation_type="samples",
        n_resamples=np.inf,
        vectorized=True,
    ).pvalue
    assert ours == pytest.approx(reference, rel=1e-12)


def test_randomised_sign_flip_test_agrees_with_scipy(paired: tuple[np.ndarray, np.ndarray]) -> None:
    differences = paired[1] - paired[0]
    ours = functions.sign_flip_test(differences, resamples=20_000, rng=np.random.default_rng(6))
    reference = stats.permutation_test(
        (differences,),
        np.mean,
        permutation_type="samples",
        n_resamples=20_000,
        vectorized=True,
        rng=np.random.default_rng(7),
    ).pvalue
    assert ours == pytest.approx(reference, abs=0.005)


def test_paired_t_test_matches_scipy_and_the_formula(paired: tuple[np.ndarray, np.ndarray]) -> None:
    baseline, candidate = paired
    statistic, p_value = functions.paired_t_test(candidate - baseline)
    reference = stats.ttest_rel(candidate, baseline)
    assert statistic == pytest.approx(reference.statistic, rel=1e-10)
    assert p_value == pytest.approx(reference.pvalue, rel=1e-10)
    d = candidate - baseline
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    assert statistic == pytest.approx(t, rel=1e-10)
    assert p_value == pytest.approx(2 * stats.t.sf(abs(t), len(d) - 1), rel=1e-8)


def test_wilcoxon_matches_an_exact_enumeration() -> None:
    differences = np.array([0.9, -0.3, 1.4, 0.2, -0.75, 1.1, 0.6, 1.7, -0.05, 0.45])
    statistic, p_value = functions.wilcoxon_signed_rank(differences)
    ranks = stats.rankdata(np.abs(differences))
    positive = ranks[differences > 0].sum()
    negative = ranks[differences < 0].sum()
    assert statistic == min(positive, negative)
    n = len(differences)
    sums = [
        sum(rank for rank, sign in zip(range(1, n + 1), signs, strict=True) if sign)
        for signs in itertools.product([0, 1], repeat=n)
    ]
    observed = min(positive, negative)
    exact = 2 * sum(total <= observed for total in sums) / 2**n
    assert p_value == pytest.approx(min(1.0, exact), rel=1e-12)
    assert p_value == pytest.approx(stats.wilcoxon(differences).pvalue, rel=1e-12)


def test_mcnemar_matches_the_binomial_sum_and_scipy_binomtest() -> None:
    baseline = np.array([1] * 30 + [0] * 10 + [1] * 12 + [0] * 8, dtype=float)
    candidate = np.array([1] * 30 + [0] * 10 + [0] * 12 + [1] * 8, dtype=float)
    b, c, p_value = functions.mcnemar_exact(baseline, candidate)
    assert (b, c) == (12, 8)
    n = b + c
    textbook = min(1.0, 2 * sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n)
    assert p_value == pytest.approx(textbook, rel=1e-12)
    assert p_value == pytest.approx(stats.binomtest(c, n, 0.5).pvalue, rel=1e-12)
    with pytest.raises(ValueError, match="0/1 outcomes"):
        functions.mcnemar_exact([0.5], [1.0])


def test_cohens_dz(paired: tuple[np.ndarray, np.ndarray]) -> None:
    d = paired[1] - paired[0]
    dz = functions.cohens_dz(d)
    assert dz == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-12)
    # d_z and the paired t statistic differ by sqrt(n).
    assert dz * math.sqrt(len(d)) == pytest.approx(stats.ttest_rel(paired[1], paired[0]).statistic)
    assert functions.cohens_dz([0.0, 0.0, 0.0]) == 0.0
    assert functions.cohens_dz([0.5, 0.5]) is None


def test_holm_by_hand_and_benjamini_hochberg_against_scipy() -> None:
    p_values = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06
    assert functions.holm(p_values) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    many = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]
    assert functions.benjamini_hochberg(many) == pytest.approx(
        stats.false_discovery_control(many, method="bh")
    )
    assert functions.holm([0.9, 0.8]) == [1.0, 1.0]


def test_degenerate_samples_give_defined_answers() -> None:
    assert functions.paired_t_test([0.0, 0.0]) == (0.0, 1.0)
    assert functions.paired_t_test([1.0, 1.0]) == (None, None)
    assert functions.wilcoxon_signed_rank([0.0, 0.0]) == (0.0, 1.0)
    assert functions.mcnemar_exact([1.0, 0.0], [1.0, 0.0]) == (0, 0, 1.0)
    assert functions.bootstrap_mean_ci(
        [0.7], confidence=0.95, resamples=100, rng=np.random.default_rng(0)
    ) == (0.7, 0.7)
    with pytest.raises(ValueError, match="finite"):
        functions.as_array([float("nan")])


# -- the engine ------------------------------------------------------------


def test_engine_is_seeded_and_validates_its_settings(paired: tuple[np.ndarray, np.ndarray]) -> None:
    first = StatsEngine(seed=3).compare_values("m", *paired)
    assert StatsEngine(seed=3).compare_values("m", *paired) == first
    assert StatsEngine(seed=4).compare_values("m", *paired).ci_low != first.ci_low
    assert first.primary_test == "permutation" and not first.binary
    assert set(first.tests) == {"paired_bootstrap", "permutation", "paired_t", "wilcoxon"}
    for bad in ({"confidence": 1.5}, {"resamples": 10}, {"seed": -1}, {"alpha": 0}):
        with pytest.raises(ValueError):
            StatsEngine(**bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="correction"):
        StatsEngine(correction="bonferroni")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def two_runs() -> tuple[InMemoryRunStore, str, str]:
    store = InMemoryRunStore()
    good = demo_experiment(0.0).run(store=store)
    bad = demo_experiment(0.6).run(store=store)
    return store, good.run_id, bad.run_id


def test_compare_names_the_better_run(two_runs: tuple[InMemoryRunStore, str, str]) -> None:
    store, good, bad = two_runs
    comparison = StatsEngine().compare(store, bad, good)
    metric = comparison.metric("builtin/exact_match")
    assert metric.n_pairs == 60 and comparison.shared_cases == 60
    assert metric.binary and metric.primary_test == "mcnemar"
    assert metric.difference is not None and metric.difference > 0.3
    assert metric.ci_low is not None and metric.ci_low > 0
    assert metric.significant and metric.better == "candidate" and metric.better_run_id == good
    assert metric.p_value is not None and metric.p_value < 1e-6
    assert metric.p_value_holm == metric.p_value  # one metric: nothing to adjust
    assert comparison.moved == [metric]
    assert f"candidate {good} is better" in metric.describe()
    # Swapping the roles swaps the verdict, not the evidence.
    swapped = StatsEngine().compare(store, good, bad).metric("builtin/exact_match")
    assert swapped.better == "baseline" and swapped.better_run_id == good
    assert swapped.p_value == metric.p_value


def test_compare_pairs_only_shared_cases_and_adjusts_across_metrics() -> None:
    store = InMemoryRunStore()
    evaluation = {
        "evaluation": demo_experiment(0.0).evaluation.model_copy(
            update={"metrics": ["builtin/exact_match", "builtin/token_f1"]}
        )
    }
    small = demo_experiment(0.0, cases=40, **evaluation).run(store=store)
    large = demo_experiment(0.5, cases=50, **evaluation).run(store=store)
    comparison = StatsEngine(correction="bh").compare(store, small.run_id, large.run_id)
    assert comparison.shared_cases == 40
    exact = comparison.metric("builtin/exact_match")
    assert exact.n_pairs == 40 and exact.candidate_only == 10 and exact.baseline_only == 0
    raw = [m.p_value for m in comparison.metrics]
    assert [m.p_value_holm for m in comparison.metrics] == pytest.approx(functions.holm(raw))
    assert [m.p_value_bh for m in comparison.metrics] == pytest.approx(
        stats.false_discovery_control(raw, method="bh")
    )
    with pytest.raises(ValueError, match="not scored by both runs"):
        StatsEngine().compare(store, small.run_id, large.run_id, metric_ids=["nope"])


def test_identical_runs_show_no_difference(two_runs: tuple[InMemoryRunStore, str, str]) -> None:
    store, good, _ = two_runs
    metric = StatsEngine().compare(store, good, good).metric("builtin/exact_match")
    assert metric.difference == 0.0 and metric.p_value == 1.0
    assert not metric.significant and metric.better == "neither" and metric.better_run_id is None
    assert "no significant difference" in metric.describe()


def test_runs_without_shared_cases_are_refused() -> None:
    store = InMemoryRunStore()
    one = demo_experiment(0.0, cases=3).run(store=store)
    other = demo_experiment(0.0, datasets=[arithmetic_dataset("elsewhere", 3)]).run(store=store)
    with pytest.raises(ValueError, match="share no scored case"):
        StatsEngine().compare(store, one.run_id, other.run_id)


def test_summaries_exclude_errors_and_use_the_bootstrap() -> None:
    dataset = arithmetic_dataset(count=12)
    unscorable = dataset.cases[0].model_copy(update={"expected_output": None})
    dataset = dataset.model_copy(update={"cases": [unscorable, *dataset.cases[1:]]})
    store = InMemoryRunStore()
    run = demo_experiment(0.5, datasets=[dataset]).run(store=store)
    (summary,) = StatsEngine().summarize(store, run.run_id)
    values = [row.value for row in store.score_rows(run.run_id) if row.value is not None]
    assert summary.n == 11 and summary.errors == 1
    assert summary.mean == pytest.approx(np.mean(values))
    assert summary.ci_low is not None and summary.ci_high is not None
    assert summary.ci_low < summary.mean < summary.ci_high


def test_format_p() -> None:
    assert format_p(None) == "n/a"
    assert format_p(3e-7) == "< 0.0001"
    assert format_p(0.01234) == "0.0123"
    assert format_p(0.5) == "0.500"
