"""Multivariate linear regression on the last ``k`` samples (offline, fitted on training pairs).

Model (all quantities standardised, ``p`` features, horizon ``h`` samples)::

    x_t = [1, y_{t-k+1}, ..., y_t]                    (1 + k p,)
    y_{t+h} - y_t  ~  x_t @ W                         W: (1 + k p, p)

``W`` minimises ``sum_t |y_{t+h} - y_t - x_t W|^2 + ridge * |W_no_bias|^2`` over the training pairs
(ordinary least squares when ``ridge = 0``). Regressing the increment rather than the value is the
same model for OLS (``y_t`` is an input) but makes the ridge penalty shrink towards "no prediction".

Also holds :func:`lagged_design`, the training-pair builder shared by the offline methods.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.forecasters.base import Forecaster, History, HyperParameter
from motionpredict.forecasters.registry import register

#: Published history lengths ``k`` (samples) per data set (``../shared/data/README.md``).
K_GRIDS: dict[str, tuple[int, ...]] = {
    "eth": (6, 12, 18, 24, 30),
    "ovgu": (11, 23, 34, 45, 57),
    "markers-3.33hz": (4, 8, 12, 16, 20),
    "markers-10hz": (12, 24, 36, 48, 60),
    "markers-30hz": (36, 72, 108, 144, 180),
}


def lagged_design(series: np.ndarray, k: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Build the training pairs of a direct ``h``-step forecaster.

    The inputs are padded with the first sample exactly as :class:`~.base.History` pads them
    online, so a model fitted here sees the same inputs when it runs.

    Parameters
    ----------
    series
        ``(T, p)`` standardised samples; every target ``t + h`` lies inside it.
    k
        History length in samples.
    horizon
        ``h`` in samples.

    Returns
    -------
    windows, targets
        ``(n, k, p)`` input windows (oldest first) ending at ``t = 0 .. T - h - 1`` and the
        ``(n, p)`` targets ``y_{t+h}``, ``n = T - h``.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 2:
        raise ValidationError(f"series must be (T, p), got shape {series.shape}")
    n_t = series.shape[0]
    n = n_t - horizon
    if n < 1:
        raise ValidationError(
            f"a training window of {n_t} samples holds no pair at horizon {horizon} samples"
        )
    padded = np.concatenate([np.repeat(series[:1], k - 1, axis=0), series], axis=0)
    idx = np.arange(n)[:, None] + np.arange(k)[None, :]
    windows = padded[idx]
    return windows, series[horizon : horizon + n]


@register
class LinearRegression(Forecaster):
    """Ridge / ordinary least-squares regression of ``y_{t+h}`` on the last ``k`` samples.

    Offline: fitted once on the training pairs by :meth:`fit`, no learning afterwards (the mode
    does not change it).
    """

    name = "linear"
    online = False
    hyperparameters = (
        HyperParameter("k", 12, K_GRIDS["markers-10hz"], "history length (samples)"),
        HyperParameter("ridge", 0.0, (0.0,), "ridge penalty on the non-bias weights (0 = OLS)"),
    )
    test_params: ClassVar[dict[str, Any]] = {"k": 6, "ridge": 1e-3}
    published_grids: ClassVar[dict[str, dict[str, tuple[Any, ...]]]] = {
        name: {"k": grid} for name, grid in K_GRIDS.items()
    }

    def _reset_model(self) -> None:
        k = int(self.params["k"])
        if k < 1:
            raise ConfigurationError(f"linear: k must be >= 1, got {k}")
        if float(self.params["ridge"]) < 0:
            raise ConfigurationError(f"linear: ridge must be >= 0, got {self.params['ridge']}")
        self._history = History(k, self.n_features)
        if not hasattr(self, "coef"):
            self.coef: np.ndarray | None = None

    def fit(self, series: np.ndarray) -> None:
        """Fit ``W`` on all training pairs of ``series`` (``(T_fit, p)``, standardised)."""
        k = int(self.params["k"])
        windows, targets = lagged_design(series, k, self.horizon)
        x = np.concatenate([np.ones((len(windows), 1)), windows.reshape(len(windows), -1)], 1)
        dy = targets - windows[:, -1, :]
        ridge = float(self.params["ridge"])
        if ridge == 0.0:
            self.coef = np.linalg.lstsq(x, dy, rcond=None)[0]
        else:
            gram = x.T @ x
            pen = np.full(x.shape[1], ridge)
            pen[0] = 0.0
            self.coef = np.linalg.solve(gram + np.diag(pen), x.T @ dy)

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        if self.coef is None:
            raise ConfigurationError("linear: fit() must be called on the training window first")
        self._history.push(y)
        x = np.concatenate([[1.0], self._history.vector()])
        return y + x @ self.coef
