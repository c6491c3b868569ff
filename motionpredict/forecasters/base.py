"""The one contract every forecaster follows: online, predict-then-learn.

A forecaster receives a multivariate series ``y`` (``(T, p)``: PCA weights, or the 9 coordinates of
3 markers), one sample at a time, already standardised with statistics of the training window.
At time ``t`` it has seen ``y[0..t]`` and returns its forecast of ``y[t + h]`` (``h`` = horizon in
samples).

Modes
-----
``causal`` (default, clinically valid)
    A learner updates on a target only once that target has been acquired: the update for the
    prediction issued at ``t - h`` happens at ``t`` and uses the forward quantities kept from
    ``t - h``.
``reference``
    Reproduces the published behaviour: right after predicting at ``t`` the learner updates with the
    target ``y[t + h]`` of the prediction just made, i.e. with data ``h - 1`` samples before it
    exists in real time. Only on request, and labelled as such in every output.

Offline methods (linear regression, transformers) are fitted once by :meth:`Forecaster.fit` on the
training part of the series and do not learn afterwards; the mode does not change them.

Implementations subclass :class:`Forecaster`, declare their hyper-parameters in
``hyperparameters`` (name, default, grid) and implement :meth:`Forecaster._predict_and_learn`.
:func:`run_online` drives a forecaster over a whole series and returns the forecasts aligned to the
time they are *for*.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from motionpredict.errors import ConfigurationError, ValidationError

Mode = Literal["causal", "reference"]
MODES: tuple[Mode, ...] = ("causal", "reference")


@dataclass(frozen=True)
class HyperParameter:
    """A declared hyper-parameter: its name, default value and the grid searched by evaluation.

    Attributes
    ----------
    name
        Keyword name in the forecaster's constructor.
    default
        Value used when none is given.
    grid
        Values searched on the validation window (the published grid where there is one).
    doc
        One line: meaning and unit.
    """

    name: str
    default: Any
    grid: tuple[Any, ...] = ()
    doc: str = ""


@dataclass
class DivergenceEvent:
    """A model reset after its state or prediction became non-finite or exploded.

    Attributes
    ----------
    step
        Index ``t`` of the sample at which the divergence was detected.
    reason
        What was detected.
    """

    step: int
    reason: str


class Standardizer:
    """Per-feature standardisation with statistics of a training window only.

    Parameters
    ----------
    train
        ``(T_train, p)`` training samples.
    """

    def __init__(self, train: np.ndarray) -> None:
        train = np.asarray(train, dtype=np.float64)
        if train.ndim != 2 or train.shape[0] < 2:
            raise ValidationError(f"training window must be (T>=2, p), got shape {train.shape}")
        self.mean = train.mean(axis=0)
        std = train.std(axis=0)
        self.std = np.where(std > 1e-12, std, 1.0)

    def transform(self, y: np.ndarray) -> np.ndarray:
        """Standardise samples ``(..., p)``."""
        return (np.asarray(y, dtype=np.float64) - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`."""
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


class History:
    """The last ``k`` samples, oldest first, padded with the first sample until ``k`` are known.

    Parameters
    ----------
    k
        Number of samples kept.
    p
        Number of features per sample.
    """

    def __init__(self, k: int, p: int) -> None:
        self.k = int(k)
        self.p = int(p)
        self._buf: deque[np.ndarray] = deque(maxlen=self.k)

    def push(self, y: np.ndarray) -> None:
        """Append one sample ``(p,)``."""
        if not self._buf:
            for _ in range(self.k - 1):
                self._buf.append(np.asarray(y, dtype=np.float64).copy())
        self._buf.append(np.asarray(y, dtype=np.float64).copy())

    def vector(self) -> np.ndarray:
        """Return the ``(k * p,)`` input vector ``[y_{t-k+1}, ..., y_t]`` (time-major)."""
        return np.concatenate(list(self._buf))

    def __len__(self) -> int:
        return len(self._buf)


