"""Online prediction intervals for forecasts: adaptive conformal inference (ACI).

Gibbs & Candès (2021, *Adaptive conformal inference under distribution shift*, NeurIPS) wrap any
point forecaster. For a forecast ``ŷ_{t+h}`` issued at ``t`` the interval is

.. math::

    C_{t+h} = \\{y : s(y, ŷ_{t+h}) \\le \\hat Q_t(1 - α_t)\\},

where ``s`` is the non-conformity score (``|y - ŷ|`` per coordinate, or the Euclidean distance
``‖y - ŷ‖`` in mm for a radius), ``\\hat Q_t(β)`` the empirical ``β``-quantile of the scores whose
targets have already been acquired at ``t`` (the finite-sample level
``⌈(n + 1) β⌉ / n`` of split conformal prediction, over the last ``window`` scores), and the
working miss rate ``α_t`` follows the observed misses:

.. math::

    α_{t+1} = α_t + γ (α - \\mathrm{err}_t), \\qquad \\mathrm{err}_t = [y_t \\notin C_t].

Causality: the residual of a forecast for frame ``t`` is scored, and ``α`` updated, only when frame
``t`` arrives; an interval issued at ``t`` uses residuals of targets ``≤ t`` only (with horizon
``h`` the feedback lags ``h`` steps, as it must).

Boundedness: when ``⌈(n + 1)(1 - α_t)⌉ > n`` the textbook interval is infinite; here it is the
largest score in the window (a forecast interval is never unbounded), and ``α_t ≥ 1`` gives a
zero-width interval. Until ``min_scores`` residuals exist the interval is flagged not ready (and its
width is the largest score so far, or 0).

MAPIE's ``MapieTimeSeriesRegressor`` (EnbPI / ACI) and crepes (split, normalised and Mondrian
conformal regressors) were checked: both are built around a scikit-learn regressor that they
fit (or take prefit) and calibrate on a batch of residuals; crepes has no online adaptation at all,
and MAPIE's ACI updates from batches passed to ``partial_fit`` / ``adapt_conformal_inference``
with no notion of a forecast whose residual arrives ``h`` steps late. Using them would mean a
fake estimator that replays our stored forecasts plus a new dependency, for an update rule of a
few lines, so the rule is implemented here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from motionpredict.errors import ConfigurationError, ValidationError

Score = Literal["radius", "coordinate"]


class AdaptiveConformal:
    """Online ACI intervals for one forecast horizon.

    Parameters
    ----------
    horizon_steps
        ``h``: a forecast issued at step ``t`` is for step ``t + h`` (``h ≥ 0``; 0 = tracking).
    n_coords
        Number of forecast coordinates ``p`` (e.g. 3 for one 3D position, 9 for 3 markers).
    alpha
        Nominal miss rate (0.1 for 90 % intervals).
    gamma
        ACI step size (Gibbs & Candès use 0.005).
    score
        ``"radius"``: one interval, a ball of radius ``r`` mm around the forecast (score
        ``‖y - ŷ‖``); ``"coordinate"``: one half-width per coordinate (score ``|y_j - ŷ_j|``, one
        ``α_t`` per coordinate).
    window
        Number of most recent scores the quantile uses (``None``: all).
    min_scores
        Scores needed before an interval is flagged ready.
    """

    def __init__(
        self,
        horizon_steps: int,
        n_coords: int,
        *,
        alpha: float = 0.1,
        gamma: float = 0.005,
        score: Score = "radius",
        window: int | None = 500,
        min_scores: int = 20,
    ) -> None:
        if horizon_steps < 0 or n_coords < 1:
            raise ConfigurationError(
                f"horizon_steps must be >= 0 and n_coords >= 1, got {horizon_steps}, {n_coords}"
            )
        if not 0.0 < alpha < 1.0 or not gamma >= 0.0 or not math.isfinite(gamma):
            raise ConfigurationError(
                f"alpha must lie in (0, 1) and gamma >= 0, got {alpha}, {gamma}"
            )
        if score not in ("radius", "coordinate"):
            raise ConfigurationError(f"score must be 'radius' or 'coordinate', got {score!r}")
        if (window is not None and window < 1) or min_scores < 1:
            raise ConfigurationError("window and min_scores must be >= 1")
        self.h = int(horizon_steps)
        self.p = int(n_coords)
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.score = score
        self.window = window
        self.min_scores = int(min_scores)
        self.n_widths = 1 if score == "radius" else self.p
        self.alpha_t = np.full(self.n_widths, self.alpha)
        self._buf = np.zeros((window if window is not None else 256, self.n_widths))
        self._n_seen = 0  # scores appended so far
        # issued at step t -> (forecast, width) for step t + h
        self._pending: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    # ----------------------------------------------------------------------------- state
    def _quantile(self) -> tuple[np.ndarray, bool]:
        n = self.n_scores
        if n == 0:
            return np.zeros(self.n_widths), False
        s = self._buf[:n]  # (n, n_widths), order irrelevant
        out = np.empty(self.n_widths)
        for j in range(self.n_widths):
            a = self.alpha_t[j]
            if a >= 1.0:
                out[j] = 0.0
                continue
            k = min(max(math.ceil((n + 1) * (1.0 - a)), 1), n) - 1
            out[j] = np.partition(s[:, j], k)[k]
        return out, n >= self.min_scores

    @property
    def n_scores(self) -> int:
        """Number of scores in the window."""
        return min(self._n_seen, len(self._buf)) if self.window is not None else self._n_seen

    @property
    def scores(self) -> np.ndarray:
        """``(n, n_widths)`` scores in the window (mm), in no particular order."""
        return self._buf[: self.n_scores].copy()

    def _append(self, s: np.ndarray) -> None:
        if self.window is not None:
            self._buf[self._n_seen % self.window] = s
        else:
            if self._n_seen == len(self._buf):
                self._buf = np.concatenate([self._buf, np.zeros_like(self._buf)])
            self._buf[self._n_seen] = s
        self._n_seen += 1

    def width(self) -> tuple[np.ndarray, bool]:
        """Current half-widths (mm; one value for a radius) and whether the interval is ready."""
        return self._quantile()

    # ----------------------------------------------------------------------------- online
    def _scores(self, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
        d = np.asarray(y, dtype=np.float64) - yhat
        return np.array([np.linalg.norm(d)]) if self.score == "radius" else np.abs(d)

    def observe(self, t: int, value: np.ndarray) -> np.ndarray | None:
        """The value of step ``t`` was acquired: score the forecast made for it (issued at
        ``t - h``), update ``α_t`` and the score window.

        Returns
        -------
        ``(n_widths,)`` bool: whether that forecast's interval covered the value (the ball, or
        each coordinate), or ``None`` when no forecast was issued for step ``t``.
        """
        v = np.asarray(value, dtype=np.float64).ravel()
        if v.shape != (self.p,) or not np.all(np.isfinite(v)):
            raise ValidationError(f"value must be {self.p} finite numbers, got {np.shape(value)}")
        got = self._pending.pop(t - self.h, None)
        if got is None:
            return None
        yhat, w = got
        s = self._scores(v, yhat)
        miss = (s > w).astype(np.float64)
        self.alpha_t = self.alpha_t + self.gamma * (self.alpha - miss)
        self._append(s)
        return miss == 0.0

    def issue(self, t: int, forecast: np.ndarray) -> tuple[np.ndarray, bool]:
        """A forecast for step ``t + h`` was issued at step ``t``: its interval half-width(s).

        Returns
        -------
        ``(widths, ready)``: ``(1,)`` radius or ``(p,)`` half-widths in mm, and the ready flag.
        """
        f = np.asarray(forecast, dtype=np.float64).ravel()
        if f.shape != (self.p,) or not np.all(np.isfinite(f)):
            raise ValidationError(
                f"forecast must be {self.p} finite numbers, got {np.shape(forecast)}"
            )
        w, ready = self._quantile()
        self._pending[t] = (f, w)
        return w.copy(), ready


@dataclass
class IntervalSeries:
    """Intervals of a whole forecast series (aligned on the target steps).

    Attributes
    ----------
    widths_mm
        ``(T, 1)`` radius or ``(T, p)`` half-widths, mm, of the interval of each target.
    covered
        ``(T, n_widths)`` bool: the acquired value lay inside the ball (or each coordinate's
        interval).
    ready
        ``(T,)`` bool: the interval had ``min_scores`` residuals behind it.
    alpha_t
        ``(T, n_widths)`` working miss rate when the interval was issued.
    """

    widths_mm: np.ndarray
    covered: np.ndarray
    ready: np.ndarray
    alpha_t: np.ndarray

    def coverage(self, mask: np.ndarray | None = None) -> float:
        """Fraction of ready targets covered (within ``mask`` when given)."""
        sel = self.ready if mask is None else self.ready & mask
        return float(np.mean(self.covered[sel])) if sel.any() else float("nan")  # all coords

    def mean_width(self, mask: np.ndarray | None = None) -> float:
        """Mean radius (or mean half-width over coordinates), mm, over ready targets."""
        sel = self.ready if mask is None else self.ready & mask
        return float(np.mean(self.widths_mm[sel])) if sel.any() else float("nan")


def conformal_series(
    truth: np.ndarray,
    forecasts: np.ndarray,
    horizon_steps: int,
    *,
    start: int | None = None,
    **kwargs: object,
) -> IntervalSeries:
    """Replay :class:`AdaptiveConformal` causally over a forecast series.

    Parameters
    ----------
    truth
        ``(T, p)`` acquired values (mm).
    forecasts
        ``(T, p)`` forecasts aligned on the target: ``forecasts[i]`` was issued at ``i - h`` for
        step ``i``; rows ``< start`` are ignored (no forecast).
    horizon_steps
        ``h``.
    start
        First target with a forecast (default ``h``).
    **kwargs
        Options of :class:`AdaptiveConformal` (``alpha``, ``gamma``, ``score``, ``window``,
        ``min_scores``).

    Returns
    -------
    IntervalSeries
        For targets ``start .. T-1`` (rows before ``start`` are not ready, not covered, width 0).
    """
    y = np.asarray(truth, dtype=np.float64)
    f = np.asarray(forecasts, dtype=np.float64)
    if y.ndim == 1:
        y, f = y[:, None], f.reshape(-1, 1)
    if y.shape != f.shape or y.ndim != 2:
        raise ValidationError(f"truth {y.shape} and forecasts {f.shape} must both be (T, p)")
    h = int(horizon_steps)
    first = h if start is None else int(start)
    if first < h:
        raise ConfigurationError(f"start {first} must be >= the horizon {h}")
    aci = AdaptiveConformal(h, y.shape[1], **kwargs)  # type: ignore[arg-type]
    n = len(y)
    widths = np.zeros((n, aci.n_widths))
    alphas = np.zeros((n, aci.n_widths))
    covered = np.zeros((n, aci.n_widths), dtype=bool)
    ready = np.zeros(n, dtype=bool)
    for t in range(n):
        c = aci.observe(t, y[t])
        if c is not None:
            covered[t] = c
        target = t + h
        if first <= target < n:
            alphas[target] = aci.alpha_t
            widths[target], ready[target] = aci.issue(t, f[target])
    return IntervalSeries(widths_mm=widths, covered=covered, ready=ready, alpha_t=alphas)
