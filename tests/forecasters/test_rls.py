"""RLS: equals batch least squares, per-feature models, iterated AR, causal vs reference timing."""

from __future__ import annotations

import numpy as np
import pytest

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.linear import lagged_design
from motionpredict.forecasters.rls import RLS


def noisy_walk(n: int = 300, p: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.standard_normal((n, p)), axis=0) * 0.1 + np.sin(np.arange(n) / 5)[:, None]


def batch_ls(y: np.ndarray, k: int, h: int, delta: float) -> np.ndarray:
    """Regularised LS that RLS solves exactly: argmin |X W - dY|^2 + delta |W|^2."""
    w, tg = lagged_design(y, k, h)
    x = np.concatenate([np.ones((len(w), 1)), w.reshape(len(w), -1)], axis=1)
    return np.linalg.solve(x.T @ x + delta * np.eye(x.shape[1]), x.T @ (tg - w[:, -1]))


@pytest.mark.parametrize("h", [1, 4])
def test_causal_rls_equals_batch_least_squares_on_acquired_pairs(h: int) -> None:
    y = noisy_walk()
    f = RLS(horizon=h, n_features=2, k=3, forgetting=1.0, delta=0.5)
    for t in range(200):
        f.step(y[t])
    # at t = 199 the pairs with targets up to y[199] have been used
    np.testing.assert_allclose(f._core.W, batch_ls(y[:200], 3, h, 0.5), rtol=1e-7, atol=1e-9)


def test_reference_mode_uses_the_lookahead_target() -> None:
    y = noisy_walk()
    h = 4
    f = RLS(horizon=h, n_features=2, k=3, forgetting=1.0, delta=0.5, mode="reference")
    for t in range(200):
        f.step(y[t], lookahead=y[t + h])
    # h - 1 samples earlier than causal: targets up to y[199 + h] already used
    np.testing.assert_allclose(f._core.W, batch_ls(y[: 200 + h], 3, h, 0.5), rtol=1e-7, atol=1e-9)


def test_per_feature_models_equal_univariate_least_squares() -> None:
    y = noisy_walk(p=3)
    f = RLS(horizon=2, n_features=3, k=4, forgetting=1.0, delta=0.5, per_feature=True)
    for t in range(150):
        f.step(y[t])
    for j in range(3):
        np.testing.assert_allclose(
            f._core.W[j], batch_ls(y[:150, j : j + 1], 4, 2, 0.5)[:, 0], rtol=1e-7, atol=1e-9
        )


def test_recursive_model_forecasts_a_sinusoid_exactly() -> None:
    """A sampled sinusoid is an exact AR(2): the iterated one-step model is exact at any h."""
    y = np.sin(2 * np.pi * np.arange(400) * 0.1 / 3.7)[:, None]
    # forgetting: the first pairs, whose history is padded with y[0], are not AR(2) pairs
    f = RLS(horizon=9, n_features=1, k=2, forgetting=0.98, delta=1e-3, recursive=True)
    preds = np.array([f.step(y[t]) for t in range(391)])
    np.testing.assert_allclose(preds[200:, 0], y[209:400, 0], atol=5e-3)


def test_stride_selects_spaced_lags() -> None:
    y = noisy_walk()
    f = RLS(horizon=1, n_features=2, k=3, stride=4, per_feature=False)
    for t in range(20):
        f._lags.push(y[t])
    x = f._lags.features()
    np.testing.assert_array_equal(x[1:].reshape(3, 2), y[[11, 15, 19]])


def test_forgetting_tracks_a_change_of_dynamics() -> None:
    t = np.arange(1200)
    y = np.where(t < 600, np.sin(2 * np.pi * t / 40), 0.5 * np.sin(2 * np.pi * t / 25))[:, None]
    y = y + 0.01 * np.random.default_rng(0).standard_normal(y.shape)
    errs = {}
    for lam in (1.0, 0.98):
        f = RLS(horizon=5, n_features=1, k=4, forgetting=lam)
        p = np.array([f.step(y[i]) for i in range(1195)])
        errs[lam] = np.sqrt(np.mean((p[800:, 0] - y[805:, 0]) ** 2))
    assert errs[0.98] < 0.2 * errs[1.0]
    assert errs[0.98] < 0.03


def test_invalid_settings() -> None:
    with pytest.raises(ConfigurationError):
        RLS(horizon=1, n_features=1, forgetting=1.5)
    with pytest.raises(ConfigurationError):
        RLS(horizon=1, n_features=1, delta=0.0)
    with pytest.raises(ConfigurationError):
        RLS(horizon=1, n_features=1, stride=0)