class Forecaster(ABC):
    """Base class of every forecaster.

    Parameters
    ----------
    horizon
        Forecast horizon ``h`` in samples (>= 1).
    n_features
        Number of features ``p`` of the series.
    mode
        ``"causal"`` (default) or ``"reference"``, see the module docstring.
    seed
        Seed of every random draw the method makes (initial weights, UORO signs...).
    **params
        Values of the declared hyper-parameters; the others take their defaults.
    """

    #: Registry name, e.g. ``"rtrl"``.
    name: ClassVar[str] = ""
    #: Declared hyper-parameters.
    hyperparameters: ClassVar[tuple[HyperParameter, ...]] = ()
    #: True when the method keeps learning while it forecasts (mode matters).
    online: ClassVar[bool] = True
    #: Small, fast settings for the shared contract tests.
    test_params: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        *,
        horizon: int,
        n_features: int,
        mode: Mode = "causal",
        seed: int = 0,
        **params: Any,
    ) -> None:
        if int(horizon) < 1:
            raise ConfigurationError(f"horizon must be >= 1 sample, got {horizon}")
        if int(n_features) < 1:
            raise ConfigurationError(f"n_features must be >= 1, got {n_features}")
        if mode not in MODES:
            raise ConfigurationError(f"mode must be one of {MODES}, got {mode!r}")
        known = {hp.name: hp for hp in self.hyperparameters}
        unknown = set(params) - set(known)
        if unknown:
            raise ConfigurationError(
                f"{self.name}: unknown hyper-parameter(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        self.horizon = int(horizon)
        self.n_features = int(n_features)
        self.mode: Mode = mode
        self.seed = int(seed)
        self.params: dict[str, Any] = {n: params.get(n, hp.default) for n, hp in known.items()}
        self.events: list[DivergenceEvent] = []
        self.t = -1  # index of the last sample received
        self._last_sample = np.zeros(self.n_features)
        self._reset_model()

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def _reset_model(self) -> None:
        """(Re)initialise the model state from ``self.seed`` (called at construction and on
        divergence; a reset after divergence must not replay the very same draw forever, so use
        ``self.seed + len(self.events)``)."""

    @abstractmethod
    def _predict_and_learn(self, y: np.ndarray, lookahead: np.ndarray | None) -> np.ndarray:
        """Receive ``y_t`` (``(p,)``, standardised), learn what the mode allows, return the
        ``(p,)`` forecast of ``y_{t+h}``.

        ``lookahead`` is ``y_{t+h}`` in reference mode (``None`` when it is past the end of the
        series, and always ``None`` in causal mode).
        """

    def fit(self, series: np.ndarray) -> None:  # noqa: B027 - optional hook
        """Fit offline on the training part of the series (``(T_fit, p)``, standardised).

        The caller passes exactly the samples whose targets may be used for fitting (all pairs
        ``(input ending at t, target t + h)`` with ``t + h < T_fit``). Online methods ignore it.
        """

    def diverged(self) -> str | None:
        """Return a reason when the internal state has exploded, else ``None``."""
        return None

    # ------------------------------------------------------------------ public API
    def step(self, y: np.ndarray, *, lookahead: np.ndarray | None = None) -> np.ndarray:
        """Receive sample ``y_t`` and return the forecast of ``y_{t+h}``, shape ``(p,)``.

        Never returns NaN/Inf: on divergence the model is reset, the event recorded in
        :attr:`events`, and the last sample returned (no-prediction fallback).
        """
        y = np.array(y, dtype=np.float64).reshape(self.n_features)  # copy: no aliasing of input
        if not np.isfinite(y).all():
            raise ValidationError(f"sample {self.t + 1} contains NaN or Inf")
        if self.mode == "causal":
            lookahead = None
        self.t += 1
        self._last_sample = y
        with np.errstate(all="ignore"):
            pred = np.asarray(self._predict_and_learn(y, lookahead), dtype=np.float64)
        if pred.shape != (self.n_features,):
            raise RuntimeError(f"{self.name} returned shape {pred.shape}, not ({self.n_features},)")
        reason = self._check_prediction(pred)
        if reason is not None:
            return self._recover(reason, y)
        return pred

    def _check_prediction(self, pred: np.ndarray) -> str | None:
        """Return why the forecast ``pred`` (``(p,)``) or the state is unusable, else ``None``."""
        if not np.isfinite(pred).all():
            return "non-finite prediction"
        if np.abs(pred).max() > 1e6:
            return "prediction exploded (|y| > 1e6 standard deviations)"
        return self.diverged()

    def _recover(self, reason: str, y: np.ndarray) -> np.ndarray:
        """Record a divergence at the current step, reset the model, return a copy of ``y``."""
        self.events.append(DivergenceEvent(step=self.t, reason=reason))
        self._reset_model()
        return y.copy()

    @classmethod
    def grid(cls) -> dict[str, tuple[Any, ...]]:
        """Return the declared search grid ``{name: values}``."""
        return {hp.name: (hp.grid or (hp.default,)) for hp in cls.hyperparameters}

    def describe(self) -> dict[str, Any]:
        """Return a JSON-able description: name, mode, horizon, seed and parameters."""
        return {
            "method": self.name,
            "mode": self.mode,
            "horizon_samples": self.horizon,
            "seed": self.seed,
            "params": dict(self.params),
        }


@dataclass
class OnlineRun:
    """Forecasts of one run over a series.

    Attributes
    ----------
    predicted
        ``(T, p)`` forecasts aligned to the time they are *for*: ``predicted[t]`` was issued at
        ``t - h``. NaN for ``t < h + start`` (no forecast issued yet).
    issued_at
        ``(T,)`` index of the sample at which ``predicted[t]`` was issued (``-1`` where none).
    step_ms
        ``(T,)`` wall time of each ``step`` call in ms (predict + learn).
    events
        Divergence events.
    mode
        The mode used (``"reference"`` results must be labelled as such).
    """

    predicted: np.ndarray
    issued_at: np.ndarray
    step_ms: np.ndarray
    events: list[DivergenceEvent] = field(default_factory=list)
    mode: Mode = "causal"


def run_online(
    forecaster: Forecaster,
    series: np.ndarray,
    *,
    fit_until: int | None = None,
) -> OnlineRun:
    """Drive a forecaster over a standardised series, predict-then-learn.

    Parameters
    ----------
    forecaster
        A freshly constructed forecaster.
    series
        ``(T, p)`` standardised samples.
    fit_until
        For offline methods: the index (exclusive) of the last training *target* + 1; the method is
        fitted on ``series[:fit_until]``. Ignored by online methods. ``None`` skips fitting.

    Returns
    -------
    OnlineRun
        Forecasts aligned to their target time.
    """
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 2 or series.shape[1] != forecaster.n_features:
        raise ValidationError(
            f"series must be (T, {forecaster.n_features}), got shape {series.shape}"
        )
    n, p = series.shape
    h = forecaster.horizon
    if fit_until is not None and not forecaster.online:
        forecaster.fit(series[:fit_until])
    predicted = np.full((n, p), np.nan)
    issued = np.full(n, -1, dtype=np.int64)
    step_ms = np.zeros(n)
    # Per-step products are small: extra BLAS threads only fight over the cores (7x slower RTRL
    # on 2 busy cores), so the loop runs with one.
    with threadpool_limits(limits=1, user_api="blas"):
        for t in range(n):
            look = series[t + h] if (forecaster.mode == "reference" and t + h < n) else None
            t0 = time.perf_counter()
            pred = forecaster.step(series[t], lookahead=look)
            step_ms[t] = (time.perf_counter() - t0) * 1e3
            if t + h < n:
                predicted[t + h] = pred
                issued[t + h] = t
    return OnlineRun(
        predicted=predicted,
        issued_at=issued,
        step_ms=step_ms,
        events=list(forecaster.events),
        mode=forecaster.mode,
    )
