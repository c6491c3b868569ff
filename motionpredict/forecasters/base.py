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

Plausibility guard
------------------
Every forecast leaves :meth:`Forecaster.step` through a causal plausibility guard (causal mode;
reference mode, whose published numbers are reproduced, only keeps its forecasts bounded, see (d)
and :data:`REFERENCE_BOUND`). All quantities
are in standardised units (training-window standard deviations). The guard replaces the
learner's forecast ``yhat_t`` of ``y_{t+h}`` by the fallback forecast ``y_t`` (last value, no
prediction) when

(a) *envelope*: a component leaves ``[lo_t - M, hi_t + M]``, where ``lo_t``/``hi_t`` are the
    per-feature running minimum/maximum of the samples ``y_0..y_t`` seen so far and ``M`` is the
    margin ``guard_margin`` (standardised units);
(b) *error ratio*: the exponentially weighted mean squared errors of the matured forecasts (the
    forecast issued at ``t - h`` is scored at ``t`` against ``y_t``, both the learner's own raw
    forecast and the fallback's ``y_{t-h}``), ``E_L <- E_L + a (mean_p (yhat_{t-h} - y_t)^2 - E_L)``
    and likewise ``E_F`` with ``a = 1 / guard_window``, satisfy ``E_L > R E_F + 1e-6`` with
    ``R = guard_ratio``, once ``guard_window`` forecasts have been scored. The learner keeps
    learning (and keeps being scored) while it is replaced, so it comes back once its error
    falls below the threshold. When ``E_L > R_reset E_F + 1e-6`` (``R_reset =
    guard_reset_ratio``; tested first, whatever the envelope says) an online learner is reset (a
    divergence event is recorded, as for any reset), its pending forecasts and both averages are
    dropped, and the fallback is emitted until ``guard_window`` forecasts of the new learner have
    been scored (probation); offline learners are replaced, never reset;
(c) a divergence reset (non-finite or exploded forecast or state) happened in this step (in every
    mode);
(d) in reference mode, instead of (a) and (b): a component leaves
    ``[lo_t - B, hi_t + B]`` with ``B =`` :data:`REFERENCE_BOUND` (50 standard deviations), far
    beyond what the published look-ahead runs reach (13.5), so that no forecast is unbounded.

Each replaced forecast is counted (:attr:`Forecaster.guarded`) and recorded
(:attr:`Forecaster.guard_events`, reasons ``"envelope"``, ``"error ratio"``, ``"probation"``,
``"divergence"``, ``"bound"``); :attr:`OnlineRun.guarded` marks them per target time. The
settings are overridable keywords of every forecaster (:data:`GUARD_PARAMETERS`;
``guard=False`` switches (a), (b) and (d) off).
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


@dataclass(frozen=True)
class GuardEvent:
    """A forecast replaced by the fallback (last value) by the plausibility guard.

    Attributes
    ----------
    step
        Index ``t`` of the sample at which the forecast (of ``y_{t+h}``) was issued.
    reason
        ``"envelope"``, ``"error ratio"``, ``"probation"`` or ``"divergence"`` (see the module
        docstring).
    """

    step: int
    reason: str


#: Floor added to the fallback's error in the error-ratio test (standardised units squared).
GUARD_FLOOR = 1e-6

#: Reference mode keeps the published behaviour, but its forecasts stay bounded: one further than
#: this many standard deviations beyond the running envelope of the samples seen is replaced by
#: the last sample and counted (reason ``"bound"``). The published look-ahead runs reach 13.5
#: (SnAp-1 and DNI on markers-1 at 0.7-2.1 s, whose baseline drifts), so 50 never touches them.
REFERENCE_BOUND = 50.0

#: The guard's settings: keywords accepted by every forecaster, outside its search grid.
GUARD_PARAMETERS: tuple[HyperParameter, ...] = (
    HyperParameter("guard", True, (), "plausibility guard on (causal mode only)"),
    HyperParameter(
        "guard_margin", 1.0, (), "envelope margin beyond the running min/max (standard deviations)"
    ),
    HyperParameter(
        "guard_ratio", 3.0, (), "replace when the learner's EWMA MSE exceeds this x the fallback's"
    ),
    HyperParameter(
        "guard_reset_ratio", 25.0, (), "reset an online learner whose EWMA MSE exceeds this x"
    ),
    HyperParameter(
        "guard_window", 50, (), "EWMA time constant and warm-up of the error ratio (samples)"
    ),
)


@dataclass
class GuardSettings:
    """Resolved guard settings (see :data:`GUARD_PARAMETERS`)."""

    enabled: bool = True
    margin: float = 1.0
    ratio: float = 3.0
    reset_ratio: float = 25.0
    window: int = 50

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GuardSettings:
        """Build from ``guard*`` keywords (missing ones take the defaults); validates values."""
        d = {hp.name: params.get(hp.name, hp.default) for hp in GUARD_PARAMETERS}
        st = cls(
            enabled=bool(d["guard"]),
            margin=float(d["guard_margin"]),
            ratio=float(d["guard_ratio"]),
            reset_ratio=float(d["guard_reset_ratio"]),
            window=int(d["guard_window"]),
        )
        if not (st.margin >= 0 and st.ratio > 0 and st.reset_ratio > 0 and st.window >= 1):
            raise ConfigurationError(
                "guard settings need guard_margin >= 0, guard_ratio > 0, "
                f"guard_reset_ratio > 0, guard_window >= 1; got {d}"
            )
        return st


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
    #: False for methods that only learn causally: asking them for reference mode is refused
    #: (a result labelled "reference" must hold look-ahead numbers).
    has_reference_mode: ClassVar[bool] = True
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
        if mode == "reference" and not self.has_reference_mode:
            raise ConfigurationError(
                f"{self.name} has no reference (look-ahead) mode: it learns causally only; "
                "use mode causal"
            )
        known = {hp.name: hp for hp in self.hyperparameters}
        guard_names = {hp.name for hp in GUARD_PARAMETERS}
        guard_params = {n: params.pop(n) for n in list(params) if n in guard_names}
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
        #: Guard settings (see the module docstring).
        self.guard_settings = GuardSettings.from_params(guard_params)
        #: Number of emitted forecasts that were the guard's fallback.
        self.guarded = 0
        #: One event per replaced forecast.
        self.guard_events: list[GuardEvent] = []
        self._guard_init()
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
            return self._guard(self._recover(reason, y), y, diverged=True)
        return self._guard(pred, y)

    def _check_prediction(self, pred: np.ndarray) -> str | None:
        """Return why the forecast ``pred`` (``(p,)``) or the state is unusable, else ``None``."""
        if not np.isfinite(pred).all():
            return "non-finite prediction"
        if np.abs(pred).max() > 1e6:
            return "prediction exploded (|y| > 1e6 standard deviations)"
        return self.diverged()

    # ------------------------------------------------------------------ plausibility guard
    def _guard_init(self) -> None:
        """Initialise the guard's state (envelope, pending forecasts, error averages)."""
        h, p = self.horizon, self.n_features
        self._g_lo = np.full(p, np.inf)
        self._g_hi = np.full(p, -np.inf)
        self._g_raw = np.zeros((h, p))  # learner's raw forecast issued at t' (slot t' % h)
        self._g_fb = np.zeros((h, p))  # fallback forecast y_t' issued at t'
        self._g_valid = np.zeros(h, dtype=bool)
        self._g_el = 0.0  # EWMA MSE of the learner's matured forecasts
        self._g_ef = 0.0  # EWMA MSE of the fallback's matured forecasts
        self._g_n = 0  # forecasts scored since the start or the last reset
        self._g_probation = False

    def _guard_state_nan(self) -> bool:
        """True when the guard's own state holds NaN (it is then reset with the model)."""
        return bool(
            np.isnan(self._g_el + self._g_ef)
            or np.isnan(self._g_lo).any()
            or np.isnan(self._g_hi).any()
            or np.isnan(self._g_raw).any()
            or np.isnan(self._g_fb).any()
        )

    @property
    def guard_active(self) -> bool:
        """Whether the envelope and error-ratio tests run (causal mode, guard enabled)."""
        return self.guard_settings.enabled and self.mode == "causal"

    def _guard(self, pred: np.ndarray, y: np.ndarray, *, diverged: bool = False) -> np.ndarray:
        """Apply the plausibility guard to the forecast ``pred`` issued at ``t`` (``(p,)``,
        standardised) with the current sample ``y`` = ``y_t``; return what is emitted."""
        if not diverged and self._guard_state_nan():
            self._recover("non-finite guard state", y)
            self._guard_init()
            diverged = True
        reason = "divergence" if diverged else None
        if self.guard_active:
            gs = self.guard_settings
            np.minimum(self._g_lo, y, out=self._g_lo)
            np.maximum(self._g_hi, y, out=self._g_hi)
            slot = self.t % self.horizon
            if self._g_valid[slot]:
                a = 1.0 / gs.window
                d_l = float(np.mean((self._g_raw[slot] - y) ** 2))
                d_f = float(np.mean((self._g_fb[slot] - y) ** 2))
                self._g_el += a * (d_l - self._g_el)
                self._g_ef += a * (d_f - self._g_ef)
                self._g_n += 1
            if self._g_probation and self._g_n >= gs.window:
                self._g_probation = False
            reset = diverged
            warm = self._g_n >= gs.window
            if reason is None:
                # the reset decision depends on the error averages only, not on the envelope
                if warm and self.online and self._g_el > gs.reset_ratio * self._g_ef + GUARD_FLOOR:
                    ratio = self._g_el / max(self._g_ef, GUARD_FLOOR)
                    self.events.append(
                        DivergenceEvent(
                            step=self.t, reason=f"guard: error {ratio:.3g} x the fallback's"
                        )
                    )
                    self._reset_model()
                    reset = True
                    reason = "error ratio"
                elif (pred < self._g_lo - gs.margin).any() or (pred > self._g_hi + gs.margin).any():
                    reason = "envelope"
                elif self._g_probation:
                    reason = "probation"
                elif warm and self._g_el > gs.ratio * self._g_ef + GUARD_FLOOR:
                    reason = "error ratio"
            if reset:
                self._g_valid[:] = False
                self._g_el = self._g_ef = 0.0
                self._g_n = 0
                self._g_probation = True
            self._g_raw[slot] = pred
            self._g_fb[slot] = y
            self._g_valid[slot] = not reset
        elif self.guard_settings.enabled:  # reference mode: bounded, otherwise as published
            np.minimum(self._g_lo, y, out=self._g_lo)
            np.maximum(self._g_hi, y, out=self._g_hi)
            if reason is None and (
                (pred < self._g_lo - REFERENCE_BOUND).any()
                or (pred > self._g_hi + REFERENCE_BOUND).any()
            ):
                reason = "bound"
        if reason is None:
            return pred
        self.guarded += 1
        self.guard_events.append(GuardEvent(step=self.t, reason=reason))
        return y.copy()

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
        """Return a JSON-able description: name, mode, horizon, seed, parameters and the guard's
        settings."""
        return {
            "method": self.name,
            "mode": self.mode,
            "horizon_samples": self.horizon,
            "seed": self.seed,
            "params": dict(self.params),
            "guard": dict(vars(self.guard_settings)),
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
    guarded
        ``(T,)`` bool aligned like ``predicted``: True where the forecast for ``t`` was the
        plausibility guard's fallback (``y_{t-h}``). All False when not given.
    guard_events
        The forecaster's guard events.
    """

    predicted: np.ndarray
    issued_at: np.ndarray
    step_ms: np.ndarray
    events: list[DivergenceEvent] = field(default_factory=list)
    mode: Mode = "causal"
    guarded: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    guard_events: list[GuardEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.guarded.shape != (self.predicted.shape[0],):
            self.guarded = np.zeros(self.predicted.shape[0], dtype=bool)

    @property
    def n_guarded(self) -> int:
        """Number of forecasts (target times) that were the guard's fallback."""
        return int(np.count_nonzero(self.guarded))


def guard_summary(guarded: np.ndarray) -> dict[str, float]:
    """Metrics of the plausibility guard over the scored forecasts.

    Parameters
    ----------
    guarded
        ``(n,)`` bool, one per scored forecast (e.g. ``OnlineRun.guarded[test]``).

    Returns
    -------
    dict
        ``guarded_forecasts`` (int count) and ``guarded_fraction`` (count / n, 0 when n = 0), the
        keys metrics.json, the results store, the report and the GUI read.
    """
    flags = np.asarray(guarded, dtype=bool).reshape(-1)
    n = int(np.count_nonzero(flags))
    fraction = n / flags.size if flags.size else 0.0
    return {"guarded_forecasts": n, "guarded_fraction": fraction}


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
    guarded = np.zeros(n, dtype=bool)
    # Per-step products are small: extra BLAS threads only fight over the cores (7x slower RTRL
    # on 2 busy cores), so the loop runs with one.
    with threadpool_limits(limits=1, user_api="blas"):
        for t in range(n):
            look = series[t + h] if (forecaster.mode == "reference" and t + h < n) else None
            t0 = time.perf_counter()
            n_guarded = forecaster.guarded
            pred = forecaster.step(series[t], lookahead=look)
            step_ms[t] = (time.perf_counter() - t0) * 1e3
            if t + h < n:
                predicted[t + h] = pred
                issued[t + h] = t
                guarded[t + h] = forecaster.guarded != n_guarded
    return OnlineRun(
        predicted=predicted,
        issued_at=issued,
        step_ms=step_ms,
        events=list(forecaster.events),
        mode=forecaster.mode,
        guarded=guarded,
        guard_events=list(forecaster.guard_events),
    )
