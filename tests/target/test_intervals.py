"""Online adaptive conformal intervals: causality, known quantiles, coverage on phantom series."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from motionpredict.errors import MotionPredictError
from motionpredict.phantom.markers import make_markers
from motionpredict.target.intervals import AdaptiveConformal, conformal_series


def test_constant_residual_gives_that_width_and_full_coverage() -> None:
    t = np.arange(200, dtype=float)
    truth = np.stack([t % 9, (3 * t) % 7, t / 8], axis=1)  # exact in binary
    fc = truth + np.array([0.75, -1.0, 0.0])  # residual norm exactly 1.25 mm
    out = conformal_series(truth, fc, 2, gamma=0.0, min_scores=5)
    ready = out.ready
    # issued at t for t + 2, it sees the residuals of targets 2..t (t - 1 of them): ready from t = 6
    np.testing.assert_array_equal(np.flatnonzero(ready), np.arange(8, 200))
    np.testing.assert_array_equal(out.widths_mm[ready, 0], 1.25)
    assert out.coverage() == 1.0
    per = conformal_series(truth, fc, 2, gamma=0.0, min_scores=5, score="coordinate")
    np.testing.assert_allclose(
        per.widths_mm[per.ready], np.tile([0.75, 1.0, 0.0], (ready.sum(), 1))
    )


def test_gaussian_residuals_match_the_chi_quantile() -> None:
    rng = np.random.default_rng(0)
    n, sd = 6000, 1.5
    truth = np.zeros((n, 3))
    fc = rng.normal(0.0, sd, size=(n, 3))
    out = conformal_series(truth, fc, 1, gamma=0.0, window=None)
    late = np.arange(n) > 3000
    # radius of a 3D Gaussian: sd * chi(3) quantile
    assert out.widths_mm[late, 0].mean() == pytest.approx(sd * stats.chi(3).ppf(0.9), rel=0.03)
    assert 0.88 <= out.coverage(late) <= 0.92


def test_causal_the_future_does_not_change_past_intervals() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(300, 2))
    fc = truth + rng.normal(scale=0.5, size=(300, 2))
    h = 4
    a = conformal_series(truth, fc, h, gamma=0.01)
    truth2 = truth.copy()
    truth2[200:] += 50.0  # targets from 200 on change
    b = conformal_series(truth2, fc, h, gamma=0.01)
    # an interval for target i is issued at i - h; it may use targets <= i - h only
    np.testing.assert_array_equal(a.widths_mm[: 200 + h], b.widths_mm[: 200 + h])
    assert not np.array_equal(a.widths_mm[200 + h :], b.widths_mm[200 + h :])


def test_aci_adapts_to_a_change_in_noise() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    scale = np.where(np.arange(n) < 2000, 0.5, 2.0)
    truth = np.zeros((n, 1))
    fc = (rng.normal(size=n) * scale)[:, None]
    out = conformal_series(truth, fc, 1, gamma=0.02, window=200, score="coordinate")
    assert out.widths_mm[3500:].mean() > 3.0 * out.widths_mm[1500:2000].mean()
    assert 0.88 <= out.coverage() <= 0.92


@pytest.mark.parametrize("score", ["radius", "coordinate"])
def test_coverage_on_a_long_phantom_series(score) -> None:
    ph = make_markers(seed=5, duration_s=600.0, rate_hz=10.0, noise_mm=0.2)
    pos = ph.tumour.positions[:, 0, :] + np.random.default_rng(5).normal(0, 0.2, (6000, 3))
    h = 5  # 0.5 s ahead, forecast = linear extrapolation of the last two samples
    fc = np.full_like(pos, np.nan)
    fc[h + 1 :] = pos[1:-h] + h * (pos[1:-h] - pos[: -h - 1])
    out = conformal_series(pos, fc, h, start=h + 1, score=score)
    cov = out.coverage()
    assert 0.88 <= cov <= 0.92, cov
    assert np.all(np.isfinite(out.widths_mm)) and out.mean_width() > 0


def test_online_api_and_errors() -> None:
    aci = AdaptiveConformal(2, 1, min_scores=1, gamma=0.1)
    assert aci.observe(0, [0.0]) is None  # no forecast was issued for step 0
    w, ready = aci.issue(0, [1.0])
    assert not ready and w[0] == 0.0
    aci.observe(1, [0.0])
    covered = aci.observe(2, [3.0])  # the forecast issued at 0 for step 2 missed
    assert covered is not None and not covered[0]
    assert aci.alpha_t[0] == pytest.approx(0.1 + 0.1 * (0.1 - 1.0))
    w, ready = aci.issue(2, [0.0])
    assert ready and w[0] == pytest.approx(2.0)  # one score, level > 1: the largest score
    with pytest.raises(MotionPredictError):
        aci.issue(3, [np.nan])
    with pytest.raises(MotionPredictError):
        AdaptiveConformal(1, 1, alpha=1.5)
    with pytest.raises(MotionPredictError):
        conformal_series(np.zeros((5, 2)), np.zeros((5, 3)), 1)
