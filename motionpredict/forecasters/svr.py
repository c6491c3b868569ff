"""Support vector regression with an RBF kernel (scikit-learn), one regressor per feature.

Input ``x_t = [y_{t-k+1}, ..., y_t]`` (``k p`` standardised values); feature ``j`` of the forecast
is ``y_{t+h, j} = y_{t, j} + f_j(x_t)`` where ``f_j`` is an epsilon-insensitive SVR with kernel::

    K(x, x') = exp(-|x - x'|^2 / s^2)          s = kernel_scale (MATLAB's KernelScale)

fitted on the training pairs (offline, no learning afterwards; the mode does not change it).
``C`` is the box constraint, ``epsilon`` the half-width of the insensitive tube (standardised
units).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import Forecaster, History, HyperParameter
from motionpredict.forecasters.linear import K_GRIDS, lagged_design
from motionpredict.forecasters.registry import register


@register
class SVRForecaster(Forecaster):
    """RBF support vector regression on the last ``k`` samples, one model per feature."""

    name = "svr"
    online = False
    hyperparameters = (
        HyperParameter("k", 12, K_GRIDS["markers-10hz"], "history length (samples)"),
        HyperParameter("kernel_scale", 100.0, (100.0, 200.0, 500.0, 1000.0), "RBF length scale s"),
        HyperParameter("epsilon", 0.01, (0.005, 0.01, 0.02, 0.05), "insensitive tube half-width"),
        HyperParameter("C", 100.0, (100.0, 200.0, 500.0, 1000.0), "box constraint"),
    )
    test_params: ClassVar[dict[str, Any]] = {
        "k": 6,
        "kernel_scale": 5.0,
        "epsilon": 0.01,
        "C": 10.0,
    }
    published_grids: ClassVar[dict[str, dict[str, tuple[Any, ...]]]] = {
        name: {"k": grid} for name, grid in K_GRIDS.items()
    }

    def _reset_model(self) -> None:
        k = int(self.params["k"])
        if k < 1:
            raise ConfigurationError(f"svr: k must be >= 1, got {k}")
        for name in ("kernel_scale", "epsilon", "C"):
            if float(self.params[name]) <= 0:
                raise ConfigurationError(f"svr: {name} must be > 0, got {self.params[name]}")
        self._history = History(k, self.n_features)
        if not hasattr(self, "models"):
            self.models: list[Any] | None = None  # sklearn.svm.SVR, one per feature

    def fit(self, series: np.ndarray) -> None:
        """Fit one SVR per feature on all training pairs of ``series`` (``(T_fit, p)``)."""
        windows, targets = lagged_design(series, int(self.params["k"]), self.horizon)
        x = windows.reshape(len(windows), -1)
        dy = targets - windows[:, -1, :]
        from sklearn.svm import SVR as SklearnSVR  # lazy: scikit-learn takes ~1 s to import

        gamma = 1.0 / float(self.params["kernel_scale"]) ** 2
        self.models = []
        for j in range(self.n_features):
            model = SklearnSVR(
                kernel="rbf",
                gamma=gamma,
                C=float(self.params["C"]),
                epsilon=float(self.params["epsilon"]),
            )
            model.fit(x, dy[:, j])
            self.models.append(model)

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        if self.models is None:
            raise ConfigurationError("svr: fit() must be called on the training window first")
        self._history.push(y)
        x = self._history.vector()[None, :]
        return y + np.array([m.predict(x)[0] for m in self.models])
