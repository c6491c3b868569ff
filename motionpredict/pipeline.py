"""The online frame-forecasting pipeline: one acquired frame in, one predicted future frame out.

For each acquired frame ``t`` (after a training window used to fit the motion model):

1. ``register``: pyramidal Lucas-Kanade registration of the reference frame to frame ``t`` gives
   the displacement field ``u_t`` (mm), with ``I_ref(x) ~ I_t(x + u_t(x))``;
2. ``project``: ``w_t = Φᵀ (u_t - ū)``, the weights of the PCA motion modes fitted on the training
   frames;
3. ``forecast``: the forecaster receives the standardised ``w_t``, learns what its mode allows and
   returns the forecast ``ŵ_{t+h}`` (``h`` = horizon in frames);
4. ``reconstruct``: ``û_{t+h} = ū + Φ ŵ_{t+h}``;
5. ``warp``: the reference frame is pushed forward by ``û_{t+h}`` (Gaussian splatting) into the
   predicted frame for ``t + h``.

Each stage is timed in ms on every frame (:attr:`FrameResult.stage_ms`). Marker series skip the
image stages (:class:`OnlineMarkerPipeline`). :func:`run_sequence` drives a pipeline over a window
and returns the metrics of :mod:`motionpredict.metrics`.

``reference`` mode reproduces the published look-ahead (the learner updates with the target of the
prediction just made, ``h - 1`` frames before it is acquired): the pipeline then registers frame
``t + h`` early. Its results are labelled ``mode="reference"`` everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, MotionPredictError, ValidationError
from motionpredict.forecasters import MODES, Forecaster, Mode, Standardizer, get, guard_summary
from motionpredict.sequences import DisplacementFieldSeries, ImageSequence, PointTrajectories

#: Names of the timed stages of one frame, in order.
STAGES: tuple[str, ...] = ("register", "project", "forecast", "reconstruct", "warp")

#: Gaussian splatting width of the forward warp in px (the reference implementation's value).
SPLAT_SIGMA_PX = 0.5


def horizon_to_steps(horizon_s: float, period_s: float, *, round_horizon: bool = False) -> int:
    """Convert a horizon in s to a number of frames (samples).

    Parameters
    ----------
    horizon_s
        Forecast horizon in s (> 0).
    period_s
        Frame (sample) period in s.
    round_horizon
        Round to the nearest whole number of periods instead of refusing a horizon that is not
        within 1 % of one.

    Raises
    ------
    ConfigurationError
        When the horizon is not positive, or not a whole number of periods and rounding was not
        asked for (the message names the options that round it).
    """
    from motionpredict.units import Horizon

    return Horizon.from_seconds(horizon_s, period_s, rounded=round_horizon).steps


def parse_horizon(text: str) -> tuple[float | None, int | None]:
    """Parse a horizon written ``"0.6s"``, ``"600ms"`` or ``"3"`` / ``"3steps"`` / ``"3f"``.

    Returns
    -------
    (seconds, steps)
        Exactly one of the two is not ``None``.
    """
    from motionpredict.units import parse_horizon_text

    return parse_horizon_text(text)


def new_forecaster(
    method: str,
    *,
    horizon: int,
    n_features: int,
    mode: Mode,
    seed: int,
    params: dict[str, Any] | None,
    frame_period_s: float | None = None,
) -> Forecaster:
    """Construct a forecaster; a method that declares ``frame_period_s`` (weights trained at one
    sampling period, e.g. ``transformer-population``) receives the series' period unless the
    parameters set it, so that a file trained at another period is refused."""
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {MODES}, got {mode!r}")
    cls = get(method)
    params = dict(params or {})
    declared = {hp.name for hp in cls.hyperparameters}
    if (frame_period_s is not None and "frame_period_s" in declared
            and params.get("frame_period_s") is None):  # grids hold the default None
        params["frame_period_s"] = float(frame_period_s)
    return cls(horizon=horizon, n_features=n_features, mode=mode, seed=seed, **params)


@dataclass
class FrameResult:
    """What the pipeline produced when frame ``t`` was acquired.

    Attributes
    ----------
    t
        Index of the acquired frame.
    target_t
        Index of the frame the prediction is for, ``t + h`` (may be past the end of the sequence).
    weights
        ``(n_components,)`` PCA weights of frame ``t`` (mm units of the modes).
    predicted_weights
        ``(n_components,)`` forecast of the weights of frame ``target_t``.
    predicted_field_mm
        ``(*spatial, ndim)`` predicted displacement field of ``target_t`` in mm.
    predicted_frame
        ``spatial`` predicted image of ``target_t`` (the reference frame warped forward).
    stage_ms
        Wall time of each stage in ms: ``register``, ``project``, ``forecast``, ``reconstruct``,
        ``warp``.
    field_mm
        ``(*spatial, ndim)`` Lucas-Kanade field of frame ``t`` in mm (what the prediction of frame
        ``t`` is compared with).
    mode
        ``"causal"`` or ``"reference"`` (look-ahead, published behaviour).
    guarded
        True when the forecast is the plausibility guard's fallback (the last value).
    """

    t: int
    target_t: int
    weights: np.ndarray
    predicted_weights: np.ndarray
    predicted_field_mm: np.ndarray
    predicted_frame: np.ndarray
    stage_ms: dict[str, float]
    field_mm: np.ndarray | None = None
    mode: Mode = "causal"
    guarded: bool = False


@dataclass
class MarkerResult:
    """What the marker pipeline produced when sample ``t`` was acquired.

    Attributes
    ----------
    t, target_t
        Acquired sample index and the index ``t + h`` the forecast is for.
    positions
        ``(N, 3)`` acquired positions in mm.
    predicted_positions
        ``(N, 3)`` forecast positions of ``target_t`` in mm.
    stage_ms
        ``{"forecast": ms}``.
    mode
        ``"causal"`` or ``"reference"``.
    guarded
        True when the forecast is the plausibility guard's fallback (the last value).
    """

    t: int
    target_t: int
    positions: np.ndarray
    predicted_positions: np.ndarray
    stage_ms: dict[str, float]
    mode: Mode = "causal"
    guarded: bool = False


def _default_train(n: int, extra: dict[str, Any], what: str, period_s: float) -> tuple[int, str]:
    """Training window: the end of the sidecar's training split (``extra["splits"]``, else the
    sidecar the loader recorded, read by :func:`motionpredict.io.sidecar.sidecar_of`; split chosen
    by :func:`motionpredict.io.sidecar.split_spec`), else the first 45 %."""
    from motionpredict.io.sidecar import sidecar_of, split_spec

    doc: dict[str, Any] | None = None
    if isinstance(extra, dict) and extra.get("splits") is not None:
        doc = {"splits": extra["splits"]}
    elif isinstance(extra, dict):
        try:
            sc = sidecar_of(extra)
        except MotionPredictError:  # an unreadable sidecar: the loader reported it already
            sc = None
        doc = None if sc is None else sc.raw
    spec = split_spec(doc, period_s) if doc is not None else None
    train = spec[0].get("train") if spec is not None else None
    if train is not None:
        return int(train[1]), "sidecar"  # 1-based inclusive end == 0-based exclusive stop
    n_train = max(2, round(0.45 * n))
    return n_train, f"default: first 45% of the {what}"


class _ForecastCore:
    """Shared forecaster bookkeeping: standardiser, warm-up, reference-mode look-ahead."""

    forecaster: Forecaster
    standardizer: Standardizer
    _h: int
    _next_t: int | None

    @property
    def horizon_steps(self) -> int:
        """Forecast horizon in frames (image pipelines) or samples (marker pipelines)."""
        return self._h

    @property
    def next_frame(self) -> int | None:
        """Index of the next frame (or sample) :meth:`process` expects; ``None`` before
        :meth:`prepare`."""
        return self._next_t

    def _setup_forecaster(
        self,
        train: np.ndarray,
        *,
        method: str,
        horizon: int,
        mode: Mode,
        seed: int,
        params: dict[str, Any] | None,
        fit_series: np.ndarray,
        lookahead: Callable[[int], np.ndarray | None],
        frame_period_s: float | None = None,
    ) -> None:
        self.standardizer = Standardizer(train)
        z = self.standardizer.transform(train)
        self.forecaster = new_forecaster(
            method, horizon=horizon, n_features=train.shape[1], mode=mode, seed=seed,
            params=params, frame_period_s=frame_period_s,
        )
        if not self.forecaster.online:
            self.forecaster.fit(self.standardizer.transform(fit_series))
        for t in range(len(z)):
            look = None
            if mode == "reference":
                raw = lookahead(t + horizon)
                look = None if raw is None else self.standardizer.transform(raw)
            self.forecaster.step(z[t], lookahead=look)

    def _forecast(self, y: np.ndarray, look_raw: np.ndarray | None) -> np.ndarray:
        look = None if look_raw is None else self.standardizer.transform(look_raw)
        n_guarded = self.forecaster.guarded
        z = self.forecaster.step(self.standardizer.transform(y), lookahead=look)
        self.last_guarded = self.forecaster.guarded != n_guarded  # the guard's fallback
        return self.standardizer.inverse(z)


class OnlineFramePipeline(_ForecastCore):
    """Online forecasting of future frames of a 2D cine or 3D phase series.

    Parameters
    ----------
    sequence
        The acquired frames (only frames ``0 .. t`` are used when frame ``t`` is processed, except
        in ``reference`` mode, which reads frame ``t + h`` early).
    method
        Registered forecaster name (``motionpredict.forecasters.available()``).
    horizon_s
        Forecast horizon in s; converted to frames with the sequence's frame period.
    mode
        ``"causal"`` (clinically valid) or ``"reference"`` (published look-ahead).
    n_components
        Number of PCA motion modes.
    train_frames
        Number of first frames used to fit the PCA model and the standardiser (and offline
        forecasters); ``None`` takes the split of the sequence's sidecar/card, else the first 45 %.
    lk_params
        ``motionpredict.registration.LKParams`` (or a dict of its fields); defaults otherwise.
    seed
        Seed of the forecaster.
    method_params
        Hyper-parameters of the forecaster.
    reference_index
        0-based index of the reference frame (registered to, and warped to make predictions).
    round_horizon
        Round a horizon that is not a whole number of frame periods instead of refusing it.
    offline_fit_until
        Offline forecasters fit on the standardised weights of frames ``< offline_fit_until``
        (default ``train_frames``; the published protocol fits up to a later frame, e.g. 160 on
        ETH). Frames beyond the training window are registered for that fit in :meth:`prepare`;
        the PCA model and the standardiser still use the training frames only.
    backend, device
        Registration back-end (``"numpy"`` or ``"torch"``) and torch device (``"cuda"``...).
        The reference frame's pyramid is built once in :meth:`prepare`.
    """

    def __init__(
        self,
        sequence: ImageSequence,
        *,
        method: str,
        horizon_s: float,
        mode: Mode = "causal",
        n_components: int = 3,
        train_frames: int | None = None,
        lk_params: Any = None,
        seed: int = 0,
        method_params: dict | None = None,
        reference_index: int = 0,
        round_horizon: bool = False,
        offline_fit_until: int | None = None,
        backend: str = "numpy",
        device: str | None = None,
    ) -> None:
        if not isinstance(sequence, ImageSequence):
            raise ValidationError("OnlineFramePipeline needs an ImageSequence (use "
                                  "OnlineMarkerPipeline for marker series)")
        if mode not in MODES:
            raise ConfigurationError(f"mode must be one of {MODES}, got {mode!r}")
        n = sequence.n_frames
        if n < 4:
            raise ValidationError(f"the sequence has {n} frames; at least 4 are needed")
        self.sequence = sequence
        self.method = method
        get(method)  # fail early on an unknown name
        self.horizon_s = float(horizon_s)
        self._h = horizon_to_steps(self.horizon_s, sequence.frame_period,
                                   round_horizon=round_horizon)
        self.mode: Mode = mode
        if not 1 <= int(n_components):
            raise ConfigurationError(f"n_components must be >= 1, got {n_components}")
        self.n_components = int(n_components)
        if train_frames is None:
            train_frames, self.train_source = _default_train(
                n, sequence.provenance.extra, "frames", sequence.frame_period)
        else:
            self.train_source = "option"
        self.train_frames = int(train_frames)
        if not self.n_components < self.train_frames < n:
            raise ConfigurationError(
                f"train_frames must lie between n_components ({self.n_components}) and the number "
                f"of frames ({n}), got {self.train_frames}"
            )
        self.offline_fit_until = int(offline_fit_until or self.train_frames)
        if not 2 <= self.offline_fit_until <= n:
            raise ConfigurationError(f"offline_fit_until must lie in 2..{n}")
        if not 0 <= int(reference_index) < n:
            raise ConfigurationError(f"reference_index {reference_index} outside 0..{n - 1}")
        self.reference_index = int(reference_index)
        self.lk_params = lk_params
        self.seed = int(seed)
        self.method_params = dict(method_params or {})
        self.backend = backend
        self.device = device
        self.model: Any = None
        self._next_t: int | None = None
        self._cache: dict[int, tuple[np.ndarray, float]] = {}
        self._spacing = np.asarray(sequence.spacing, dtype=np.float64)
        self._spacing_f32 = self._spacing.astype(np.float32)  # mm per px, per-frame arithmetic
        self._reference = sequence.frames[self.reference_index]

    def settings(self) -> dict[str, Any]:
        """JSON-able record of every setting (for metrics.json and reports)."""
        return {
            "method": self.method,
            "mode": self.mode,
            "horizon_s": self.horizon_s,
            "horizon_steps": self._h,
            "frame_period_s": self.sequence.frame_period,
            "n_components": self.n_components,
            "train_frames": self.train_frames,
            "train_frames_source": self.train_source,
            "offline_fit_until": self.offline_fit_until,
            "reference_index": self.reference_index,
            "seed": self.seed,
            "method_params": dict(self.forecaster.params) if hasattr(self, "forecaster")
            else self.method_params,
            "guard": _guard_settings(self),
            "lk_params": _params_dict(self.lk_params),
            "backend": self.backend,
            "device": self.device,
        }

    # ------------------------------------------------------------------ stages
    def _lk(self) -> Any:
        from motionpredict.registration import LKParams

        if self.lk_params is None:
            return LKParams()
        if isinstance(self.lk_params, dict):
            return LKParams.from_mapping(self.lk_params)
        return self.lk_params

    def _register(self, t: int) -> tuple[np.ndarray, float]:
        """Field of frame ``t`` in mm ``(*spatial, ndim)`` and its registration time in ms."""
        if t in self._cache:
            return self._cache.pop(t)
        t0 = time.perf_counter()
        flow_px = self._registrar.register(self.sequence.frames[t])
        field_mm = np.empty((*flow_px.shape[1:], flow_px.shape[0]), np.float32)
        np.multiply(np.moveaxis(flow_px, 0, -1), self._spacing_f32, out=field_mm)  # px -> mm
        return field_mm, (time.perf_counter() - t0) * 1e3

    def _weights_ahead(self, t: int) -> np.ndarray | None:
        """Weights of frame ``t`` for the reference-mode look-ahead (registered early, cached)."""
        if t >= self.sequence.n_frames:
            return None
        if t not in self._cache:
            self._cache[t] = self._register(t)
        return self.model.project(self._cache[t][0][None])[0]

    def prepare(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Register the training frames, fit the PCA model and the standardiser, fit an offline
        forecaster and run the online forecaster over the training frames (warm-up).

        Parameters
        ----------
        progress
            Called as ``progress(done, total)`` after each training frame is registered.
        """
        from motionpredict.motion_model import PCAMotionModel
        from motionpredict.registration import LucasKanade

        self._registrar = LucasKanade(self._reference, self._lk(), backend=self.backend,
                                      device=self.device)
        self._cache.clear()
        n_reg = max(self.train_frames, self.offline_fit_until)
        fields = np.empty((n_reg, *self.sequence.shape, self.sequence.ndim), np.float32)
        for t in range(n_reg):
            fields[t] = self._register(t)[0]
            if progress is not None:
                progress(t + 1, n_reg)
        self.model = PCAMotionModel(self.n_components).fit(fields[: self.train_frames])
        weights = np.asarray(self.model.project(fields), dtype=np.float64)
        self.training_weights = weights[: self.train_frames]
        self.training_fields_mm = fields[: self.train_frames]

        def ahead(i: int) -> np.ndarray | None:
            if i < n_reg:
                return weights[i]
            return self._weights_ahead(i)

        self._setup_forecaster(
            weights[: self.train_frames],
            method=self.method,
            horizon=self._h,
            mode=self.mode,
            seed=self.seed,
            params=self.method_params,
            fit_series=weights[: self.offline_fit_until],
            lookahead=ahead,
            frame_period_s=self.sequence.frame_period,
        )
        self._next_t = self.train_frames

    def process(self, t: int) -> FrameResult:
        """Frame ``t`` was acquired: register, project, forecast and learn, rebuild the field,
        warp the reference frame; return the prediction for frame ``t + h``.

        Frames must be processed in order, starting at ``train_frames`` after :meth:`prepare`.
        """
        if self._next_t is None:
            raise ConfigurationError("call prepare() before process()")
        if t != self._next_t:
            raise ConfigurationError(f"frames must be processed in order: expected frame "
                                     f"{self._next_t}, got {t}")
        if t >= self.sequence.n_frames:
            raise ConfigurationError(f"frame {t} is past the end ({self.sequence.n_frames} frames)")
        from motionpredict.registration import warp_forward

        ms: dict[str, float] = {}
        field_mm, ms["register"] = self._register(t)
        t0 = time.perf_counter()
        w = np.asarray(self.model.project(field_mm[None])[0], dtype=np.float64)
        ms["project"] = (time.perf_counter() - t0) * 1e3
        look = self._weights_ahead(t + self._h) if self.mode == "reference" else None
        t0 = time.perf_counter()
        pw = self._forecast(w, look)
        ms["forecast"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        pf = np.asarray(self.model.reconstruct(pw[None])[0], dtype=np.float32)
        ms["reconstruct"] = (time.perf_counter() - t0) * 1e3
        t0 = time.perf_counter()
        disp_px = np.empty((pf.shape[-1], *pf.shape[:-1]), np.float32)  # channel-first, px
        np.divide(np.moveaxis(pf, -1, 0),
                  self._spacing_f32.reshape((-1,) + (1,) * (pf.ndim - 1)), out=disp_px)
        frame = np.asarray(warp_forward(self._reference, disp_px, sigma=SPLAT_SIGMA_PX),
                           dtype=np.float32)
        ms["warp"] = (time.perf_counter() - t0) * 1e3
        self._next_t = t + 1
        return FrameResult(t=t, target_t=t + self._h, weights=w, predicted_weights=pw,
                           predicted_field_mm=pf, predicted_frame=frame, stage_ms=ms,
                           field_mm=field_mm, mode=self.mode, guarded=self.last_guarded)


class OnlineMarkerPipeline(_ForecastCore):
    """Online forecasting of marker (point) positions: the forecast stage only.

    Parameters
    ----------
    trajectories
        ``(T, N, 3)`` positions in mm; the forecaster sees the ``3N`` coordinates.
    method, horizon_s, mode, seed, method_params, round_horizon, offline_fit_until
        As in :class:`OnlineFramePipeline` (horizon converted with the sample period).
    train_samples
        Number of first samples used for the standardiser (and offline fits); ``None`` takes the
        sidecar split, else the first 45 %.
    """

    def __init__(
        self,
        trajectories: PointTrajectories,
        *,
        method: str,
        horizon_s: float,
        mode: Mode = "causal",
        train_samples: int | None = None,
        seed: int = 0,
        method_params: dict | None = None,
        round_horizon: bool = False,
        offline_fit_until: int | None = None,
    ) -> None:
        if not isinstance(trajectories, PointTrajectories):
            raise ValidationError("OnlineMarkerPipeline needs PointTrajectories")
        if mode not in MODES:
            raise ConfigurationError(f"mode must be one of {MODES}, got {mode!r}")
        n = trajectories.n_samples
        self.trajectories = trajectories
        self.method = method
        get(method)
        self.horizon_s = float(horizon_s)
        self._h = horizon_to_steps(self.horizon_s, trajectories.sample_period,
                                   round_horizon=round_horizon)
        self.mode: Mode = mode
        if train_samples is None:
            train_samples, self.train_source = _default_train(
                n, trajectories.provenance.extra, "samples", trajectories.sample_period)
        else:
            self.train_source = "option"
        self.train_samples = int(train_samples)
        if not 2 <= self.train_samples < n:
            raise ConfigurationError(f"train_samples must lie in 2..{n - 1}, got {train_samples}")
        self.offline_fit_until = int(offline_fit_until or self.train_samples)
        self.seed = int(seed)
        self.method_params = dict(method_params or {})
        self._series = trajectories.as_series()
        self._next_t: int | None = None


    def settings(self) -> dict[str, Any]:
        """JSON-able record of every setting."""
        return {
            "method": self.method, "mode": self.mode, "horizon_s": self.horizon_s,
            "horizon_steps": self._h, "sample_period_s": self.trajectories.sample_period,
            "train_samples": self.train_samples, "train_samples_source": self.train_source,
            "offline_fit_until": self.offline_fit_until, "seed": self.seed,
            "method_params": dict(self.forecaster.params) if hasattr(self, "forecaster")
            else self.method_params,
            "guard": _guard_settings(self),
        }

    def _ahead(self, i: int) -> np.ndarray | None:
        return self._series[i] if i < len(self._series) else None

    def prepare(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Fit the standardiser (and an offline forecaster); warm up over the training samples."""
        self._setup_forecaster(
            self._series[: self.train_samples], method=self.method, horizon=self._h,
            mode=self.mode, seed=self.seed, params=self.method_params,
            fit_series=self._series[: self.offline_fit_until], lookahead=self._ahead,
            frame_period_s=self.trajectories.sample_period,
        )
        self._next_t = self.train_samples
        if progress is not None:
            progress(self.train_samples, self.train_samples)

    def process(self, t: int) -> MarkerResult:
        """Sample ``t`` was acquired: forecast (and learn); return the positions predicted for
        ``t + h``."""
        if self._next_t is None:
            raise ConfigurationError("call prepare() before process()")
        if t != self._next_t:
            raise ConfigurationError(f"samples must be processed in order: expected "
                                     f"{self._next_t}, got {t}")
        look = self._ahead(t + self._h) if self.mode == "reference" else None
        t0 = time.perf_counter()
        pred = self._forecast(self._series[t], look)
        ms = {"forecast": (time.perf_counter() - t0) * 1e3}
        self._next_t = t + 1
        return MarkerResult(t=t, target_t=t + self._h,
                            positions=self.trajectories.positions[t],
                            predicted_positions=pred.reshape(-1, 3), stage_ms=ms, mode=self.mode,
                            guarded=self.last_guarded)


def _guard_settings(pipe: Any) -> dict[str, Any] | None:
    """The forecaster's plausibility-guard settings (``None`` before it exists)."""
    fc = getattr(pipe, "forecaster", None)
    return None if fc is None else dict(vars(fc.guard_settings))


def _params_dict(params: Any) -> dict[str, Any] | None:
    if params is None:
        return None
    if isinstance(params, dict):
        return dict(params)
    try:
        from dataclasses import asdict

        return asdict(params)
    except TypeError:
        return {"repr": repr(params)}


@dataclass
class SequenceRun:
    """Outputs of a pipeline over a window of target frames (or samples).

    Attributes
    ----------
    targets
        ``(T,)`` indices of the frames the predictions are for.
    weights, predicted_weights
        ``(T, p)`` true (LK-projected weights, or marker coordinates) and predicted series at the
        target indices.
    stage_ms
        ``{stage: (T,) ms}`` stage times of the step that issued each prediction.
    metrics
        Flat ``{name: value}`` dictionary (mm, unitless, ms).
    settings
        The pipeline's settings.
    predicted_frames, acquired_frames
        ``(T, *spatial)`` predicted and acquired images (cine only, else ``None``).
    """

    targets: np.ndarray
    weights: np.ndarray
    predicted_weights: np.ndarray
    stage_ms: dict[str, np.ndarray]
    metrics: dict[str, float]
    settings: dict[str, Any]
    predicted_frames: np.ndarray | None = None
    acquired_frames: np.ndarray | None = None
    events: list[Any] = field(default_factory=list)


def run_sequence(
    pipeline: OnlineFramePipeline | OnlineMarkerPipeline,
    *,
    window: tuple[int, int] | None = None,
    roi: np.ndarray | None = None,
    true_fields: DisplacementFieldSeries | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_frames: bool = True,
) -> SequenceRun:
    """Run a pipeline over a whole sequence and measure its predictions.

    Parameters
    ----------
    pipeline
        A pipeline (prepared or not; :meth:`prepare` is called when needed).
    window
        ``(start, stop)`` 0-based half-open range of *target* frames that are scored (e.g. the
        test window); by default every frame after the training window that has a prediction.
    roi
        Boolean mask on the frame grid for the ROI metrics (cine only).
    true_fields
        Known true motion (phantom), reference = the pipeline's reference frame: adds the
        ``dvf_true_*`` errors against it.
    progress
        ``progress(done, total)`` over the processed frames.
    keep_frames
        Keep the predicted and acquired frames of the window in the result.

    Returns
    -------
    SequenceRun
        Series, timings and metrics (see :mod:`motionpredict.metrics`).
    """
    from motionpredict import metrics as M

    if pipeline.next_frame is None:
        pipeline.prepare()
    first = pipeline.next_frame
    assert first is not None
    h = pipeline.horizon_steps
    is_cine = isinstance(pipeline, OnlineFramePipeline)
    n = (pipeline.sequence.n_frames if isinstance(pipeline, OnlineFramePipeline)
         else pipeline.trajectories.n_samples)
    start, stop = window if window is not None else (first + h, n)
    if not first + h <= start < stop <= n:
        raise ConfigurationError(
            f"window {start}..{stop} of target frames must lie in {first + h}..{n} (a prediction "
            f"for frame i is issued at i - {h}, after the {first} training frames)"
        )
    last_issue = stop - h  # issue predictions up to target stop-1
    pred_by_target: dict[int, Any] = {}
    acquired: dict[int, Any] = {}
    total = last_issue - first
    for k, t in enumerate(range(first, max(last_issue, first))):
        r = pipeline.process(t)
        if start <= r.target_t < stop:
            pred_by_target[r.target_t] = r
        if start <= t < stop:
            acquired[t] = r
        if progress is not None:
            progress(k + 1, total)
    # The acquired frames/fields of targets not yet processed (the last h of the window).
    for t in range(max(last_issue, first), stop):
        r = pipeline.process(t)
        acquired[t] = r
    targets = np.arange(start, stop)
    scored = range(start, stop)  # the same target indices as Python ints (dictionary keys)
    settings = pipeline.settings()
    stages = {s: np.array([pred_by_target[i].stage_ms[s] for i in scored])
              for s in pred_by_target[start].stage_ms}
    metrics: dict[str, float] = {}
    if is_cine:
        assert isinstance(pipeline, OnlineFramePipeline)
        w = np.array([acquired[i].weights for i in scored])
        pw = np.array([pred_by_target[i].predicted_weights for i in scored])
        lk = np.array([acquired[i].field_mm for i in scored])
        pf = np.array([pred_by_target[i].predicted_field_mm for i in scored])
        metrics.update(M.field_metrics(pf, lk, roi=roi, prefix="dvf"))
        rebuilt = np.asarray(pipeline.model.reconstruct(w), dtype=np.float32)
        metrics.update(M.field_metrics(rebuilt, lk, roi=roi, prefix="pca_truncation"))
        # The answer (docs/cli.md): RMSE of the rebuilt predicted field against the LK field over
        # the ROI (else every pixel), and the same for no prediction: the field rebuilt from the
        # weights of the last acquired frame t - h (what method "no-prediction" predicts).
        last = np.array([pred_by_target[i].weights for i in scored])
        held = np.asarray(pipeline.model.reconstruct(last), dtype=np.float32)
        metrics["rmse_mm"] = field_rmse_mm(pf, lk, roi)
        metrics["no_prediction_rmse_mm"] = field_rmse_mm(held, lk, roi)
        if true_fields is not None:
            tf = np.asarray(true_fields.fields[targets], dtype=np.float32)
            metrics.update(M.field_metrics(pf, tf, roi=roi, prefix="dvf_true"))
            metrics.update(M.field_metrics(lk, tf, roi=roi, prefix="lk_vs_true"))
        frames = np.array([pred_by_target[i].predicted_frame for i in scored])
        truth = pipeline.sequence.frames[targets]
        metrics.update(M.image_metrics(frames, truth, true_range=true_range(pipeline.sequence)))
        if roi is not None:
            metrics.update({f"roi_{k}": v for k, v in
                            M.image_metrics(frames, truth, mask=roi,
                                            true_range=true_range(pipeline.sequence)).items()})
        pred_frames = frames if keep_frames else None
        acq_frames = truth if keep_frames else None
    else:
        assert isinstance(pipeline, OnlineMarkerPipeline)
        w = pipeline.trajectories.as_series()[targets]
        pw = np.array([pred_by_target[i].predicted_positions.ravel() for i in scored])
        metrics.update(M.marker_metrics(pw, w))
        held = pipeline.trajectories.as_series()[targets - h]  # no prediction: the last sample
        metrics["no_prediction_rmse_mm"] = M.marker_metrics(held, w)["rmse_mm"]
        pred_frames = acq_frames = None
    ref = metrics["no_prediction_rmse_mm"]
    metrics["relative_rmse"] = metrics["rmse_mm"] / ref if ref > 0 else float("nan")
    metrics.update(M.stage_summary(stages))
    metrics["n_scored"] = float(len(targets))
    # plausibility guard: scored targets whose forecast (issued at target - h) was the fallback
    guard_steps = {e.step for e in pipeline.forecaster.guard_events}
    metrics.update(guard_summary(np.array([i - h in guard_steps for i in scored], dtype=bool)))
    return SequenceRun(targets=targets, weights=w, predicted_weights=pw, stage_ms=stages,
                       metrics=metrics, settings=settings, predicted_frames=pred_frames,
                       acquired_frames=acq_frames, events=list(pipeline.forecaster.events))


def field_rmse_mm(predicted: np.ndarray, reference: np.ndarray,
                  roi: np.ndarray | None = None) -> float:
    """Root mean square geometric error of displacement fields (mm).

    ``sqrt(mean over frames t and pixels x of |u_t(x) - û_t(x)|^2)``, over the ROI pixels when
    ``roi`` is given, else every pixel.

    Parameters
    ----------
    predicted, reference
        ``(T, *spatial, ndim)`` fields in mm.
    roi
        Boolean ``spatial`` mask, or ``None``.
    """
    d = np.asarray(predicted, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    sq = np.sum(d * d, axis=-1)  # (T, *spatial)
    if roi is not None:
        sq = sq[:, np.asarray(roi, dtype=bool)]
    return float(np.sqrt(sq.mean()))


def true_range(sequence: ImageSequence) -> float:
    """Dynamic range of the data for SSIM: the raw dtype range when known, else max - min."""
    rr = sequence.provenance.raw_range
    if rr is not None and rr[1] > rr[0]:
        return float(rr[1] - rr[0])
    span = float(sequence.frames.max() - sequence.frames.min())
    return span if span > 0 else 1.0
