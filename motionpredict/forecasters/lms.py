"""Least mean squares (LMS): online linear regression by clipped stochastic gradient descent.

Model (standardised samples, ``p`` features)::

    x_t = [1, y_{t-k+1}, ..., y_t]   (d = 1 + k p),     forecast  y_{t+h} = x_t W

Each update takes one step on the squared error ``L = |x W - target|^2 / 2``::

    G = x' (x W - target)             (d x p)
    G <- G * min(1, c / |G|_F)        gradient clipping at norm c
    W <- W - eta G

``W`` starts at zero. Causal mode: at time ``t`` the update uses the kept input ``x_{t-h}`` and the
target ``y_t`` just acquired (gradient at the current weights). Reference mode: right after
predicting at ``t`` the update uses ``x_t`` and ``y_{t+h}`` (look-ahead, published behaviour).
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import Forecaster, History, HyperParameter
from motionpredict.forecasters.linear import K_GRIDS
from motionpredict.forecasters.registry import register

#: Published LMS learning rates per data set (``../shared/data/README.md``).
ETA_GRIDS: dict[str, tuple[float, ...]] = {
    "eth": (0.02, 0.05, 0.1, 0.2),
    "ovgu": (0.02, 0.05, 0.1, 0.2),
    "markers-3.33hz": (2e-4, 5e-4, 1e-3),
    "markers-10hz": (1e-4, 2e-4, 5e-4),
    "markers-30hz": (5e-5, 1e-4, 2e-4),
}

#: Weight norm above which the model is declared diverged (standardised units).
_MAX_WEIGHT = 1e6


@register
class LMS(Forecaster):
    """Online linear regression trained by clipped SGD (least mean squares)."""

    name = "lms"
    online = True
    hyperparameters = (
        HyperParameter("k", 12, K_GRIDS["markers-10hz"], "history length (samples)"),
        HyperParameter("eta", 2e-4, ETA_GRIDS["markers-10hz"], "learning rate"),
        HyperParameter("clip", 100.0, (100.0,), "gradient norm clipping threshold"),
    )
    test_params: ClassVar[dict[str, Any]] = {"k": 6, "eta": 0.01}
    published_grids: ClassVar[dict[str, dict[str, tuple[Any, ...]]]] = {
        name: {"k": K_GRIDS[name], "eta": ETA_GRIDS[name]} for name in K_GRIDS
    }

    def _reset_model(self) -> None:
        k = int(self.params["k"])
        if k < 1:
            raise ConfigurationError(f"lms: k must be >= 1, got {k}")
        if float(self.params["eta"]) <= 0 or float(self.params["clip"]) <= 0:
            raise ConfigurationError("lms: eta and clip must be > 0")
        self.W = np.zeros((1 + k * self.n_features, self.n_features))
        self._history = History(k, self.n_features)
        self._pending: deque[np.ndarray] = deque()

    def _update(self, x: np.ndarray, target: np.ndarray) -> None:
        grad = np.outer(x, x @ self.W - target)
        norm = float(np.linalg.norm(grad))
        clip = float(self.params["clip"])
        if norm > clip:
            grad *= clip / norm
        self.W -= float(self.params["eta"]) * grad

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        if len(self._pending) == self.horizon:
            self._update(self._pending.popleft(), y)
        self._history.push(y)
        x = np.concatenate([[1.0], self._history.vector()])
        pred = x @ self.W
        if lookahead is not None:
            self._update(x, lookahead)
        elif self.mode == "causal":
            self._pending.append(x)
        return pred

    def diverged(self) -> str | None:
        if not np.isfinite(self.W).all():
            return "LMS weights became non-finite"
        if np.abs(self.W).max() > _MAX_WEIGHT:
            return "LMS weights exploded"
        return None
