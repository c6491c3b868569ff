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
from numpy.typing import ArrayLike
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


def cycle_bootstrap_gain(
    pairs: Sequence[tuple[ArrayLike, ArrayLike, ArrayLike]],
    *,
    squared: bool,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """Gain of a method over a reference in % with an interval, resampling breathing cycles.

    For each sequence ``s`` the error is ``E_s = sqrt(mean e)`` (``squared``: per-frame squared
    errors, so that ``E_s`` is an RMSE) or ``E_s = mean e`` (per-frame mean errors), likewise
    ``R_s`` for the reference (e.g. no prediction) on the same frames; the gain is
    ``100 (1 - mean_s E_s / mean_s R_s)``. The interval is the percentile interval of the gain
    when the whole breathing cycles of each sequence are resampled with replacement (paired:
    method and reference keep the same frames; the cycles of one sequence stay in it).

    Parameters
    ----------
    pairs
        Per sequence: ``(method errors, reference errors, breathing trace)``, each ``(T_s,)``.
    squared
        True when the errors are per-frame squared errors (mm^2), False for mean errors (mm).
    n_boot, seed, level
        Resamples, random seed, confidence level.

    Returns
    -------
    (gain, low, high)
        In % (positive = lower error than the reference).

    Raises
    ------
    ValidationError
        No sequence, arrays of different lengths, or a reference error of 0.
    """
    if not pairs:
        raise ValidationError("cycle_bootstrap_gain needs at least one sequence")
    sums = []  # per sequence: (per-cycle sum of e, of r, frame count)
    for e, r, trace in pairs:
        ea, ra = np.asarray(e, dtype=np.float64), np.asarray(r, dtype=np.float64)
        tr = np.asarray(trace, dtype=np.float64)
        if not (ea.shape == ra.shape == tr.shape) or ea.ndim != 1:
            raise ValidationError("errors, reference errors and trace must be 1-D of one length")
        starts = breathing_cycles(tr.tolist())
        sums.append((np.add.reduceat(ea, starts), np.add.reduceat(ra, starts),
                     np.diff(np.append(starts, ea.size)).astype(np.float64)))

    def gain(chosen: list[np.ndarray]) -> float:
        es, rs = [], []
        for (se, sr, n), pick in zip(sums, chosen, strict=True):
            e, r = se[pick].sum() / n[pick].sum(), sr[pick].sum() / n[pick].sum()
            es.append(np.sqrt(e) if squared else e)
            rs.append(np.sqrt(r) if squared else r)
        den = float(np.mean(rs))
        return 100.0 * (1.0 - float(np.mean(es)) / den) if den > 0 else float("nan")

    observed = gain([np.arange(len(n)) for _, _, n in sums])
    if not np.isfinite(observed):
        raise ValidationError("the reference error is 0: no gain can be stated")
    rng = np.random.default_rng(seed)
    boots = np.array([gain([rng.integers(0, len(n), len(n)) for _, _, n in sums])
                      for _ in range(n_boot)])
    boots = boots[np.isfinite(boots)]
    alpha = (1 - level) / 2
    return observed, float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))
