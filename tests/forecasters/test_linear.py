"""Linear regression on the last k samples: exact recovery, OLS equivalence, padding, errors."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters import run_online
from motionpredict.forecasters.base import History
from motionpredict.forecasters.linear import LinearRegression, lagged_design


def test_lagged_design_matches_online_history() -> None:
    y = np.random.default_rng(0).standard_normal((20, 2))
    windows, targets = lagged_design(y, 4, 3)
    assert windows.shape == (17, 4, 2) and targets.shape == (17, 2)
    hist = History(4, 2)
    for t in range(17):
        hist.push(y[t])
        np.testing.assert_array_equal(windows[t].ravel(), hist.vector())
        np.testing.assert_array_equal(targets[t], y[t + 3])
    with pytest.raises(ValidationError):
        lagged_design(y[:3], 4, 3)


def test_recovers_an_exact_linear_dynamics() -> None:
    """A noise-free sinusoid pair obeys an exact linear recurrence: forecasts become exact."""
    t = np.arange(400) * 0.1
    y = np.stack([np.sin(2 * np.pi * t / 4), np.cos(2 * np.pi * t / 4)], axis=1)
    f = LinearRegression(horizon=5, n_features=2, k=3)
    run = run_online(f, y, fit_until=200)
    np.testing.assert_allclose(run.predicted[205:], y[205:], atol=1e-8)


def test_ols_equals_lstsq_and_ridge_shrinks_towards_last_value() -> None:
    y = np.cumsum(np.random.default_rng(1).standard_normal((150, 2)), axis=0) * 0.1
    f = LinearRegression(horizon=2, n_features=2, k=3)
    f.fit(y)
    w, tg = lagged_design(y, 3, 2)
    x = np.concatenate([np.ones((len(w), 1)), w.reshape(len(w), -1)], axis=1)
    ref = np.linalg.lstsq(x, tg - w[:, -1], rcond=None)[0]
    np.testing.assert_allclose(f.coef, ref, atol=1e-10)
    big = LinearRegression(horizon=2, n_features=2, k=3, ridge=1e9)
    big.fit(y)
    assert np.abs(big.coef[1:]).max() < 1e-5
    out = big.step(y[10])
    np.testing.assert_allclose(out, y[10] + big.coef[0], atol=1e-12)


def test_errors() -> None:
    f = LinearRegression(horizon=1, n_features=2)
    with pytest.raises(ConfigurationError, match="fit"):
        f.step(np.zeros(2))
    with pytest.raises(ConfigurationError):
        LinearRegression(horizon=1, n_features=2, k=0)
    with pytest.raises(ConfigurationError):
        LinearRegression(horizon=1, n_features=2, ridge=-1.0)
    with pytest.raises(ConfigurationError, match="unknown"):
        LinearRegression(horizon=1, n_features=2, q=3)
