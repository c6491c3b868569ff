"""Causal Kalman filter with a bank of harmonic oscillators whose frequency follows the breathing.

Breathing is quasi-periodic: each coordinate is modelled as a slowly wandering baseline ``c`` plus
``n_h`` harmonics of one fundamental angular frequency ``omega`` (rad per sample), each a damped
rotating phasor ``(a_k, b_k)``::

    state      x_t = [c, a_1, b_1, ..., a_nh, b_nh]                   (1 + 2 n_h values)
    transition c_{t+1} = c_t + w_c,
               [a_k, b_k]_{t+1} = rho R(k omega) [a_k, b_k]_t + w_k,   R(phi) = [[cos, -sin],
                                                                              [sin,  cos]]
    observation y_t = c_t + sum_k a_{k,t} + v_t,    v_t ~ N(0, r)

with white process noise ``w_c ~ N(0, q_level s^2)``, ``w_k ~ N(0, q s^2 I / k^2)`` (``s^2``: the
coordinate's variance over the recent window; higher harmonics carry less power) and measurement
noise ``r``. One filter runs per feature (coordinate); they share ``omega``. The forecast of
``y_{t+h}`` propagates the filtered state ``h`` steps without new data::

    yhat_{t+h} = H F^h x_{t|t},    H = [1, 1, 0, 1, 0, ...]

so the forecast is a smoothed (denoised) current position carried along the fitted cycle; the
damping ``rho`` makes the oscillating part fade towards the baseline when the phase is uncertain.

Online adaptation (from past samples only), every ``refresh`` samples on the last ``window``:

- ``omega = 2 pi / T`` with the period ``T`` (samples) at the first peak of the mean (over
  features) normalised autocorrelation after its first zero crossing that reaches 80 % of the
  highest peak, refined by a parabola through the peak and its neighbours;
- ``r``: the white-noise variance per feature from third differences, robustly
  (``r = (1.4826 MAD(diff^3 y))^2 / 20``; a white noise of variance ``r`` gives third differences
  of variance ``20 r``, a smooth breathing curve sampled finely almost none);
- ``s^2``: the variance of each feature over the window.

Until the first estimate (``window / 2`` samples) the forecast is the last value. The filter does
not learn from targets, so causal and reference modes give the same forecasts. Cost per step:
``O(p (1 + 2 n_h)^2)`` plus an FFT of the window every ``refresh`` samples.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from motionpredict.errors import ConfigurationError
from motionpredict.forecasters.base import Forecaster, History, HyperParameter
from motionpredict.forecasters.registry import register

#: MAD -> standard deviation of a Gaussian
MAD_TO_SD = 1.4826


def dominant_period(window: np.ndarray, min_lag: int = 3) -> float | None:
    """Estimate the dominant period (samples) of a ``(n, p)`` window from its autocorrelation.

    Parameters
    ----------
    window
        ``(n, p)`` samples, oldest first.
    min_lag
        Smallest period accepted (samples).

    Returns
    -------
    float or None
        Period in samples (sub-sample, parabolic refinement): the first local maximum of the mean
        autocorrelation after its first zero crossing that reaches 80 % of the highest maximum
        there (so not a multiple of the period); ``None`` when there is none below ``n / 2``.
    """
    x = window - window.mean(axis=0)
    n = x.shape[0]
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(x, nfft, axis=0)
    acf = np.fft.irfft(np.abs(spec) ** 2, nfft, axis=0)[: n // 2]
    var = acf[0]
    ok = var > 1e-12
    if not np.any(ok):
        return None
    # unbiased normalisation: lag l has n - l products
    mean_acf = np.mean(acf[:, ok] / var[ok], axis=1) * n / (n - np.arange(n // 2))
    below = np.nonzero(mean_acf < 0)[0]
    if below.size == 0:
        return None
    start = max(int(below[0]), min_lag)
    if start >= len(mean_acf) - 1:
        return None
    tail = mean_acf[start:]
    top = float(tail.max())
    if top <= 0:
        return None
    # the first local maximum reaching 80 % of the highest one (not a multiple of the period)
    inner = np.nonzero(
        (tail[1:-1] >= tail[:-2]) & (tail[1:-1] >= tail[2:]) & (tail[1:-1] >= 0.8 * top)
    )[0]
    if inner.size == 0:
        return None
    peak = start + 1 + int(inner[0])
    a, b, c = mean_acf[peak - 1], mean_acf[peak], mean_acf[peak + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float(peak + np.clip(shift, -0.5, 0.5))


def white_noise_variance(window: np.ndarray) -> np.ndarray:
    """Robust per-feature white-noise variance of a ``(n, p)`` window from third differences."""
    d3 = np.diff(window, n=3, axis=0)
    mad = np.median(np.abs(d3 - np.median(d3, axis=0)), axis=0)
    return (MAD_TO_SD * mad) ** 2 / 20.0


@register
class KalmanOscillator(Forecaster):
    """Kalman filter on a baseline + harmonic-oscillator state with an adaptive frequency."""

    name = "kalman"
    online = True
    hyperparameters = (
        HyperParameter("harmonics", 2, (1, 2, 3), "number n_h of harmonics of the fundamental"),
        HyperParameter(
            "q", 1e-3, (1e-4, 1e-3, 1e-2), "oscillator process noise per sample / window variance"
        ),
        HyperParameter(
            "q_level", 1e-4, (1e-5, 1e-4, 1e-3), "baseline process noise per sample / variance"
        ),
        HyperParameter("damping", 0.995, (0.98, 0.99, 0.995, 1.0), "rho per sample (0, 1]"),
        HyperParameter(
            "window", 300, (100, 300, 900), "samples of the frequency / noise estimate window"
        ),
        HyperParameter("refresh", 10, (5, 10, 30), "samples between two re-estimates"),
        HyperParameter(
            "noise_scale", 1.0, (0.5, 1.0, 2.0), "multiplier of the estimated measurement noise r"
        ),
    )
    test_params: ClassVar[dict[str, Any]] = {"window": 100, "refresh": 5}

    def _reset_model(self) -> None:
        nh, win = int(self.params["harmonics"]), int(self.params["window"])
        rho = float(self.params["damping"])
        if nh < 1:
            raise ConfigurationError(f"kalman: harmonics must be >= 1, got {nh}")
        if win < 20 or int(self.params["refresh"]) < 1:
            raise ConfigurationError(
                f"kalman: need window >= 20 and refresh >= 1, got {win}, {self.params['refresh']}"
            )
        if not 0.0 < rho <= 1.0:
            raise ConfigurationError(f"kalman: damping must be in (0, 1], got {rho}")
        for key in ("q", "q_level", "noise_scale"):
            if float(self.params[key]) <= 0:
                raise ConfigurationError(f"kalman: {key} must be > 0, got {self.params[key]}")
        p, n = self.n_features, 1 + 2 * nh
        self._window = History(win, p)
        self._seen = 0
        self._H = np.zeros(n)
        self._H[0] = 1.0
        self._H[1::2] = 1.0
        self._x = np.zeros((p, n))
        self._P = np.zeros((p, n, n))
        self._F = np.eye(n)
        self._Fh = np.eye(n)
        self._Q = np.zeros((p, n, n))
        self._r = np.ones(p)
        self.omega: float | None = None

    def _transition(self, omega: float) -> np.ndarray:
        nh, rho = int(self.params["harmonics"]), float(self.params["damping"])
        f = np.eye(1 + 2 * nh)
        for k in range(1, nh + 1):
            c, s = np.cos(k * omega), np.sin(k * omega)
            i = 2 * k - 1
            f[i : i + 2, i : i + 2] = rho * np.array([[c, -s], [s, c]])
        return f

    def _reestimate(self) -> None:
        w = self._window.vector().reshape(-1, self.n_features)
        w = w[-min(self._seen, len(w)) :]  # acquired samples only, not the start-up padding
        period = dominant_period(w)
        if period is None:
            return
        nh = int(self.params["harmonics"])
        var = np.maximum(w.var(axis=0), 1e-12)
        r = float(self.params["noise_scale"]) * np.maximum(white_noise_variance(w), 1e-6 * var)
        q = np.zeros(1 + 2 * nh)
        q[0] = float(self.params["q_level"])
        q[1:] = float(self.params["q"]) / np.repeat(np.arange(1, nh + 1) ** 2, 2)
        self._Q = var[:, None, None] * np.diag(q)[None]
        self._r = r
        self.omega = 2.0 * np.pi / period
        self._F = self._transition(self.omega)
        self._Fh = np.linalg.matrix_power(self._F, self.horizon)
        if not np.any(self._P):  # first estimate: start at the newest sample, wide prior
            self._x[:, 0] = w[-1]
            self._P = np.repeat(np.eye(len(q))[None], self.n_features, axis=0) * var[:, None, None]

    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        self._window.push(y)
        self._seen += 1
        win, refresh = int(self.params["window"]), int(self.params["refresh"])
        if self._seen >= win // 2 and (self.omega is None or self._seen % refresh == 0):
            self._reestimate()
        if self.omega is None:
            return y.copy()
        F, H = self._F, self._H
        # time update (x_{t|t-1}) then measurement update with y_t
        x = self._x @ F.T
        P = np.einsum("ij,pjk,lk->pil", F, self._P, F) + self._Q
        ph = P @ H  # (p, n)
        s = ph @ H + self._r
        gain = ph / s[:, None]
        x = x + gain * (y - x @ H)[:, None]
        P = P - gain[:, :, None] * ph[:, None, :]
        self._x, self._P = x, 0.5 * (P + np.transpose(P, (0, 2, 1)))
        return (x @ self._Fh.T) @ H

    def diverged(self) -> str | None:
        if not (np.isfinite(self._x).all() and np.isfinite(self._P).all()):
            return "Kalman state became non-finite"
        return None
