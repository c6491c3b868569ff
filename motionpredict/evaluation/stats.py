"""Statistics over runs: spread over seeds, paired tests between methods, cycle bootstrap.

A 20-frame test window alone proves little: results are reported with their spread over random
initialisations (seeds), methods are compared on the same sequences with the Wilcoxon signed-rank
test, and within a sequence the uncertainty of a mean error difference is estimated by resampling
whole breathing cycles (a block bootstrap: frames of one cycle are strongly correlated, so
resampling frames would overstate the evidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal, stats

from motionpredict.errors import ValidationError


@dataclass(frozen=True)
class Spread:
    """Mean, sample standard deviation, extremes and count of a set of values."""

    mean: float
    std: float
    min: float
    max: float
    n: int


def spread(values: Sequence[float]) -> Spread:
    """Spread of values (e.g. one metric over seeds); NaNs are ignored."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Spread(float("nan"), float("nan"), float("nan"), float("nan"), 0)
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return Spread(float(v.mean()), std, float(v.min()), float(v.max()), int(v.size))


def wilcoxon_paired(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of paired values (e.g. per-sequence errors).

    Returns
    -------
    (statistic, p_value)
        ``p_value`` is 1.0 when every pair is equal (no evidence of a difference).
    """
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValidationError(f"paired samples must be 1-D of equal length: {x.shape}, {y.shape}")
    if x.size < 2:
        raise ValidationError("a paired test needs at least 2 pairs")
    if np.allclose(x, y):
        return 0.0, 1.0
    res = stats.wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


def breathing_cycles(trace: Sequence[float], *, min_period_samples: int = 3) -> np.ndarray:
    """Start indices of breathing cycles: the peaks (end-exhale or end-inhale) of a trace.

    Parameters
    ----------
    trace
        ``(T,)`` breathing surrogate (first PCA weight, superior-inferior coordinate).
    min_period_samples
        Minimum distance between two cycle starts, in samples.

    Returns
    -------
    numpy.ndarray
        Sorted start indices, always beginning with 0 (the partial first cycle).
    """
    x = np.asarray(trace, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValidationError("a breathing trace must be 1-D with >= 2 samples")
    prom = 0.2 * (np.percentile(x, 95) - np.percentile(x, 5))
    peaks, _ = signal.find_peaks(x, distance=max(1, int(min_period_samples)),
                                 prominence=prom if prom > 0 else None)
    return np.unique(np.concatenate([[0], peaks]).astype(int))


def cycle_bootstrap(
    diff: Sequence[float],
    trace: Sequence[float],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Confidence interval of a mean per-frame difference by resampling breathing cycles.

    Parameters
    ----------
    diff
        ``(T,)`` per-frame paired differences (e.g. error of method A minus method B, mm).
    trace
        ``(T,)`` breathing surrogate of the same frames, to cut them into cycles.
    n_boot
        Bootstrap resamples.
    seed
        Random seed.
    level
        Confidence level.

    Returns
    -------
    (mean, low, high)
        Observed mean difference and the percentile interval.
    """
    d = np.asarray(diff, dtype=np.float64)
    if d.shape != np.asarray(trace).shape:
        raise ValidationError("diff and trace must have the same length")
    starts = breathing_cycles(trace)
    bounds = np.append(starts, d.size)
    blocks = [d[bounds[i]: bounds[i + 1]] for i in range(len(starts)) if bounds[i + 1] > bounds[i]]
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for b in range(n_boot):
        pick = rng.integers(0, len(blocks), len(blocks))
        sample = np.concatenate([blocks[i] for i in pick])
        means[b] = sample.mean()
    alpha = (1 - level) / 2
    return float(d.mean()), float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))
