"""The statistics themselves, as plain functions over numbers.

Each function takes float sequences and a ``numpy.random.Generator`` where it
resamples, so a seeded engine gives the same answer on every machine.
Resampling is vectorised in bounded chunks: a bootstrap over 100,000 cases
never allocates more than a few million numbers at once.

scipy is imported inside the functions that need it, so importing Themis
stays fast for everyone who never compares runs.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from typing import Any

from themis.core.analysis.stats.extra import unavailable

try:
    import numpy as np
    import numpy.typing as npt
except ModuleNotFoundError as missing:  # themis-eval-core installed without [stats]
    raise unavailable("numpy") from missing

FloatArray = npt.NDArray[np.float64]

_MAX_ELEMENTS = 4_000_000
"""Upper bound on resampled numbers held in memory at once."""

EXACT_PERMUTATION_LIMIT = 16
"""Sign-flip tests enumerate every flip up to this many pairs (65,536 flips)."""


def _scipy_stats() -> Any:
    """``scipy.stats``, imported on first use: it takes a second or more to import."""
    try:
        from scipy import stats  # type: ignore[import-untyped]
    except ModuleNotFoundError as missing:
        raise unavailable("scipy") from missing
    return stats


def as_array(values: Sequence[float] | FloatArray) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"expected a flat sequence of numbers, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("values must be finite numbers (no NaN or infinity)")
    return array


def bootstrap_means(values: FloatArray, resamples: int, rng: np.random.Generator) -> FloatArray:
    """Means of ``resamples`` bootstrap resamples (with replacement) of ``values``."""
    n = len(values)
    means = np.empty(resamples, dtype=np.float64)
    chunk = max(1, _MAX_ELEMENTS // max(n, 1))
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[indices].mean(axis=1)
    return means


def percentile_interval(samples: FloatArray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(
    values: Sequence[float] | FloatArray,
    *,
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean."""
    array = as_array(values)
    if len(array) == 0:
        raise ValueError("cannot bootstrap an empty sample")
    if np.all(array == array[0]):
        return float(array[0]), float(array[0])
    return percentile_interval(bootstrap_means(array, resamples, rng), confidence)


