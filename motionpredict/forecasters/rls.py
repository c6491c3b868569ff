"""Causal recursive least squares (RLS) with a forgetting factor: a strong classical baseline.

Model (standardised samples, ``p`` features, ``k`` lags spaced ``stride`` samples apart)::

    x_t = [1, y_{t-(k-1)s}, ..., y_{t-s}, y_t]     forecast  y_{t+h} = y_t + x_t W

``W`` minimises the exponentially forgotten least-squares cost
``sum_s lambda^(n-s) |y_{s+h} - y_s - x_s W|^2`` over the pairs whose target has been acquired,
updated in ``O(d^2)`` per sample with the inverse correlation matrix ``P``::

    g = P x / (lambda + x' P x)
    W <- W + g (d_target - x' W)
    P <- (P - g x' P) / lambda

``P`` starts at ``delta^-1 I`` (a prior towards "no prediction"). With ``lambda < 1``, ``P`` is
scaled back whenever its trace exceeds ``1e4`` times the initial one (anti-windup).

Multivariate (default): one input vector ``d = 1 + k p`` and one ``P`` shared by the ``p``
outputs. ``per_feature=True``: ``p`` independent univariate models (``d = 1 + k``), each feature
predicted from its own past only; cheaper and less noise-prone when the features are strongly
correlated (marker coordinates).

Causal mode: the pair ``(x_{t-h}, y_t - y_{t-h})`` is used at time ``t``, when ``y_t`` arrives.
Reference mode: right after predicting at ``t``, the pair ``(x_t, y_{t+h} - y_t)`` is used
(look-ahead, published behaviour).

``recursive=True``: the one-step model (pairs at ``h = 1``, always causal since the target arrives
one sample later) iterated ``h`` times on its own forecasts (an AR model); the mode does not
change it.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import Forecaster, History, HyperParameter
from motionpredict.forecasters.linear import K_GRIDS
from motionpredict.forecasters.registry import register


class RLSCore:
    """Exponentially weighted RLS, multi-output with a shared ``P`` or one model per output.

    Parameters
    ----------
    d
        Input dimension (per output when ``per_feature``).
    p
        Number of outputs.
    forgetting
        Forgetting factor ``lambda`` in (0, 1].
    delta
        Initial ``P = I / delta``.
    per_feature
        Inputs are ``(p, d)`` (one row per output) instead of ``(d,)``.
    """

    def __init__(self, d: int, p: int, forgetting: float, delta: float, per_feature: bool) -> None:
        self.forgetting = float(forgetting)
        self.per_feature = bool(per_feature)
        #: cap on trace(P) / d: with forgetting, P grows without bound while the inputs do not
        #: excite every direction (windup); it is scaled back below 1e4 times the prior's size.
        self.max_p_diag = 1e4 / float(delta)
        if self.per_feature:
            self.P = np.repeat(np.eye(d)[None] / float(delta), p, axis=0)
            self.W = np.zeros((p, d))
        else:
            self.P = np.eye(d) / float(delta)
            self.W = np.zeros((d, p))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return the ``(p,)`` output for input ``x`` (``(d,)`` or ``(p, d)``)."""
        if self.per_feature:
            return np.einsum("pi,pi->p", x, self.W)
        return x @ self.W

    def update(self, x: np.ndarray, target: np.ndarray) -> None:
        """One RLS step on the pair ``(x, target (p,))``."""
        lam = self.forgetting
        if self.per_feature:
            px = np.einsum("pij,pj->pi", self.P, x)
            g = px / (lam + np.einsum("pi,pi->p", x, px))[:, None]
            self.W += g * (target - np.einsum("pi,pi->p", x, self.W))[:, None]
            self.P -= g[:, :, None] * px[:, None, :]
            d = self.P.shape[1]
            tr = np.einsum("pii->p", self.P)
        else:
            px = self.P @ x
            g = px / (lam + x @ px)
            self.W += np.outer(g, target - x @ self.W)
            self.P -= np.outer(g, px)
            d = self.P.shape[0]
            tr = np.trace(self.P)
        if lam == 1.0:
            return
        self.P /= lam
        tr = tr / lam
        scale = np.minimum(1.0, self.max_p_diag * d / np.maximum(tr, 1e-300))
        if np.any(scale < 1.0):
            if self.per_feature:
                self.P *= np.reshape(scale, (-1, 1, 1))
            else:
                self.P *= float(scale)

    def finite(self) -> bool:
        """True while ``W`` and ``P`` hold finite values."""
        return bool(np.isfinite(self.W).all() and np.isfinite(self.P).all())


