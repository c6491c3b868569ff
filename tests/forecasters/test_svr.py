"""SVR: same as scikit-learn fitted on the same pairs; kernel scale -> gamma; errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import SVR

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.linear import lagged_design
from motionpredict.forecasters.svr import SVRForecaster


def test_matches_sklearn_per_feature() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(200) * 0.1
    y = np.stack([np.sin(t), np.cos(1.3 * t)], 1) + 0.01 * rng.standard_normal((200, 2))
    f = SVRForecaster(horizon=3, n_features=2, k=4, kernel_scale=3.0, epsilon=0.02, C=50.0)
    f.fit(y[:150])
    w, tg = lagged_design(y[:150], 4, 3)
    x = w.reshape(len(w), -1)
    for j in range(2):
        ref = SVR(kernel="rbf", gamma=1 / 9.0, epsilon=0.02, C=50.0).fit(x, tg[:, j] - w[:, -1, j])
        np.testing.assert_allclose(f.models[j].dual_coef_, ref.dual_coef_)
    for i in range(150):
        out = f.step(y[i])
    np.testing.assert_allclose(
        out,
        y[149] + [m.predict(y[146:150].reshape(1, -1))[0] for m in f.models],
    )
    # fitted well: close to the truth inside the training range
    assert np.abs(out - y[152]).max() < 0.1


def test_errors() -> None:
    with pytest.raises(ConfigurationError):
        SVRForecaster(horizon=1, n_features=1, C=0.0)
    with pytest.raises(ConfigurationError, match="fit"):
        SVRForecaster(horizon=1, n_features=1).step(np.zeros(1))