def paired_bootstrap(
    differences: Sequence[float] | FloatArray,
    *,
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """Confidence interval of the mean paired difference, and a two-sided p-value.

    The p-value comes from the same resamples, shifted to the null hypothesis
    of no difference (mean zero): the share of shifted resample means at least
    as far from zero as the observed mean, with the usual +1 correction so it
    is never exactly zero.
    """
    d = as_array(differences)
    if len(d) == 0:
        raise ValueError("cannot bootstrap an empty sample")
    observed = float(d.mean())
    if np.all(d == d[0]):
        return observed, observed, 1.0 if observed == 0.0 else 1.0 / (resamples + 1)
    means = bootstrap_means(d, resamples, rng)
    low, high = percentile_interval(means, confidence)
    tolerance = abs(observed) * np.finfo(np.float64).eps * 100
    extreme = np.count_nonzero(np.abs(means - observed) >= abs(observed) - tolerance)
    return low, high, float((extreme + 1) / (resamples + 1))


def sign_flip_test(
    differences: Sequence[float] | FloatArray, *, resamples: int, rng: np.random.Generator
) -> float:
    """Two-sided paired permutation test of the mean difference (sign flipping).

    Under the null hypothesis each pair's difference is as likely to have the
    other sign. Up to :data:`EXACT_PERMUTATION_LIMIT` pairs (and when that is
    no more than ``resamples`` flips) every sign assignment is enumerated;
    beyond that ``resamples`` random assignments are drawn and the p-value
    gets the +1 correction. The two-sided p-value is twice the smaller
    one-sided p-value, as in ``scipy.stats.permutation_test``.
    """
    d = as_array(differences)
    n = len(d)
    if n == 0:
        raise ValueError("cannot run a permutation test on an empty sample")
    observed = float(d.mean())
    exact = n <= EXACT_PERMUTATION_LIMIT and 2**n <= resamples
    if exact:
        flips = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        null = (flips * d).mean(axis=1)
        adjustment, total = 0, 2**n
    else:
        null = np.empty(resamples, dtype=np.float64)
        chunk = max(1, _MAX_ELEMENTS // n)
        for start in range(0, resamples, chunk):
            stop = min(resamples, start + chunk)
            signs = rng.choice(np.array([-1.0, 1.0]), size=(stop - start, n))
            null[start:stop] = (signs * d).mean(axis=1)
        adjustment, total = 1, resamples
    tolerance = abs(observed) * np.finfo(np.float64).eps * 100
    less = (np.count_nonzero(null <= observed + tolerance) + adjustment) / (total + adjustment)
    greater = (np.count_nonzero(null >= observed - tolerance) + adjustment) / (total + adjustment)
    return float(min(1.0, 2 * min(less, greater)))


def paired_t_test(differences: Sequence[float] | FloatArray) -> tuple[float | None, float | None]:
    """Student's paired t-test: (t statistic, two-sided p-value).

    Undefined (None, None) for fewer than two pairs or when every difference
    is the same non-zero number; (0.0, 1.0) when there is no difference at all.
    """
    d = as_array(differences)
    if len(d) < 2:
        return None, None
    if np.all(d == 0.0):
        return 0.0, 1.0
    if np.all(d == d[0]):
        return None, None
    stats = _scipy_stats()
    result = stats.ttest_1samp(d, 0.0)
    return float(result.statistic), float(result.pvalue)


def wilcoxon_signed_rank(
    differences: Sequence[float] | FloatArray,
) -> tuple[float | None, float | None]:
    """Wilcoxon signed-rank test: (statistic, two-sided p-value).

    Zero differences are dropped (Wilcoxon's convention); scipy picks the
    exact distribution for small samples without ties and the normal
    approximation otherwise. (0.0, 1.0) when every difference is zero.
    """
    d = as_array(differences)
    if len(d) == 0:
        return None, None
    if np.all(d == 0.0):
        return 0.0, 1.0
    stats = _scipy_stats()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def mcnemar_exact(
    baseline: Sequence[float] | FloatArray, candidate: Sequence[float] | FloatArray
) -> tuple[int, int, float]:
    """McNemar's exact test for paired 0/1 outcomes: (b, c, two-sided p-value).

    ``b`` counts pairs only the baseline got right, ``c`` pairs only the
    candidate got right; under the null hypothesis b ~ Binomial(b + c, 1/2).
    """
    base, cand = as_array(baseline), as_array(candidate)
    if not (is_binary(base) and is_binary(cand)):
        raise ValueError("McNemar's test needs 0/1 outcomes in both runs")
    b = int(np.count_nonzero((base == 1.0) & (cand == 0.0)))
    c = int(np.count_nonzero((base == 0.0) & (cand == 1.0)))
    if b + c == 0:
        return b, c, 1.0
    stats = _scipy_stats()
    p = 2.0 * float(stats.binom.cdf(min(b, c), b + c, 0.5))
    return b, c, min(1.0, p)


def cohens_dz(differences: Sequence[float] | FloatArray) -> float | None:
    """Cohen's d for paired samples: mean difference over its standard deviation.

    0.0 when there is no difference at all; None when undefined (fewer than
    two pairs, or a constant non-zero difference).
    """
    d = as_array(differences)
    if len(d) < 2:
        return None
    if np.all(d == 0.0):
        return 0.0
    spread = float(d.std(ddof=1))
    if spread == 0.0:
        return None
    return float(d.mean()) / spread


def is_binary(values: FloatArray) -> bool:
    return bool(np.all((values == 0.0) | (values == 1.0)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error rate)."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjustment (false discovery rate)."""
    m = len(p_values)
    adjusted = [0.0] * m
    running = 1.0
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    for position, index in enumerate(order):
        rank = m - position
        running = min(running, p_values[index] * m / rank)
        adjusted[index] = min(1.0, running)
    return adjusted


def seeded_rng(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded by ``seed`` and names, so each metric's draws are
    independent of which other metrics are analysed alongside it."""
    salt = int(hashlib.sha256("\x1f".join(names).encode()).hexdigest()[:16], 16)
    return np.random.default_rng(np.random.SeedSequence([seed, salt]))