class LagWindow:
    """The last ``(k - 1) stride + 1`` samples and the lagged input vector built from them.

    Parameters
    ----------
    k
        Number of lags.
    stride
        Samples between two lags.
    p
        Features per sample.
    per_feature
        Build ``(p, 1 + k)`` inputs (one row per feature) instead of ``(1 + k p,)``.
    """

    def __init__(self, k: int, stride: int, p: int, per_feature: bool) -> None:
        self.k, self.stride, self.p, self.per_feature = int(k), int(stride), int(p), per_feature
        self.history = History((self.k - 1) * self.stride + 1, self.p)

    def push(self, y: np.ndarray) -> None:
        """Append one sample ``(p,)``."""
        self.history.push(y)

    def window(self) -> np.ndarray:
        """Return the ``(span, p)`` raw window, oldest first."""
        return self.history.vector().reshape(-1, self.p)

    def features(self, window: np.ndarray | None = None) -> np.ndarray:
        """Return the input vector for ``window`` (default: the current one)."""
        w = self.window() if window is None else window
        lags = w[:: -self.stride][::-1]  # (k, p), oldest first, ends with the newest sample
        if self.per_feature:
            return np.concatenate([np.ones((self.p, 1)), lags.T], axis=1)
        return np.concatenate([[1.0], lags.ravel()])


def iterate_one_step(core: RLSCore, lags: LagWindow, horizon: int) -> np.ndarray:
    """Forecast ``h`` samples ahead by feeding a one-step increment model its own forecasts.

    Parameters
    ----------
    core
        One-step model: ``y_{t+1} - y_t = features(window) W``.
    lags
        The current lag window (not modified).
    horizon
        ``h`` in samples.

    Returns
    -------
    numpy.ndarray
        ``(p,)`` forecast of ``y_{t+h}``.
    """
    window = lags.window().copy()
    y = window[-1].copy()
    for _ in range(horizon):
        y = y + core.predict(lags.features(window))
        window = np.roll(window, -1, axis=0)
        window[-1] = y
    return y


@register
class RLS(Forecaster):
    """Recursive least squares with forgetting, direct ``h``-step (or iterated one-step) model."""

    name = "rls"
    online = True
    hyperparameters = (
        HyperParameter("k", 12, K_GRIDS["markers-10hz"], "number of lags"),
        HyperParameter("stride", 1, (1, 2, 3), "samples between two lags"),
        HyperParameter(
            "forgetting", 0.999, (0.99, 0.995, 0.998, 0.999, 1.0), "forgetting factor lambda"
        ),
        HyperParameter("delta", 1.0, (0.1, 1.0, 10.0), "initial P = I / delta (prior strength)"),
        HyperParameter("per_feature", False, (False, True), "one univariate model per feature"),
        HyperParameter(
            "recursive", False, (False, True), "iterate the one-step model h times (AR)"
        ),
    )
    test_params: ClassVar[dict[str, Any]] = {"k": 6}
    published_grids: ClassVar[dict[str, dict[str, tuple[Any, ...]]]] = {
        name: {"k": grid} for name, grid in K_GRIDS.items()
    }

    def _reset_model(self) -> None:
        k, stride = int(self.params["k"]), int(self.params["stride"])
        lam = float(self.params["forgetting"])
        if k < 1 or stride < 1:
            raise ConfigurationError(f"rls: k and stride must be >= 1, got {k}, {stride}")
        if not 0.0 < lam <= 1.0:
            raise ConfigurationError(f"rls: forgetting must be in (0, 1], got {lam}")
        if float(self.params["delta"]) <= 0:
            raise ConfigurationError(f"rls: delta must be > 0, got {self.params['delta']}")
        p = self.n_features
        per = bool(self.params["per_feature"])
        d = 1 + k if per else 1 + k * p
        self._core = RLSCore(d, p, lam, float(self.params["delta"]), per)
        self._lags = LagWindow(k, stride, p, per)
        self._pending: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._prev: tuple[np.ndarray, np.ndarray] | None = None

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        core = self._core
        if bool(self.params["recursive"]):
            if self._prev is not None:
                core.update(self._prev[0], y - self._prev[1])
            self._lags.push(y)
            self._prev = (self._lags.features(), y)
            return iterate_one_step(core, self._lags, self.horizon)
        if len(self._pending) == self.horizon:
            x_old, y_old = self._pending.popleft()
            core.update(x_old, y - y_old)
        self._lags.push(y)
        x = self._lags.features()
        pred = y + core.predict(x)
        if lookahead is not None:
            core.update(x, lookahead - y)
        elif self.mode == "causal":
            self._pending.append((x, y))
        return pred

    def diverged(self) -> str | None:
        if not self._core.finite():
            return "RLS state became non-finite"
        return None
