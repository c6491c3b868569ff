"""LMS: the update formula, gradient clipping, causal timing, convergence."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.lms import LMS


def test_one_update_matches_the_formula() -> None:
    rng = np.random.default_rng(0)
    f = LMS(horizon=1, n_features=2, k=2, eta=0.05, mode="reference")
    f.W = rng.standard_normal(f.W.shape) * 0.1
    w0 = f.W.copy()
    y0, look = np.array([0.3, -0.2]), np.array([0.5, 0.1])
    pred = f.step(y0, lookahead=look)
    x = np.concatenate([[1.0], y0, y0])  # history padded with the first sample
    np.testing.assert_allclose(pred, x @ w0)
    np.testing.assert_allclose(f.W, w0 - 0.05 * np.outer(x, x @ w0 - look))


def test_gradient_is_clipped_at_the_threshold() -> None:
    f = LMS(horizon=1, n_features=1, k=1, eta=1.0, clip=0.5, mode="reference")
    f.step(np.array([10.0]), lookahead=np.array([-100.0]))
    assert np.linalg.norm(f.W) == pytest.approx(0.5)


def test_causal_update_waits_for_the_target() -> None:
    """Causal, h = 3: no learning before sample 3; the first update uses x_0 and y_3."""
    f = LMS(horizon=3, n_features=1, k=1, eta=0.1)
    ys = [0.5, 0.7, 0.9, 1.2]
    for y in ys[:3]:
        f.step(np.array([y]))
    np.testing.assert_array_equal(f.W, 0.0)
    f.step(np.array([ys[3]]))
    x0 = np.array([1.0, ys[0]])
    np.testing.assert_allclose(f.W[:, 0], 0.1 * x0 * ys[3])


def test_converges_on_a_linear_target() -> None:
    t = np.arange(3000) * 0.1
    y = np.sin(2 * np.pi * t / 4)[:, None]
    f = LMS(horizon=2, n_features=1, k=4, eta=0.05)
    preds = np.array([f.step(y[i]) for i in range(len(y) - 2)])
    err = np.abs(preds[-500:, 0] - y[-500:, 0])
    assert err.max() < 0.05


def test_invalid_settings() -> None:
    with pytest.raises(ConfigurationError):
        LMS(horizon=1, n_features=1, eta=0.0)
    with pytest.raises(ConfigurationError):
        LMS(horizon=1, n_features=1, k=0)
