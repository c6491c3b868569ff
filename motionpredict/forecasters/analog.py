"""Analog (nearest-neighbour) forecasting on the delay embedding of the recent past.

Breathing is quasi-periodic: the way the recent past looks (its shape over about one cycle) tells
where in the cycle the patient is, and what followed similar-looking moments in the past is a good
guess of what follows now. At time ``t`` the forecaster builds the delay embedding of the last
``m`` samples spaced ``stride`` apart, centred on the newest sample (so a slow baseline drift does
not change it)::

    e_t = [y_{t-(m-1)s} - y_t, ..., y_{t-s} - y_t]                      ((m - 1) p values)

and keeps a library of past pairs ``(e_tau, y_{tau+h} - y_tau)``. The forecast is the newest
sample plus the inverse-distance weighted mean increment of the ``K`` nearest library entries::

    D_tau = |e_tau - e_t|^2,   w_tau = 1 / (D_tau + eps),   eps = 1e-3 mean(D) + 1e-12
    yhat_{t+h} = y_t + sum_{tau in kNN} w_tau (y_{tau+h} - y_tau) / sum w_tau

Causal mode: the pair of time ``tau`` enters the library at ``tau + h``, when its target has been
acquired; the library keeps the ``library`` newest pairs (a window of ``library`` samples, so it
follows a change of breathing pattern). Reference mode adds the pair of time ``t`` right after
predicting at ``t`` (look-ahead, published behaviour). Until ``K`` pairs are known the forecast is
the last value. Cost per step: ``O(library (m - 1) p)``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import Forecaster, History, HyperParameter
from motionpredict.forecasters.registry import register


@register
class Analog(Forecaster):
    """k-nearest-neighbour analog forecaster on the centred delay embedding (direct, h-step)."""

    name = "analog"
    online = True
    hyperparameters = (
        HyperParameter("m", 10, (5, 10, 20), "embedding length (samples in the pattern)"),
        HyperParameter("stride", 2, (1, 2, 3, 6), "samples between two embedding lags"),
        HyperParameter("neighbours", 10, (5, 10, 20), "number K of nearest neighbours averaged"),
        HyperParameter(
            "library", 1000, (300, 1000, 3000), "library size (newest pairs kept, samples)"
        ),
    )
    test_params: ClassVar[dict[str, Any]] = {"m": 4, "stride": 1, "neighbours": 3, "library": 50}

    def _reset_model(self) -> None:
        m, s = int(self.params["m"]), int(self.params["stride"])
        k, lib = int(self.params["neighbours"]), int(self.params["library"])
        if m < 2 or s < 1:
            raise ConfigurationError(f"analog: m must be >= 2 and stride >= 1, got {m}, {s}")
        if k < 1 or lib < k:
            raise ConfigurationError(
                f"analog: need 1 <= neighbours <= library, got neighbours={k}, library={lib}"
            )
        p = self.n_features
        self._window = History((m - 1) * s + 1, p)
        self._dim = (m - 1) * p
        self._emb = np.zeros((lib, self._dim))
        self._inc = np.zeros((lib, p))
        self._count = 0  # pairs ever added; slot = count % library
        self._pending: deque[tuple[np.ndarray, np.ndarray]] = deque()

    def _embedding(self) -> np.ndarray:
        s = int(self.params["stride"])
        w = self._window.vector().reshape(-1, self.n_features)
        lags = w[:-1][::-1][s - 1 :: s][::-1]  # (m - 1, p), oldest first, excludes y_t
        return (lags - w[-1]).ravel()

    def _add(self, emb: np.ndarray, inc: np.ndarray) -> None:
        slot = self._count % self._emb.shape[0]
        self._emb[slot] = emb
        self._inc[slot] = inc
        self._count += 1

    def _forecast(self, y: np.ndarray, emb: np.ndarray) -> np.ndarray:
        n = min(self._count, self._emb.shape[0])
        k = int(self.params["neighbours"])
        if n < k:
            return y.copy()
        d = np.sum((self._emb[:n] - emb) ** 2, axis=1)
        nn = np.argpartition(d, k - 1)[:k] if k < n else np.arange(n)
        w = 1.0 / (d[nn] + 1e-3 * float(d.mean()) + 1e-12)
        return y + (w @ self._inc[nn]) / w.sum()

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        if len(self._pending) == self.horizon:
            emb_old, y_old = self._pending.popleft()
            self._add(emb_old, y - y_old)
        self._window.push(y)
        emb = self._embedding()
        pred = self._forecast(y, emb)
        if lookahead is not None:
            self._add(emb, lookahead - y)
        elif self.mode == "causal":
            self._pending.append((emb, y))
        return pred
