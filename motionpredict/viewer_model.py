"""Qt-free state of the desktop viewer (napari-style model; the Qt widgets only render it).

The model holds what a replay session is about: the sequence, the chosen prediction settings
(methods, horizon or system latency, causal/reference mode, number of PCA components), the replay
position and speed, the per-frame results of the online pipeline and their stage timings, and the
display options shared by the synchronised views. Widgets subscribe to :class:`Event` objects in
:attr:`ViewerModel.events` with plain-Python callbacks; nothing here imports Qt (an import-linter
contract enforces it).

Computation does not happen in the model: a :class:`FrameProcessor` owns the online pipelines and
is driven by a worker thread; the worker hands each :class:`FrameOutput` to the GUI thread, which
stores it with :meth:`ViewerModel.add_frame`. The model is therefore only ever mutated from one
thread.

Latency budget
--------------
With a frame period ``T`` and a horizon of ``k`` frames, each frame must be processed before the
next one arrives (``total <= T``) to keep up with the acquisition. When the user asks to compensate
a system latency ``L`` (the delay of the delivery chain, excluding this computation), the horizon is
the smallest whole number of frames that exceeds it, ``k = floor(L / T) + 1``, and the prediction
is useful only if it is ready before ``t + kT - L``: the computation budget is ``B = kT - L``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from motionpredict.errors import ConfigurationError, InputFileError, ValidationError
from motionpredict.forecasters import MODES
from motionpredict.forecasters import get as get_forecaster
from motionpredict.sequences import ImageSequence, PointTrajectories

#: What the viewer replays: an image sequence, or marker trajectories (plots only).
Replayable = ImageSequence | PointTrajectories

#: Stages of one frame, in the order the latency panel stacks them. ``read`` (fetch the frame) is
#: timed by :class:`FrameProcessor`, ``render`` by the GUI; the others come from the pipeline.
STAGES: tuple[str, ...] = (
    "read",
    "register",
    "project",
    "forecast",
    "reconstruct",
    "warp",
    "render",
)

#: How the third view combines the acquired frame and the prediction made for it.
CompareMode = Literal["difference", "blend", "checkerboard"]
COMPARE_MODES: tuple[CompareMode, ...] = ("difference", "blend", "checkerboard")

#: How the predicted displacement field is drawn over the predicted frame.
FieldDisplay = Literal["none", "arrows", "grid"]
FIELD_DISPLAYS: tuple[FieldDisplay, ...] = ("none", "arrows", "grid")

#: What the top plot shows for image sequences: the target's displacement in mm (mean field over
#: the tumour, the ROI or the frame) or the PCA weights.
TopPlot = Literal["displacement", "weights"]
TOP_PLOTS: tuple[TopPlot, ...] = ("displacement", "weights")

#: One colour per forecasting method, by the method's position in the registry
#: (``motionpredict.forecasters.available()``): matplotlib's ``tab20`` order with the ten ``tab10``
#: colours first, so that up to ten methods never share a colour and a method keeps its colour
#: from one run to the next whatever else is checked.
METHOD_PALETTE: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
    "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)


def method_color(method: str) -> str:
    """The colour (``"#rrggbb"``) of ``method``: fixed by its position in the registry."""
    from motionpredict.forecasters import available

    names = available()
    i = names.index(method) if method in names else len(names) + sum(map(ord, method))
    return METHOD_PALETTE[i % len(METHOD_PALETTE)]


def warmup_samples_left(forecaster: Any) -> int | None:
    """Samples a forecaster still needs before it forecasts (``None`` when it forecasts).

    A forecaster that estimates its model from a window of past samples first (the Kalman
    oscillator: ``window / 2`` samples) returns the last value meanwhile, i.e. behaves as no
    prediction; this says so. Recognised by its ``omega`` attribute (``None`` until the first
    estimate) and its ``window`` hyper-parameter.
    """
    if not hasattr(forecaster, "omega") or forecaster.omega is not None:
        return None
    params = getattr(forecaster, "params", {}) or {}
    win = params.get("window")
    seen = getattr(forecaster, "_seen", None)
    if win is None or seen is None:
        return 1
    return max(int(win) // 2 - int(seen), 1)


class ReplayClock:
    """Paces a replay against an absolute clock (no drift from late timer events).

    Frame ``k`` of a replay started at ``t0`` is due at ``t0 + k P`` (``P`` = frame period /
    speed, s), whatever the lateness of the timer that fired for the frames before: a timer that
    fires 1 ms late every time delays each frame by 1 ms but not the rate. When the computation
    is slower than ``P`` the next frame is requested as soon as the previous one is done, and the
    schedule is re-anchored so that no burst of catch-up frames follows (at most one period of
    lateness is made up).

    Parameters
    ----------
    period_s
        Time between two requested frames in s (frame period / speed).
    clock
        Monotonic clock in s (``time.perf_counter`` by default; tests inject their own).
    """

    def __init__(self, period_s: float, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or time.perf_counter
        self.period_s = _check_period(period_s)
        self._next: float | None = None

    def start(self, period_s: float | None = None) -> None:
        """(Re)start the schedule now: the first frame is due immediately."""
        if period_s is not None:
            self.period_s = _check_period(period_s)
        self._next = self.clock()

    def delay_s(self) -> float:
        """Seconds until the next frame is due (0 when it is due already)."""
        if self._next is None:
            return 0.0
        return max(0.0, self._next - self.clock())

    def requested(self) -> None:
        """Note that the due frame was requested now; schedule the next one."""
        now = self.clock()
        due = now if self._next is None else self._next
        # slower than the period (due long past): make up at most one period, never a burst
        self._next = max(due, now - self.period_s) + self.period_s


# ---------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class ModelEvent:
    """What a callback receives: the event's name and its payload."""

    type: str
    value: Any = None


class Event:
    """A plain-Python signal: ``connect(callback)``, ``emit(value)``.

    Callbacks are called synchronously, in connection order, with one :class:`ModelEvent`.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._callbacks: list[Callable[[ModelEvent], Any]] = []

    def connect(self, callback: Callable[[ModelEvent], Any]) -> Callable[[ModelEvent], Any]:
        """Register ``callback``; returns it (usable as a decorator)."""
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[ModelEvent], Any] | None = None) -> None:
        """Remove ``callback`` (all callbacks when ``None``)."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, value: Any = None) -> None:
        """Call every connected callback with ``ModelEvent(self.name, value)``."""
        event = ModelEvent(self.name, value)
        for cb in list(self._callbacks):
            cb(event)


class ViewerEvents:
    """The events a :class:`ViewerModel` emits.

    Attributes
    ----------
    sequence
        A new sequence was set (value: the sequence).
    settings
        Prediction settings changed; results were cleared (value: the settings).
    results_cleared
        Every stored result was dropped (value: ``None``).
    frame_added
        A processed frame was stored (value: the frame index ``t``).
    position
        The displayed frame changed (value: ``t``).
    display
        A display option changed (value: the option's name).
    playing
        Replay started or paused (value: ``bool``).
    speed
        The replay speed multiplier changed (value: the multiplier).
    status
        A one-line message for the status bar (value: ``str``).
    """

    def __init__(self) -> None:
        for name in (
            "sequence",
            "settings",
            "results_cleared",
            "frame_added",
            "position",
            "display",
            "playing",
            "speed",
            "status",
        ):
            setattr(self, name, Event(name))

    sequence: Event
    settings: Event
    results_cleared: Event
    frame_added: Event
    position: Event
    display: Event
    playing: Event
    speed: Event
    status: Event


# -------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class PredictionSettings:
    """What to predict and how.

    Parameters
    ----------
    methods
        Forecaster names (``motionpredict.forecasters.available()``); the first is the *primary*
        method shown in the image views and the latency panel, all are plotted.
    horizon_ms
        Prediction horizon in ms; rounded to the nearest whole number of frames (at least one).
        ``None`` means one frame period. Ignored when ``system_latency_ms`` is set.
    system_latency_ms
        Latency ``L`` of the delivery chain to compensate, in ms; the horizon becomes the smallest
        whole number of frames longer than ``L`` and the computation budget ``kT - L``.
    mode
        ``"causal"`` (clinically valid) or ``"reference"`` (published look-ahead behaviour).
    n_components
        Number of PCA motion components.
    train_frames
        Frames used to fit the motion model (pipeline default when ``None``).
    seed
        Seed of the forecasters' random initialisation.
    """

    methods: tuple[str, ...] = ("no-prediction",)
    horizon_ms: float | None = None
    system_latency_ms: float | None = None
    mode: str = "causal"
    n_components: int = 3
    train_frames: int | None = None
    seed: int = 0

    def validated(self) -> PredictionSettings:
        """Return a normalised copy; raise :class:`ConfigurationError` on invalid values."""
        methods = tuple(str(m) for m in self.methods)
        if not methods:
            raise ConfigurationError("choose at least one prediction method")
        if len(set(methods)) != len(methods):
            raise ConfigurationError(f"method listed twice: {', '.join(methods)}")
        for m in methods:
            get_forecaster(m)  # raises ConfigurationError naming the available methods
        if self.mode not in MODES:
            raise ConfigurationError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if int(self.n_components) < 1:
            raise ConfigurationError(f"n_components must be >= 1, got {self.n_components}")
        for name in ("horizon_ms", "system_latency_ms"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(float(v)) and float(v) > 0):
                raise ConfigurationError(f"{name} must be a positive number of ms, got {v}")
        if self.train_frames is not None and int(self.train_frames) < 2:
            raise ConfigurationError(f"train_frames must be >= 2, got {self.train_frames}")
        return replace(
            self,
            methods=methods,
            n_components=int(self.n_components),
            train_frames=None if self.train_frames is None else int(self.train_frames),
            seed=int(self.seed),
        )

    def horizon_steps(self, frame_period_s: float) -> int:
        """Horizon in frames for a frame period in s (see the module docstring)."""
        period_ms = _check_period(frame_period_s) * 1e3
        if self.system_latency_ms is not None:
            return math.floor(float(self.system_latency_ms) / period_ms + 1e-9) + 1
        if self.horizon_ms is None:
            return 1
        return max(1, round(float(self.horizon_ms) / period_ms))

    def budget_ms(self, frame_period_s: float) -> float | None:
        """Computation budget ``kT - L`` in ms, or ``None`` without a system latency."""
        if self.system_latency_ms is None:
            return None
        period_ms = _check_period(frame_period_s) * 1e3
        return self.horizon_steps(frame_period_s) * period_ms - float(self.system_latency_ms)


def period_of(sequence: Replayable) -> float:
    """Frame period (images) or sample period (markers) in s."""
    if isinstance(sequence, PointTrajectories):
        return sequence.sample_period
    return sequence.frame_period


def length_of(sequence: Replayable) -> int:
    """Number of frames (images) or samples (markers)."""
    if isinstance(sequence, PointTrajectories):
        return sequence.n_samples
    return sequence.n_frames


def measured_values(result: Any) -> np.ndarray:
    """The series value measured at a result's frame: PCA weights ``(n,)`` or the ``3N`` marker
    coordinates in mm (point-major, as :meth:`PointTrajectories.as_series`)."""
    w = getattr(result, "weights", None)
    if w is None:
        w = np.ravel(result.positions)
    return np.asarray(w, dtype=np.float64)


def predicted_values(result: Any) -> np.ndarray:
    """The forecast carried by a result: predicted PCA weights or marker coordinates (mm)."""
    w = getattr(result, "predicted_weights", None)
    if w is None:
        w = np.ravel(result.predicted_positions)
    return np.asarray(w, dtype=np.float64)


def result_array(result: ResultLike, name: str) -> np.ndarray:
    """Array attribute ``name`` of a pipeline result, e.g. ``predicted_frame`` of a frame result or
    ``predicted_positions`` (mm) of a marker result.

    Raises
    ------
    ConfigurationError
        When the result has no such attribute (a marker result asked for a frame, or the reverse).
    """
    value = getattr(result, name, None)
    if value is None:
        raise ConfigurationError(f"{type(result).__name__} of frame {result.t} has no {name}")
    return np.asarray(value)


def _check_period(frame_period_s: float) -> float:
    p = float(frame_period_s)
    if not (math.isfinite(p) and p > 0):
        raise ValidationError(f"frame period must be a positive number of s, got {frame_period_s}")
    return p


# ------------------------------------------------------------------------------------- pipeline
class ResultLike(Protocol):
    """What the viewer needs from every pipeline result.

    The rest depends on the sequence kind and is read by name (:func:`result_array`,
    :func:`measured_values`, :func:`predicted_values`): a frame result
    (``motionpredict.pipeline.FrameResult``) has ``weights``, ``predicted_weights``,
    ``predicted_field_mm``, ``predicted_frame`` and ``field_mm``; a marker result
    (``motionpredict.pipeline.MarkerResult``) has ``positions`` and ``predicted_positions`` (mm).
    """

    t: int
    target_t: int
    stage_ms: dict[str, float]


class PipelineLike(Protocol):
    """What the viewer needs from ``motionpredict.pipeline.OnlineFramePipeline`` (or
    ``OnlineMarkerPipeline``)."""

    @property
    def horizon_steps(self) -> int: ...

    def prepare(self, progress: Callable[[int, int], None] | None = None) -> None: ...

    def process(self, t: int) -> ResultLike: ...


#: Builds one pipeline: ``factory(sequence, method=..., horizon_s=..., mode=..., ...)``.
PipelineFactory = Callable[..., PipelineLike]


def default_pipeline_factory(sequence: Replayable, **kwargs: Any) -> PipelineLike:
    """Build ``motionpredict.pipeline.OnlineFramePipeline(sequence, **kwargs)``, or an
    ``OnlineMarkerPipeline`` for marker trajectories (``train_frames`` becomes
    ``train_samples``; ``n_components`` does not apply). Without ``lk_params``, an image
    sequence registers with its sidecar's ``reference_lk_parameters`` when it has them (as
    ``predict`` and ``evaluate`` do), else with the registration defaults."""
    from motionpredict.pipeline import OnlineFramePipeline, OnlineMarkerPipeline

    if isinstance(sequence, PointTrajectories):
        kwargs = dict(kwargs)
        kwargs.pop("n_components", None)
        kwargs["train_samples"] = kwargs.pop("train_frames", None)
        return OnlineMarkerPipeline(sequence, **kwargs)
    if kwargs.get("lk_params") is None:
        # the sequence's own sidecar LK parameters, as `predict` and `evaluate` use them
        from motionpredict.io.sidecar import sidecar_of

        side = sidecar_of(getattr(getattr(sequence, "provenance", None), "extra", None))
        if side is not None and side.lk_parameters is not None:
            kwargs = {**kwargs, "lk_params": side.lk_parameters}
    return OnlineFramePipeline(sequence, **kwargs)


@dataclass
class FrameOutput:
    """Everything computed when frame ``t`` was acquired.

    Attributes
    ----------
    t
        Index of the acquired frame.
    results
        ``{method: FrameResult}`` of each pipeline.
    read_ms
        Time in ms to fetch frame ``t`` (in a replay: copy it out of the in-memory sequence).
    warming_up
        ``{method: samples left}`` for the methods still warming up (their forecast is the last
        value, as no prediction's, until they have seen enough samples).
    """

    t: int
    results: dict[str, ResultLike]
    read_ms: float
    warming_up: dict[str, int] = dc_field(default_factory=dict)


@dataclass
class Prepared:
    """What :meth:`FrameProcessor.prepare` established.

    Attributes
    ----------
    first_frame
        Index of the first frame replayed (frames before it trained the motion model).
    horizon_steps
        Horizon in frames.
    training_weights
        ``{method: (first_frame, n_components)}`` PCA weights of the training frames.
    """

    first_frame: int
    horizon_steps: int
    training_weights: dict[str, np.ndarray]


#: Progress units of one method's preparation (see :meth:`FrameProcessor.prepare`).
PROGRESS_UNITS = 1000


class FrameProcessor:
    """Owns one online pipeline per method and runs frames through them, in order.

    Used from the worker thread only; the model never touches the pipelines.

    Parameters
    ----------
    sequence
        The image sequence (or marker trajectories) replayed.
    settings
        Validated prediction settings.
    factory
        Pipeline constructor (the real ``OnlineFramePipeline`` by default).
    """

    def __init__(
        self,
        sequence: Replayable,
        settings: PredictionSettings,
        factory: PipelineFactory | None = None,
    ) -> None:
        self.sequence = sequence
        self.settings = settings.validated()
        self.factory = factory or default_pipeline_factory
        self.pipelines: dict[str, PipelineLike] = {}
        self.next_t = 0

    @property
    def horizon_steps(self) -> int:
        """Horizon in frames requested by the settings."""
        return self.settings.horizon_steps(period_of(self.sequence))

    def prepare(self, progress: Callable[[int, int], None] | None = None) -> Prepared:
        """Build and prepare every pipeline (registration of training frames, PCA fit...).

        ``progress(done, total)`` counts over all methods in :data:`PROGRESS_UNITS` per method:
        a pipeline's own reports (the registration of its training frames) fill 90 % of its
        share, the rest (PCA fit, forecaster warm-up) is reported when its ``prepare`` returns,
        so ``done == total`` means ready. Returns what the model needs to start the replay
        (:meth:`ViewerModel.begin`).
        """
        k = self.horizon_steps
        horizon_s = k * period_of(self.sequence)
        s = self.settings
        n_methods = len(s.methods)
        training: dict[str, np.ndarray] = {}
        first: int | None = None
        self.pipelines = {}
        for i, method in enumerate(s.methods):
            pipe = self.factory(
                self.sequence,
                method=method,
                horizon_s=horizon_s,
                mode=s.mode,
                n_components=s.n_components,
                train_frames=s.train_frames,
                seed=s.seed,
            )

            def forward(done: int, total: int, i: int = i) -> None:
                if progress is not None and total > 0:
                    part = int(0.9 * PROGRESS_UNITS * min(max(done, 0), total) / total)
                    progress(i * PROGRESS_UNITS + part, n_methods * PROGRESS_UNITS)

            pipe.prepare(forward)
            if progress is not None:
                progress((i + 1) * PROGRESS_UNITS, n_methods * PROGRESS_UNITS)
            if int(pipe.horizon_steps) != k:
                raise ConfigurationError(
                    f"pipeline for {method!r} chose a horizon of {pipe.horizon_steps} frames "
                    f"instead of the requested {k}"
                )
            nxt = int(getattr(pipe, "next_frame", 0) or 0)
            if first is not None and nxt != first:
                raise ConfigurationError(
                    f"methods start at different frames ({first} and {nxt} for {method!r})"
                )
            first = nxt
            tw = getattr(pipe, "training_weights", None)
            if tw is None and isinstance(self.sequence, PointTrajectories):
                tw = self.sequence.as_series()[:nxt]
            if tw is not None:
                training[method] = np.asarray(tw, dtype=np.float64)
            self.pipelines[method] = pipe
        self.next_t = int(first or 0)
        if self.next_t >= length_of(self.sequence):
            raise ConfigurationError(
                f"the training window ({self.next_t} frames) leaves no frame of the "
                f"{length_of(self.sequence)} to replay"
            )
        return Prepared(first_frame=self.next_t, horizon_steps=k, training_weights=training)

    def process_next(self) -> FrameOutput:
        """Process the next frame (frames are fed in acquisition order, like a live system)."""
        if not self.pipelines:
            raise RuntimeError("prepare() must be called before processing frames")
        t = self.next_t
        if t >= length_of(self.sequence):
            raise IndexError(f"all {length_of(self.sequence)} frames are processed")
        t0 = time.perf_counter()
        if isinstance(self.sequence, PointTrajectories):
            np.array(self.sequence.positions[t], copy=True)
        else:
            np.array(self.sequence.frames[t], copy=True)
        read_ms = (time.perf_counter() - t0) * 1e3
        results = {m: p.process(t) for m, p in self.pipelines.items()}
        self.next_t = t + 1
        warming = {}
        for m, p in self.pipelines.items():
            left = warmup_samples_left(getattr(p, "forecaster", None))
            if left is not None:
                warming[m] = left
        return FrameOutput(t=t, results=results, read_ms=read_ms, warming_up=warming)

    @property
    def finished(self) -> bool:
        """True once every frame was processed."""
        return self.next_t >= length_of(self.sequence)


# -------------------------------------------------------------------------------- image helpers
def auto_window(frames: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """Window and level (same unit as the intensities) from the ``low``-``high`` percentiles."""
    sample = np.asarray(frames, dtype=np.float32).ravel()
    if sample.size > 2_000_000:
        sample = sample[:: sample.size // 1_000_000]
    lo, hi = np.percentile(sample, [low, high])
    width = float(hi - lo) if hi > lo else max(1.0, abs(float(hi)))
    return width, float(lo + hi) / 2.0


#: Names of the window/level presets (:func:`window_presets`), in menu order.
WINDOW_PRESETS: tuple[str, ...] = ("auto (1-99 %)", "full range", "high contrast (10-90 %)")


def window_presets(frames: np.ndarray) -> dict[str, tuple[float, float]]:
    """``{name: (window, level)}`` presets for a sequence's intensities (their unit).

    ``auto``: 1st-99th percentiles (what opening a sequence sets); ``full range``: minimum to
    maximum; ``high contrast``: 10th-90th percentiles. MRI intensities have no absolute scale,
    so the presets are relative to the sequence, not Hounsfield windows.
    """
    a = np.asarray(frames, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    full = (hi - lo if hi > lo else max(1.0, abs(hi)), (lo + hi) / 2.0)
    return {
        WINDOW_PRESETS[0]: auto_window(a),
        WINDOW_PRESETS[1]: full,
        WINDOW_PRESETS[2]: auto_window(a, 10.0, 90.0),
    }


def apply_window(image: np.ndarray, window: float, level: float) -> np.ndarray:
    """Map intensities to ``uint8`` grey levels: ``level - window/2 -> 0``, ``+window/2 -> 255``."""
    w = max(float(window), 1e-12)
    scaled = (np.asarray(image, dtype=np.float32) - (float(level) - w / 2.0)) * (255.0 / w)
    return np.clip(scaled + 0.5, 0.0, 255.0).astype(np.uint8)  # rounded


def checkerboard(a: np.ndarray, b: np.ndarray, tile: int = 16) -> np.ndarray:
    """Interleave ``a`` and ``b`` in square tiles of ``tile`` pixels (``a`` on the even tiles)."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValidationError(f"checkerboard needs equal shapes, got {a.shape} and {b.shape}")
    grids = np.indices(a.shape) // max(1, int(tile))
    even = (grids.sum(axis=0) % 2) == 0
    return np.where(even, a, b)


def compose(
    actual: np.ndarray, predicted: np.ndarray, mode: CompareMode, *, tile: int = 16
) -> np.ndarray:
    """Combine an acquired frame and its prediction.

    ``difference`` returns ``actual - predicted`` (signed, same unit); ``blend`` the mean;
    ``checkerboard`` tiles of the acquired frame (even tiles) and the prediction (odd tiles).
    """
    actual = np.asarray(actual, dtype=np.float32)
    predicted = np.asarray(predicted, dtype=np.float32)
    if actual.shape != predicted.shape:
        raise ValidationError(f"cannot compare shapes {actual.shape} and {predicted.shape}")
    if mode == "difference":
        return actual - predicted
    if mode == "blend":
        return 0.5 * (actual + predicted)
    if mode == "checkerboard":
        return checkerboard(actual, predicted, tile)
    raise ConfigurationError(f"comparison mode must be one of {COMPARE_MODES}, got {mode!r}")


def mask_contours(mask: np.ndarray) -> list[np.ndarray]:
    """Outer contours of a 2D boolean mask as ``(N, 2)`` arrays of ``(row, col)`` pixel centres."""
    import cv2

    m = np.ascontiguousarray(np.asarray(mask, dtype=bool).astype(np.uint8))
    if m.ndim != 2:
        raise ValidationError(f"contours need a 2D mask, got shape {m.shape}")
    found, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return [c.reshape(-1, 2)[:, ::-1].astype(np.float64) for c in found if len(c) >= 3]


def move_points(
    points_px: np.ndarray, field_mm: np.ndarray, spacing: Sequence[float]
) -> np.ndarray:
    """Move reference-frame points by a displacement field.

    With ``I_ref(x) ~ I_t(x + u_t(x))`` a structure at ``x`` in the reference frame is at
    ``x + u_t(x)`` in frame ``t``.

    Parameters
    ----------
    points_px
        ``(N, 2)`` positions ``(row, col)`` in pixels on the reference grid.
    field_mm
        ``(H, W, 2)`` displacement in mm, components in array-axis order.
    spacing
        ``(row, col)`` pixel size in mm.

    Returns
    -------
    numpy.ndarray
        ``(N, 2)`` moved positions in pixels (bilinear interpolation of ``u``).
    """
    from scipy.ndimage import map_coordinates

    pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 2)
    f = np.asarray(field_mm, dtype=np.float64)
    if f.ndim != 3 or f.shape[-1] != 2:
        raise ValidationError(f"field must be (H, W, 2) in mm, got shape {f.shape}")
    sp = np.asarray(spacing, dtype=np.float64).reshape(2)
    disp = np.stack(
        [map_coordinates(f[..., c], pts.T, order=1, mode="nearest") for c in range(2)], axis=1
    )
    return pts + disp / sp


def field_in_plane(field_mm: np.ndarray, slice_index: int | None) -> np.ndarray:
    """The ``(H, W, 2)`` in-plane part of a 2D field, or of slice ``slice_index`` of a 3D field."""
    f = np.asarray(field_mm)
    if f.ndim == 3:
        return f
    if f.ndim == 4:
        return f[int(slice_index or 0), :, :, 1:]
    raise ValidationError(f"field must be (H, W, 2) or (D, H, W, 3), got shape {f.shape}")


# ------------------------------------------------------------------------------------ 4DCT view
def warp_mask_cropped(mask: np.ndarray, field_mm: np.ndarray,
                      spacing: Sequence[float]) -> np.ndarray:
    """:func:`motionpredict.ct4d.views.warp_mask` restricted to the mask's neighbourhood.

    Only voxels inside the mask carry mass, so the forward warp is computed on the mask's
    bounding box enlarged by the largest displacement found there (plus 3 voxels) and pasted
    into a zero volume: the same occupancy as the full warp at a fraction of the cost.

    Parameters
    ----------
    mask
        ``(D, H, W)`` bool mask on the reference volume.
    field_mm
        ``(D, H, W, 3)`` displacement, mm.
    spacing
        Voxel size, mm.

    Returns
    -------
    numpy.ndarray
        ``(D, H, W)`` float32 occupancy in 0..1.
    """
    from motionpredict.ct4d.views import warp_mask

    m = np.asarray(mask, dtype=bool)
    f = np.asarray(field_mm)
    if f.shape != (*m.shape, m.ndim):
        raise ValidationError(f"field {f.shape} does not fit the mask {m.shape}")
    out = np.zeros(m.shape, dtype=np.float32)
    if not m.any():
        return out
    nz = np.nonzero(m)
    lo = np.array([a.min() for a in nz])
    hi = np.array([a.max() for a in nz]) + 1
    inside = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    reach_px = np.abs(f[inside][m[inside]] / np.asarray(spacing, dtype=np.float64)).max(axis=0)
    pad = np.ceil(reach_px).astype(int) + 3
    lo = np.maximum(lo - pad, 0)
    hi = np.minimum(hi + pad, m.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    out[box] = warp_mask(m[box], f[box], tuple(spacing))
    return out


@dataclass
class TargetCheck:
    """The target of the prediction checked at the shown frame (:meth:`ViewerModel.target_check`).

    Attributes
    ----------
    issued, target
        Frame the prediction was issued at and the frame it is for (0-based).
    region
        ``"tumour"`` (the reference tumour mask) or ``"ROI"`` (the sidecar's box).
    predicted_centroid_mm, actual_centroid_mm
        ``(ndim,)`` centroids of the region moved by the predicted field and by the target frame's
        own Lucas-Kanade field (:func:`motionpredict.target.centroid_mm`: mm, array-axis order,
        origin at the centre of the first voxel).
    centroid_error_mm
        Distance between the two centroids, mm.
    dice
        Dice of the predicted against the actual target mask.
    predicted_contours, actual_contours
        0.5 iso-contours of the two masks on the displayed plane, ``(N, 2)`` ``(row, col)`` pixels.
    """

    issued: int
    target: int
    region: str
    predicted_centroid_mm: np.ndarray
    actual_centroid_mm: np.ndarray
    centroid_error_mm: float
    dice: float
    predicted_contours: list[np.ndarray]
    actual_contours: list[np.ndarray]


@dataclass
class OrthoState:
    """What the 4DCT view draws for one displayed frame.

    Attributes
    ----------
    issued
        Frame at which the shown prediction was issued (``None``: no prediction checkable).
    target
        The acquired frame whose volume is sliced.
    views
        Axial, coronal, sagittal :class:`motionpredict.ct4d.views.OrthoView` (slice, pixel
        size in mm, contours ``{"actual" | "predicted" | "reference": [(K, 2) row/col]}``).
    masks
        The ``(D, H, W)`` occupancies the contours were drawn from.
    """

    issued: int | None
    target: int
    views: list[Any]
    masks: dict[str, np.ndarray]


# ------------------------------------------------------------------------------------ statistics
@dataclass(frozen=True)
class LatencyStats:
    """Running statistics of the per-frame processing time (primary method).

    Attributes
    ----------
    n_frames
        Frames counted.
    median_ms, p99_ms, max_ms
        Statistics of the total time per frame (sum of the stages) in ms.
    frame_period_ms
        Acquisition frame period in ms.
    budget_ms
        Computation budget ``kT - L`` in ms (``None`` without a system latency).
    n_over_period
        Frames whose total exceeds the frame period (the replay cannot keep up live).
    n_over_budget
        Frames whose total exceeds the budget (their prediction arrives too late).
    """

    n_frames: int
    median_ms: float
    p99_ms: float
    max_ms: float
    frame_period_ms: float
    budget_ms: float | None
    n_over_period: int
    n_over_budget: int


# ----------------------------------------------------------------------------------------- model
@dataclass
class DisplayOptions:
    """Options shared by the synchronised views.

    Attributes
    ----------
    window, level
        Grey-level window width and centre, in the sequence's intensity unit.
    compare
        How the third view combines the acquired frame and its prediction.
    field
        Displacement-field overlay on the predicted frame.
    show_contours
        Draw the tumour contour (moved by the predicted field) and the ROI.
    slice_index
        Slice shown for 3D sequences (array axis 0).
    checker_tile
        Checkerboard tile size in pixels.
    """

    window: float = 1.0
    level: float = 0.5
    compare: CompareMode = "difference"
    field: FieldDisplay = "arrows"
    show_contours: bool = True
    slice_index: int = 0
    checker_tile: int = 16
    top_plot: TopPlot = "displacement"


class ViewerModel:
    """State of one replay session (Qt-free).

    Attributes
    ----------
    sequence
        The image sequence, or ``None`` before one is opened.
    source
        A description of where it came from (path or generator).
    tumour_mask
        Optional boolean mask of the tumour on the reference frame (spatial shape of the frames).
    roi
        Optional region of interest in pixels on the reference grid: ``(row0, col0, row1, col1)``
        (end exclusive).
    roi_slices
        Optional slice range ``(slice0, slice1)`` of the ROI of a volume (end exclusive).
    warming_up
        ``{method: samples left}`` of the methods still warming up at the newest frame.
    warmup_frames
        ``{method: [t, ...]}`` frames at which a method was still warming up (its forecast was
        the last value).
    settings
        The current :class:`PredictionSettings`.
    display
        The current :class:`DisplayOptions`.
    speed
        Replay speed multiplier (1 = acquisition rate).
    position
        Index of the displayed (most recently acquired, in live replay) frame; ``-1`` before any.
    newest
        Index of the newest acquired frame (the last training frame right after :meth:`begin`);
        ``-1`` before the replay was prepared.
    first_frame
        First replayed frame (the frames before it trained the motion model); ``None`` before
        :meth:`begin`.
    training_weights
        ``{method: (first_frame, n)}`` PCA weights of the training frames.
    results
        ``{method: {t: FrameResult}}``.
    timings
        ``{t: {stage: ms}}`` of the primary method, including ``read`` and ``render``.
    """

    def __init__(self) -> None:
        self.events = ViewerEvents()
        self.sequence: Replayable | None = None
        self.source: str = ""
        self.tumour_mask: np.ndarray | None = None
        self.roi: tuple[int, int, int, int] | None = None
        self.roi_slices: tuple[int, int] | None = None
        self.warming_up: dict[str, int] = {}
        self.warmup_frames: dict[str, list[int]] = {}
        self.settings = PredictionSettings()
        self.display = DisplayOptions()
        self.speed: float = 1.0
        self.playing: bool = False
        self.position: int = -1
        self.newest: int = -1
        self.first_frame: int | None = None
        self.training_weights: dict[str, np.ndarray] = {}
        self.horizon_steps_used: int | None = None
        self.results: dict[str, dict[int, ResultLike]] = {}
        self.timings: dict[int, dict[str, float]] = {}
        self._ticks: deque[tuple[float, int]] = deque(maxlen=32)
        self._field_errors: dict[str, dict[int, float]] = {}
        self._region_means: dict[tuple[str, str, int], np.ndarray] = {}
        self._contours: list[np.ndarray] = []
        self._moved_masks: dict[tuple[str, str, int], np.ndarray] = {}

    # ------------------------------------------------------------------ sequence and settings
    def set_sequence(
        self,
        sequence: Replayable,
        *,
        source: str = "",
        tumour_mask: np.ndarray | None = None,
        roi: tuple[int, int, int, int] | None = None,
        roi_slices: tuple[int, int] | None = None,
    ) -> None:
        """Open an image sequence (or marker trajectories); drop all results; reset the
        window/level and the position.

        ``roi`` is ``(row0, col0, row1, col1)`` and ``roi_slices`` ``(slice0, slice1)`` (volumes
        only), 0-based, end exclusive; field errors are averaged over the box they span.
        """
        if not isinstance(sequence, (ImageSequence, PointTrajectories)):
            raise ValidationError(
                "the viewer replays image sequences or marker trajectories, got "
                f"{type(sequence).__name__}"
            )
        n = length_of(sequence)
        if n < 3:
            raise ValidationError(f"{source or 'sequence'}: {n} frame(s); at least 3 are needed")
        _check_period(period_of(sequence))
        if isinstance(sequence, PointTrajectories):
            if tumour_mask is not None or roi is not None or roi_slices is not None:
                raise ValidationError("marker trajectories have no image for a mask or a ROI")
        else:
            if tumour_mask is not None:
                tumour_mask = np.asarray(tumour_mask, dtype=bool)
                if tumour_mask.shape != sequence.shape:
                    raise ValidationError(
                        f"tumour mask shape {tumour_mask.shape} differs from the frames' "
                        f"{sequence.shape}"
                    )
            if roi is not None:
                r0, c0, r1, c1 = (int(v) for v in roi)
                h, w = sequence.shape[-2:]
                if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
                    raise ValidationError(f"ROI {roi} is outside the {h}x{w} frame")
                roi = (r0, c0, r1, c1)
            if roi_slices is not None:
                z0, z1 = (int(v) for v in roi_slices)
                if sequence.ndim != 3 or not 0 <= z0 < z1 <= sequence.shape[0]:
                    raise ValidationError(
                        f"ROI slices {roi_slices} do not fit the frames of shape {sequence.shape}"
                    )
                roi_slices = (z0, z1)
        self.sequence = sequence
        self.source = source or sequence.provenance.source
        self.tumour_mask = tumour_mask
        self.roi = roi
        self.roi_slices = roi_slices
        self.set_playing(False)
        if isinstance(sequence, ImageSequence):
            window, level = auto_window(sequence.frames)
            slice_index = sequence.shape[0] // 2 if sequence.ndim == 3 else 0
            self.display = replace(
                self.display, window=window, level=level, slice_index=slice_index
            )
        self._update_contours()
        self._clear_results()
        self.events.sequence.emit(sequence)
        self.events.display.emit("window")

    def update_settings(self, **changes: Any) -> PredictionSettings:
        """Change prediction settings (fields of :class:`PredictionSettings`); drops results."""
        unknown = set(changes) - set(PredictionSettings.__dataclass_fields__)
        if unknown:
            raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        if "methods" in changes and isinstance(changes["methods"], str):
            changes["methods"] = (changes["methods"],)
        new = replace(self.settings, **changes).validated()
        if self.sequence is not None:
            new.horizon_steps(period_of(self.sequence))
        self.settings = new
        self.set_playing(False)
        self._clear_results()
        self.events.settings.emit(new)
        return new

    def set_display(self, **changes: Any) -> None:
        """Change display options (fields of :class:`DisplayOptions`)."""
        unknown = set(changes) - set(DisplayOptions.__dataclass_fields__)
        if unknown:
            raise ConfigurationError(f"unknown display option(s): {', '.join(sorted(unknown))}")
        if "compare" in changes and changes["compare"] not in COMPARE_MODES:
            raise ConfigurationError(f"comparison must be one of {COMPARE_MODES}")
        if "field" in changes and changes["field"] not in FIELD_DISPLAYS:
            raise ConfigurationError(f"field display must be one of {FIELD_DISPLAYS}")
        if "top_plot" in changes and changes["top_plot"] not in TOP_PLOTS:
            raise ConfigurationError(f"top plot must be one of {TOP_PLOTS}")
        if "window" in changes and not float(changes["window"]) > 0:
            raise ConfigurationError(f"window must be positive, got {changes['window']}")
        seq = self.image_sequence
        if "slice_index" in changes and seq is not None and seq.ndim == 3:
            changes["slice_index"] = int(np.clip(changes["slice_index"], 0, seq.shape[0] - 1))
        self.display = replace(self.display, **changes)
        if "slice_index" in changes:
            self._update_contours()
        for name in changes:
            self.events.display.emit(name)

    def set_speed(self, speed: float) -> None:
        """Set the replay speed multiplier (``> 0``; 1 = acquisition rate)."""
        s = float(speed)
        if not (math.isfinite(s) and s > 0):
            raise ConfigurationError(f"speed multiplier must be positive, got {speed}")
        self.speed = s
        self._ticks.clear()
        self.events.speed.emit(s)

    def set_playing(self, playing: bool) -> None:
        """Start or pause the replay (the GUI's timer reads :attr:`playing`)."""
        playing = bool(playing) and self.sequence is not None
        if playing and self.newest >= self.n_frames - 1:
            playing = False
        if playing != self.playing:
            self.playing = playing
            self._ticks.clear()
            self.events.playing.emit(playing)

    def create_processor(self, factory: PipelineFactory | None = None) -> FrameProcessor:
        """A :class:`FrameProcessor` for the current sequence and settings (to hand to a worker)."""
        if self.sequence is None:
            raise ConfigurationError("open a sequence first")
        return FrameProcessor(self.sequence, self.settings, factory)

    # ------------------------------------------------------------------ results
    def _clear_results(self, *, emit: bool = True) -> None:
        self.results = {m: {} for m in self.settings.methods}
        self.timings = {}
        self._moved_masks = {}
        self._field_errors = {}
        self._region_means = {}
        self.warming_up = {}
        self.warmup_frames = {}
        self.position = -1
        self.newest = -1
        self.first_frame = None
        self.training_weights = {}
        self.horizon_steps_used = None
        self._ticks.clear()
        if emit:
            self.events.results_cleared.emit(None)

    def reset_results(self) -> None:
        """Drop every result (e.g. before re-running with a new pipeline)."""
        self.set_playing(False)
        self._clear_results()

    def begin(self, prepared: Prepared) -> None:
        """Start a replay after :meth:`FrameProcessor.prepare`: frames ``0..first_frame-1``
        count as acquired (training), the next frame to arrive is ``first_frame``."""
        if self.sequence is None:
            raise ConfigurationError("open a sequence first")
        first = int(prepared.first_frame)
        if not 0 <= first < self.n_frames:
            raise ValidationError(f"first replayed frame {first} outside 0..{self.n_frames - 1}")
        self._clear_results(emit=False)
        self.first_frame = first
        self.horizon_steps_used = int(prepared.horizon_steps)
        self.training_weights = {m: np.asarray(w) for m, w in prepared.training_weights.items()}
        self.newest = first - 1
        self.events.settings.emit(self.settings)
        if first > 0:
            self.set_position(first - 1)

    def add_frame(self, output: FrameOutput, *, move: bool = True) -> None:
        """Store what was computed for frame ``output.t`` and (by default) display it.

        Frames must arrive in acquisition order, one after the other.
        """
        if self.sequence is None or self.first_frame is None:
            raise ConfigurationError("prepare the replay (begin) before adding frames")
        t = int(output.t)
        if t != self.newest + 1:
            raise ValidationError(
                f"frame {t} arrived after frame {self.newest}; frames go in order"
            )
        if set(output.results) != set(self.settings.methods):
            raise ValidationError(
                f"frame {t}: results for {sorted(output.results)}, expected "
                f"{sorted(self.settings.methods)}"
            )
        for method, res in output.results.items():
            if int(res.t) != t:
                raise ValidationError(f"{method}: result for frame {res.t} given as frame {t}")
            self.results[method][t] = res
        primary = output.results[self.settings.methods[0]]
        h = int(primary.target_t) - t
        if h != self.horizon_steps_used:
            raise ValidationError(
                f"frame {t}: prediction for frame {primary.target_t}, expected a horizon of "
                f"{self.horizon_steps_used} frames"
            )
        stages = {"read": float(output.read_ms)}
        stages.update({k: float(v) for k, v in primary.stage_ms.items()})
        self.timings[t] = stages
        self.warming_up = dict(output.warming_up)
        for method in output.warming_up:
            self.warmup_frames.setdefault(method, []).append(t)
        self.newest = t
        self.events.frame_added.emit(t)
        if move:
            self.set_position(t)

    def record_render_ms(self, t: int, ms: float) -> None:
        """Store the GUI's time in ms to render frame ``t`` (the last stage of the latency bar)."""
        if t in self.timings:
            self.timings[t]["render"] = float(ms)

    def set_position(self, t: int) -> None:
        """Display frame ``t`` (clamped to the processed frames)."""
        if self.newest < 0:
            return
        t = int(np.clip(int(t), 0, self.newest))
        if t != self.position:
            self.position = t
            self.events.position.emit(t)

    def step(self, delta: int) -> None:
        """Move the displayed frame by ``delta`` within the processed frames."""
        self.set_position(self.position + int(delta))

    # ------------------------------------------------------------------ replay clock
    def record_tick(self, wall_s: float | None = None) -> None:
        """Note the wall-clock time (s) at which a new frame was shown during replay."""
        self._ticks.append((time.perf_counter() if wall_s is None else float(wall_s), self.newest))

    @property
    def requested_fps(self) -> float:
        """Requested replay rate in frames/s: speed / frame period."""
        return self.speed / self.frame_period_s if self.sequence is not None else float("nan")

    @property
    def effective_fps(self) -> float:
        """Measured replay rate in frames/s over the last ticks (``nan`` with fewer than 2)."""
        if len(self._ticks) < 2:
            return float("nan")
        (t0, f0), (t1, f1) = self._ticks[0], self._ticks[-1]
        return (f1 - f0) / (t1 - t0) if t1 > t0 else float("nan")

    # ------------------------------------------------------------------ derived quantities
    @property
    def n_frames(self) -> int:
        """Number of frames of the sequence (0 when none)."""
        return 0 if self.sequence is None else length_of(self.sequence)

    @property
    def frame_period_s(self) -> float:
        """Frame period of the sequence in s."""
        if self.sequence is None:
            raise ConfigurationError("open a sequence first")
        return period_of(self.sequence)

    @property
    def is_markers(self) -> bool:
        """True when the replayed data are marker trajectories (no images)."""
        return isinstance(self.sequence, PointTrajectories)

    @property
    def image_sequence(self) -> ImageSequence | None:
        """The sequence when it holds images, else ``None``."""
        return self.sequence if isinstance(self.sequence, ImageSequence) else None

    @property
    def horizon_steps(self) -> int:
        """Horizon in frames (as the pipeline used it once a frame was processed)."""
        if self.horizon_steps_used is not None:
            return self.horizon_steps_used
        return self.settings.horizon_steps(self.frame_period_s)

    @property
    def horizon_ms(self) -> float:
        """Horizon in ms."""
        return self.horizon_steps * self.frame_period_s * 1e3

    @property
    def budget_ms(self) -> float | None:
        """Computation budget in ms (``None`` without a system latency)."""
        return self.settings.budget_ms(self.frame_period_s)

    @property
    def primary(self) -> str:
        """The method shown in the image views and the latency panel."""
        return self.settings.methods[0]

    def acquired(self, t: int) -> np.ndarray:
        """The 2D image of frame ``t`` (the displayed slice for volumes)."""
        seq = self.image_sequence
        if seq is None:
            raise ConfigurationError("no images: open an image sequence first")
        return self._plane(seq.frames[int(t)])

    def _plane(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        return image[self.display.slice_index] if image.ndim == 3 else image

    def result(self, t: int, method: str | None = None) -> ResultLike | None:
        """The result computed when frame ``t`` was acquired, or ``None``."""
        return self.results.get(method or self.primary, {}).get(int(t))

    def predicted(self, t: int, method: str | None = None) -> np.ndarray | None:
        """The 2D predicted frame for ``t + h`` issued at ``t`` (``None`` if not computed)."""
        res = self.result(t, method)
        frame = getattr(res, "predicted_frame", None)
        return None if frame is None else self._plane(frame)

    def predicted_field(self, t: int, method: str | None = None) -> np.ndarray | None:
        """``(H, W, 2)`` in-plane predicted displacement in mm issued at ``t``, or ``None``."""
        res = self.result(t, method)
        f = getattr(res, "predicted_field_mm", None)
        return None if f is None else field_in_plane(f, self.display.slice_index)

    def comparison_indices(self, t: int) -> tuple[int, int] | None:
        """``(issued_at, target)`` of the prediction the third view checks when ``t`` is shown.

        The prediction issued at ``t`` is checked against frame ``t + h`` once that frame was
        acquired (reviewing the past); otherwise (live) the newest checkable one: the prediction
        issued at ``t - h`` for frame ``t``. ``None`` when no prediction can be checked yet.
        """
        h = self.horizon_steps
        if t < 0 or self.is_markers:
            return None
        if t + h <= self.newest and self.result(t) is not None:
            return t, t + h
        if t - h >= 0 and self.result(t - h) is not None:
            return t - h, t
        return None

    def checked_error_mm(self, t: int) -> tuple[int, int, float] | None:
        """``(issued_at, target, error_mm)`` of the prediction the check view shows at ``t``.

        The geometric error (:meth:`field_error_series`: mean over the ROI, or the whole frame,
        of ``|u_predicted - u_LK|`` in mm) of the primary method's prediction compared in the
        third view; ``None`` when none can be checked or the fields are not available.
        """
        idx = self.comparison_indices(t)
        if idx is None:
            return None
        issued, target = idx
        a, b = self.result(issued), self.result(target)
        if a is None or b is None:
            return None
        err = self._prediction_error_mm(a, b)
        return None if err is None else (issued, target, err)

    def cursor_readout(self, row: int, col: int) -> dict[str, Any] | None:
        """What the displayed frame holds at pixel ``(row, col)`` of the shown plane.

        Returns ``None`` outside the image or without an image; otherwise a dict with
        ``intensity`` (acquired frame, its unit), ``position_mm`` (``(y, x)`` or ``(z, y, x)``
        from the centre of the first voxel, mm), ``measured_mm`` (``(dy, dx)`` in-plane
        Lucas-Kanade displacement of the displayed frame from the reference, mm, or ``None``)
        and ``predicted_mm`` (``(dy, dx)`` predicted for ``t + h``, mm, or ``None``).
        """
        seq = self.image_sequence
        t = self.position
        if seq is None or t < 0:
            return None
        image = self.acquired(t)
        r, c = int(row), int(col)
        if not (0 <= r < image.shape[0] and 0 <= c < image.shape[1]):
            return None
        sp = seq.spacing
        pos: tuple[float, ...] = (r * sp[-2], c * sp[-1])
        if seq.ndim == 3:
            pos = (self.display.slice_index * sp[0], *pos)
        res = self.result(t)
        lk = getattr(res, "field_mm", None)
        measured = None
        if lk is not None:
            f = field_in_plane(np.asarray(lk), self.display.slice_index)
            measured = (float(f[r, c, 0]), float(f[r, c, 1]))
        pf = self.predicted_field(t)
        predicted = None if pf is None else (float(pf[r, c, 0]), float(pf[r, c, 1]))
        return {
            "intensity": float(image[r, c]),
            "position_mm": tuple(float(v) for v in pos),
            "measured_mm": measured,
            "predicted_mm": predicted,
        }

    def time_to_frame(self, time_s: float) -> int | None:
        """The processed frame nearest to ``time_s`` (s), for seeking from a plot click."""
        if self.sequence is None or self.newest < 0:
            return None
        times = np.asarray(self.sequence.times[: self.newest + 1], dtype=np.float64)
        return int(np.argmin(np.abs(times - float(time_s))))

    def comparison(self, t: int) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray] | None:
        """``(issued_at, target, actual, predicted, combined)`` for the third view, or ``None``."""
        idx = self.comparison_indices(t)
        if idx is None:
            return None
        issued, target = idx
        actual = self.acquired(target)
        pred = self.predicted(issued)
        assert pred is not None
        return (
            issued,
            target,
            actual,
            pred,
            compose(actual, pred, self.display.compare, tile=self.display.checker_tile),
        )

    def _update_contours(self) -> None:
        self._contours = []
        if self.tumour_mask is not None and self.image_sequence is not None:
            self._contours = mask_contours(self._plane(self.tumour_mask))

    def reference_contours(self) -> list[np.ndarray]:
        """Tumour contours ``(N, 2)`` in pixels ``(row, col)`` on the reference frame."""
        return [c.copy() for c in self._contours]

    def predicted_contours(self, t: int) -> list[np.ndarray]:
        """Tumour contours moved by the displacement predicted at ``t`` for ``t + h``
        (pixels, row/col); empty without a mask or a prediction."""
        return self._moved_contours(self.predicted_field(t))

    def registered_contours(self, t: int) -> list[np.ndarray]:
        """Tumour contours moved by the Lucas-Kanade field of acquired frame ``t`` (pixels,
        row/col); empty without a mask or when the pipeline does not return the field."""
        res = self.result(t)
        lk = None if res is None else getattr(res, "field_mm", None)
        f = None if lk is None else field_in_plane(lk, self.display.slice_index)
        return self._moved_contours(f)

    def _moved_contours(self, f: np.ndarray | None) -> list[np.ndarray]:
        seq = self.image_sequence  # marker trajectories have no contours
        if f is None or seq is None or not self._contours:
            return []
        spacing = seq.spacing[-2:]
        return [move_points(c, f, spacing) for c in self._contours]

    # ------------------------------------------------------------------ target (issue #21)
    def target_mask(self, kind: str, t: int, method: str | None = None) -> np.ndarray | None:
        """The target region (:meth:`target_region`: tumour, else ROI box) moved by a field with
        :func:`motionpredict.target.move_mask`: ``"actual"`` by the Lucas-Kanade field of frame
        ``t``, ``"predicted"`` by the field predicted at ``t`` for ``t + h``. Boolean, the frames'
        spatial shape; ``None`` without a region or the field. Cached per frame."""
        from motionpredict.target import move_mask

        if kind not in ("actual", "predicted"):
            raise ConfigurationError(f"target kind must be 'actual' or 'predicted', got {kind!r}")
        seq = self.image_sequence
        _name, region = self.target_region()
        if seq is None or region is None:
            return None
        method = method or self.primary
        key = (f"target-{kind}", method if kind == "predicted" else "", int(t))
        if key in self._moved_masks:
            return self._moved_masks[key]
        res = self.result(t, method if kind == "predicted" else None)
        f = getattr(res, "field_mm" if kind == "actual" else "predicted_field_mm", None)
        if f is None:
            return None
        moved = move_mask(region, np.asarray(f), seq.spacing)
        if len(self._moved_masks) >= 64:
            self._moved_masks.clear()
        self._moved_masks[key] = moved
        return moved

    def target_contours(self, kind: str, t: int, method: str | None = None) -> list[np.ndarray]:
        """Contours ``(N, 2)`` ``(row, col)`` pixels on the displayed plane of
        :meth:`target_mask`; empty without it."""
        m = self.target_mask(kind, t, method)
        return [] if m is None else mask_contours(self._plane(m))

    def target_check(self, t: int, method: str | None = None) -> TargetCheck | None:
        """Predicted vs actual target of the prediction the check view shows at ``t``
        (:meth:`comparison_indices`): centroids (mm), centroid error (mm), Dice and the contours
        on the displayed plane. ``None`` without a target region (tumour or ROI), a checkable
        prediction or the fields."""
        from motionpredict.target import centroid_mm

        idx = self.comparison_indices(t)
        seq = self.image_sequence
        if idx is None or seq is None:
            return None
        issued, target = idx
        pm = self.target_mask("predicted", issued, method)
        am = self.target_mask("actual", target)
        if pm is None or am is None:
            return None
        pc = centroid_mm(pm, seq.spacing)
        ac = centroid_mm(am, seq.spacing)
        err = float(np.linalg.norm(pc - ac)) if np.all(np.isfinite(pc - ac)) else float("nan")
        total = int(pm.sum()) + int(am.sum())
        dice = 2.0 * float(np.logical_and(pm, am).sum()) / total if total else 1.0
        return TargetCheck(
            issued=issued,
            target=target,
            region=self.target_region()[0],
            predicted_centroid_mm=pc,
            actual_centroid_mm=ac,
            centroid_error_mm=err,
            dice=dice,
            predicted_contours=mask_contours(self._plane(pm)),
            actual_contours=mask_contours(self._plane(am)),
        )

    # ------------------------------------------------------------------ 4DCT: orthogonal slices
    @property
    def has_ortho(self) -> bool:
        """True for a 3D image sequence (4DCT phases, a volume series): orthogonal slices."""
        seq = self.image_sequence
        return seq is not None and seq.ndim == 3

    def moved_tumour(self, kind: str, t: int, method: str | None = None) -> np.ndarray | None:
        """The reference tumour mask moved by a field: ``(D, H, W)`` occupancy in 0..1.

        Parameters
        ----------
        kind
            ``"actual"``: moved by the Lucas-Kanade field of acquired frame ``t`` (where the
            tumour is in that frame); ``"predicted"``: moved by the field predicted at ``t`` for
            ``t + h``.
        t
            Frame index.
        method
            Forecaster (the primary one by default; only for ``"predicted"``).

        Returns
        -------
        numpy.ndarray or None
            ``None`` without a tumour mask, a 3D sequence or the field. Computed once per
            ``(kind, method, t)`` by :func:`warp_mask_cropped`.
        """
        attr = {"actual": "field_mm", "predicted": "predicted_field_mm"}.get(kind)
        if attr is None:
            raise ConfigurationError(f"tumour kind must be 'actual' or 'predicted', got {kind!r}")
        seq = self.image_sequence
        if seq is None or seq.ndim != 3 or self.tumour_mask is None:
            return None
        method = method or self.primary
        key = (kind, method if kind == "predicted" else "", int(t))
        if key in self._moved_masks:
            return self._moved_masks[key]
        res = self.result(t, method if kind == "predicted" else None)
        f = None if res is None else getattr(res, attr, None)
        if f is None:
            return None
        moved = warp_mask_cropped(self.tumour_mask, np.asarray(f), seq.spacing)
        if len(self._moved_masks) >= 64:
            self._moved_masks.clear()
        self._moved_masks[key] = moved
        return moved

    def ortho_views(self, t: int) -> OrthoState | None:
        """Axial, coronal and sagittal slices for the 4DCT view when frame ``t`` is shown.

        The volume is the acquired frame that the checked prediction is for (see
        :meth:`comparison_indices`); the planes pass through the centroid of the actual tumour
        and carry the 0.5 iso-contours of the actual tumour (reference mask moved by that
        frame's Lucas-Kanade field) and of the predicted one (moved by the predicted field).
        Before any prediction can be checked: frame ``t`` with the tumour moved by its own
        field (or the reference mask for training frames). ``None`` for 2D sequences, markers,
        or before the first frame.
        """
        from motionpredict.ct4d.views import orthogonal_views

        seq = self.image_sequence
        if seq is None or seq.ndim != 3 or t < 0:
            return None
        idx = self.comparison_indices(t)
        issued, target = (None, int(t)) if idx is None else idx
        masks: dict[str, np.ndarray] = {}
        actual = self.moved_tumour("actual", target)
        if actual is not None:
            masks["actual"] = actual
        elif self.tumour_mask is not None and issued is None:
            masks["reference"] = self.tumour_mask.astype(np.float32)
        if issued is not None:
            pred = self.moved_tumour("predicted", issued)
            if pred is not None:
                masks["predicted"] = pred
        views = orthogonal_views(seq.frames[target], seq.spacing, masks=masks)
        return OrthoState(issued=issued, target=target, views=views, masks=masks)

    # ------------------------------------------------------------------ series for the plots
    def target_time(self, target: int) -> float:
        """Time in s of frame ``target`` (extrapolated by the frame period past the end)."""
        if self.sequence is None:
            raise ConfigurationError("open a sequence first")
        n = self.n_frames
        if target < n:
            return float(self.sequence.times[target])
        return float(self.sequence.times[-1] + (target - n + 1) * self.frame_period_s)

    def guarded_count(self, method: str | None = None) -> tuple[int, int]:
        """``(guarded, issued)``: forecasts issued so far by ``method`` (default the primary) and
        how many of them the plausibility guard replaced by the last value."""
        name = method or (self.settings.methods[0] if self.settings.methods else "")
        res = self.results.get(name, {})
        return sum(bool(getattr(r, "guarded", False)) for r in res.values()), len(res)

    def target_region(self) -> tuple[str, np.ndarray | None]:
        """``(name, mask)`` of the region whose mean displacement is the target's: the tumour
        mask of the reference frame, else the ROI box (rows, columns and, for volumes, slices),
        else the whole frame (mask ``None``)."""
        seq = self.image_sequence
        if seq is None:
            return "frame", None
        if self.tumour_mask is not None and self.tumour_mask.any():
            return "tumour", self.tumour_mask
        if self.roi is None and self.roi_slices is None:
            return "frame", None
        mask = np.zeros(seq.shape, dtype=bool)
        r0, c0, r1, c1 = self.roi if self.roi is not None else (0, 0, *seq.shape[-2:])
        z0, z1 = self.roi_slices if self.roi_slices is not None else (0, seq.shape[0])
        if seq.ndim == 3:
            mask[z0:z1, r0:r1, c0:c1] = True
        else:
            mask[r0:r1, c0:c1] = True
        return "ROI", mask

    def displacement_series(self, method: str | None = None) -> dict[str, Any]:
        """The target's displacement in mm, measured and predicted, over the replayed frames.

        The mean over :meth:`target_region` of the Lucas-Kanade field of each acquired frame
        (``measured``) and of the field predicted ``h`` frames earlier for it (``predicted``, at
        the target times), one column per array axis: ``dy, dx`` (rows, columns) or
        ``dz, dy, dx``. In a sagittal cine the rows run superior-inferior and the columns
        anterior-posterior. Each mean is computed once.

        Returns
        -------
        dict
            ``times`` ``(K,)`` s, ``measured`` ``(K, c)`` mm, ``pred_times`` ``(M,)`` s,
            ``predicted`` ``(M, c)`` mm, ``labels`` (``c`` names), ``region`` (its name).
        """
        m = method or self.primary
        region, mask = self.target_region()
        seq = self.image_sequence
        c = 0 if seq is None else seq.ndim
        labels = ("dz (slices)", "dy (rows)", "dx (columns)")[-c:] if c else ()
        out: dict[str, Any] = {"times": np.zeros(0), "measured": np.zeros((0, c)),
                               "pred_times": np.zeros(0), "predicted": np.zeros((0, c)),
                               "labels": labels, "region": region}
        if seq is None:
            return out
        res = self.results.get(m, {})

        def mean(kind: str, t: int, f: Any) -> np.ndarray:
            key = (m, kind, t)
            if key not in self._region_means:
                a = np.asarray(f, dtype=np.float64)
                self._region_means[key] = (a.reshape(-1, a.shape[-1]).mean(axis=0)
                                           if mask is None else a[mask].mean(axis=0))
            return self._region_means[key]

        tm, vm, tp, vp = [], [], [], []
        for t in sorted(res):
            lk = getattr(res[t], "field_mm", None)
            if lk is not None:
                tm.append(float(seq.times[t]))
                vm.append(mean("measured", t, lk))
            pf = getattr(res[t], "predicted_field_mm", None)
            if pf is not None:
                tp.append(self.target_time(int(res[t].target_t)))
                vp.append(mean("predicted", t, pf))
        if tm:
            out["times"], out["measured"] = np.asarray(tm), np.asarray(vm)
        if tp:
            out["pred_times"], out["predicted"] = np.asarray(tp), np.asarray(vp)
        return out

    def method_summary(self) -> list[dict[str, Any]]:
        """Live per-method summary of the checked predictions, in the order of the settings.

        Each entry: ``method``; ``n`` predictions checked; ``mean_mm`` and ``p95_mm`` of the
        geometric error (:meth:`field_error_series`: field error over the ROI for images, mean
        3D marker distance for markers; ``nan`` before any); ``gain`` = 1 - mean error / mean
        error of no prediction over the same targets (``None`` when no prediction is not among
        the methods or has no common target; positive = better than no prediction);
        ``guarded`` and ``issued`` (:meth:`guarded_count`).
        """
        series = {m: self.field_error_series(m) for m in self.settings.methods}
        base = series.get("no-prediction")
        out = []
        for m in self.settings.methods:
            t, e = series[m]
            gain = None
            if base is not None and m != "no-prediction" and e.size and base[1].size:
                common, ia, ib = np.intersect1d(t, base[0], return_indices=True)
                b = float(np.mean(base[1][ib])) if common.size else 0.0
                if common.size and b > 0:
                    gain = 1.0 - float(np.mean(e[ia])) / b
            ng, ni = self.guarded_count(m)
            out.append({
                "method": m,
                "n": int(e.size),
                "mean_mm": float(np.mean(e)) if e.size else float("nan"),
                "p95_mm": float(np.percentile(e, 95)) if e.size else float("nan"),
                "gain": gain,
                "guarded": ng,
                "issued": ni,
            })
        return out

    def weight_series(self, method: str | None = None) -> dict[str, np.ndarray]:
        """PCA weights (or marker coordinates, mm) measured and predicted.

        Returns
        -------
        dict
            ``times`` ``(T,)`` s and ``true`` ``(T, n)`` weights of frames ``0..newest``
            (training frames included); ``pred_times`` ``(M,)`` target times in s and
            ``predicted`` ``(M, n)`` the forecasts issued ``h`` frames earlier (i.e. shifted by
            the horizon); ``error_times`` ``(K,)`` s and ``error`` ``(K,)`` Euclidean norm of
            predicted minus measured weights for targets already acquired.
        """
        m = method or self.primary
        res = self.results.get(m, {})
        n = self.settings.n_components
        if isinstance(self.sequence, PointTrajectories):
            n = 3 * self.sequence.n_points
        out = {
            "times": np.zeros(0),
            "true": np.zeros((0, n)),
            "pred_times": np.zeros(0),
            "predicted": np.zeros((0, n)),
            "error_times": np.zeros(0),
            "error": np.zeros(0),
        }
        if self.sequence is None:
            return out
        train = self.training_weights.get(m)
        true_t: list[float] = []
        true_w: list[np.ndarray] = []
        if train is not None:
            for i in range(min(len(train), self.n_frames)):
                true_t.append(float(self.sequence.times[i]))
                true_w.append(np.asarray(train[i], dtype=np.float64))
        ts = sorted(res)
        for t in ts:
            true_t.append(float(self.sequence.times[t]))
            true_w.append(measured_values(res[t]))
        if true_w:
            out["times"] = np.asarray(true_t)
            out["true"] = np.stack(true_w)
        if ts:
            out["pred_times"] = np.array([self.target_time(int(res[t].target_t)) for t in ts])
            out["predicted"] = np.stack([predicted_values(res[t]) for t in ts])
            ok = [t for t in ts if int(res[t].target_t) in res]
            if ok:
                out["error_times"] = np.array([self.target_time(int(res[t].target_t)) for t in ok])
                out["error"] = np.array(
                    [
                        np.linalg.norm(
                            predicted_values(res[t]) - measured_values(res[int(res[t].target_t)])
                        )
                        for t in ok
                    ]
                )
        return out

    def field_error_series(self, method: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Geometric error of each checked prediction in mm.

        For every prediction whose target frame was already acquired: the mean over the pixels
        (the ROI when one is set) of ``|u_predicted - u_LK|``, the Euclidean norm of the
        difference between the predicted field and the Lucas-Kanade field of the target frame;
        for markers, the mean over the markers of the 3D distance between predicted and
        acquired positions.

        Returns
        -------
        (times_s, error_mm)
            ``(K,)`` target times in s and ``(K,)`` errors in mm (empty when the pipeline does not
            return the registered fields).
        """
        m = method or self.primary
        res = self.results.get(m, {})
        cache = self._field_errors.setdefault(m, {})  # each error is computed once
        times, errs = [], []
        for t in sorted(res):
            target = int(res[t].target_t)
            if target not in res:
                continue
            if t not in cache:
                err = self._prediction_error_mm(res[t], res[target])
                if err is None:
                    continue
                cache[t] = err
            times.append(self.target_time(target))
            errs.append(cache[t])
        return np.asarray(times, dtype=np.float64), np.asarray(errs, dtype=np.float64)

    def _prediction_error_mm(self, issued: Any, target: Any) -> float | None:
        if hasattr(issued, "predicted_positions"):
            d = np.asarray(issued.predicted_positions, np.float64) - target.positions
            return float(np.linalg.norm(d, axis=-1).mean())
        lk = getattr(target, "field_mm", None)
        if lk is None:
            return None
        diff = np.asarray(issued.predicted_field_mm, np.float64) - np.asarray(lk, np.float64)
        norm = np.sqrt(np.sum(diff * diff, axis=-1))
        if self.roi is not None:
            r0, c0, r1, c1 = self.roi
            norm = norm[..., r0:r1, c0:c1]  # rows and columns: the last two axes (2D or 3D)
        if self.roi_slices is not None and norm.ndim == 3:
            z0, z1 = self.roi_slices
            norm = norm[z0:z1]
        return float(norm.mean())

    def image_error_series(self, method: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """RMS intensity difference between each checked prediction and the acquired frame.

        Returns ``(times_s, rmse)`` (``(K,)`` each, intensity unit) for every target already
        acquired.
        """
        m = method or self.primary
        res = self.results.get(m, {})
        out_t, out_e = [], []
        seq = self.image_sequence
        if seq is None:
            return np.zeros(0), np.zeros(0)
        for t in sorted(res):
            target = int(res[t].target_t)
            if target <= self.newest:
                d = result_array(res[t], "predicted_frame").astype(np.float64) - seq.frames[target]
                out_t.append(float(seq.times[target]))
                out_e.append(float(np.sqrt(np.mean(d * d))))
        return np.asarray(out_t, dtype=np.float64), np.asarray(out_e, dtype=np.float64)

    # ------------------------------------------------------------------ latency
    def latency_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Stage times of the primary method: ``(frame_indices (N,), ms (N, len(STAGES)))``.

        Stages a frame lacks (``render`` before it was drawn) count 0 ms.
        """
        ts = sorted(self.timings)
        table = np.zeros((len(ts), len(STAGES)))
        for i, t in enumerate(ts):
            for j, s in enumerate(STAGES):
                table[i, j] = self.timings[t].get(s, 0.0)
        return np.asarray(ts, dtype=np.int64), table

    def latency_stats(self) -> LatencyStats | None:
        """Running statistics over every processed frame, or ``None`` before the first."""
        _, table = self.latency_table()
        if table.shape[0] == 0 or self.sequence is None:
            return None
        total = table.sum(axis=1)
        period = self.frame_period_s * 1e3
        budget = self.budget_ms
        return LatencyStats(
            n_frames=int(total.size),
            median_ms=float(np.median(total)),
            p99_ms=float(np.percentile(total, 99)),
            max_ms=float(total.max()),
            frame_period_ms=period,
            budget_ms=budget,
            n_over_period=int(np.sum(total > period)),
            n_over_budget=0 if budget is None else int(np.sum(total > budget)),
        )

    # ------------------------------------------------------------------ export
    def predicted_sequence(self, method: str | None = None) -> Replayable:
        """The predictions issued at the processed frames, at their target times: an image
        sequence of predicted frames, or predicted marker trajectories (mm)."""
        from motionpredict.sequences import Provenance

        m = method or self.primary
        res = self.results.get(m, {})
        if self.sequence is None or not res:
            raise ConfigurationError("nothing predicted yet: run the replay first")
        ts = sorted(res)
        times = np.array([self.target_time(int(res[t].target_t)) for t in ts])
        seq = self.sequence
        extra = {
            "method": m,
            "mode": self.settings.mode,
            "horizon_frames": self.horizon_steps,
            "horizon_ms": self.horizon_ms,
            "issued_at_frames": ts,
        }
        source = f"predicted by motionpredict ({m}, {self.settings.mode}) from {self.source}"
        if isinstance(seq, PointTrajectories):
            return PointTrajectories(
                positions=np.stack([result_array(res[t], "predicted_positions") for t in ts]),
                times=times,
                names=seq.names,
                provenance=Provenance(source=source, extra=extra),
            )
        frames = np.stack([result_array(res[t], "predicted_frame").astype(np.float32)
                           for t in ts])
        prov = Provenance(
            source=f"predicted by motionpredict ({m}, {self.settings.mode}) from {self.source}",
            spacing_source=seq.provenance.spacing_source,
            frame_period_source=seq.provenance.frame_period_source,
            raw_range=seq.provenance.raw_range,
            extra=extra,
        )
        return ImageSequence(
            frames=frames,
            spacing=seq.spacing,
            times=times,
            origin=seq.origin,
            direction=seq.direction,
            provenance=prov,
        )

    def report_text(self) -> str:
        """A short Markdown report of what was replayed (settings, timings, errors)."""
        if self.sequence is None:
            raise ConfigurationError("open a sequence first")
        seq = self.sequence
        s = self.settings
        if isinstance(seq, PointTrajectories):
            data = (
                f"- Markers: {seq.n_points} ({', '.join(seq.names or ())}), {seq.n_samples} "
                f"samples, sample period {seq.sample_period * 1e3:.1f} ms"
            )
        else:
            data = (
                f"- Frames: {seq.n_frames} of shape {'x'.join(map(str, seq.shape))}, spacing "
                f"{', '.join(f'{v:g}' for v in seq.spacing)} mm "
                f"({seq.provenance.spacing_source or 'source not recorded'}), frame period "
                f"{seq.frame_period * 1e3:.1f} ms "
                f"({seq.provenance.frame_period_source or 'source not recorded'})"
            )
        lines = [
            "# motionpredict replay report",
            "",
            f"- Source: {self.source or 'unknown'}",
            data,
            f"- Methods: {', '.join(s.methods)} (primary: {self.primary}); mode: {s.mode}"
            + (" (uses targets before they exist in real time)" if s.mode == "reference" else ""),
            f"- Horizon: {self.horizon_steps} frame(s) = {self.horizon_ms:.1f} ms"
            + (
                f", compensating a system latency of {s.system_latency_ms:g} ms"
                if s.system_latency_ms is not None
                else ""
            ),
            ("" if self.is_markers else f"- PCA components: {s.n_components}; ")
            + "training frames: "
            f"{'pipeline default' if s.train_frames is None else s.train_frames}; "
            f"seed {s.seed}",
            f"- Frames acquired: 0..{self.newest}; "
            + (
                "replay not started"
                if self.first_frame is None
                else f"training 0..{self.first_frame - 1}, replayed {self.first_frame}.."
                f"{self.newest} ({self.newest - self.first_frame + 1} frames)"
            ),
            "",
            "## Processing time per frame (primary method)",
            "",
        ]
        stats = self.latency_stats()
        if stats is None:
            lines.append("No frame processed.")
        else:
            _, table = self.latency_table()
            lines += [
                "| stage | median ms | p99 ms |",
                "|---|---|---|",
            ]
            for j, name in enumerate(STAGES):
                col = table[:, j]
                lines.append(f"| {name} | {np.median(col):.2f} | {np.percentile(col, 99):.2f} |")
            lines.append(f"| **total** | {stats.median_ms:.2f} | {stats.p99_ms:.2f} |")
            lines += [
                "",
                f"- Frame period {stats.frame_period_ms:.1f} ms: exceeded by "
                f"{stats.n_over_period} of {stats.n_frames} frames.",
            ]
            if stats.budget_ms is not None:
                lines.append(
                    f"- Latency budget {stats.budget_ms:.1f} ms: missed by "
                    f"{stats.n_over_budget} of {stats.n_frames} frames."
                )
        lines += ["", "## Prediction error (targets already acquired)", ""]
        geometric = "mean position error (mm)" if self.is_markers else "mean field error (mm)"
        values = "coordinate" if self.is_markers else "weight"
        lines += [
            f"| method | predictions checked | {geometric} | mean {values} error "
            "| mean image RMSE | guarded forecasts |",
            "|---|---|---|---|---|---|",
        ]
        for m in s.methods:
            ws = self.weight_series(m)
            _, fe = self.field_error_series(m)
            _, rmse = self.image_error_series(m)
            ge = f"{np.mean(fe):.3f}" if fe.size else "-"
            we = f"{np.mean(ws['error']):.4g}" if ws["error"].size else "-"
            ie = f"{np.mean(rmse):.4g}" if rmse.size else "-"
            ng, ni = self.guarded_count(m)
            gf = f"{ng} of {ni}" if ni else "-"
            lines.append(f"| {m} | {ws['error'].size} | {ge} | {we} | {ie} | {gf} |")
        lines.append("\nGuarded forecasts: issued forecasts the plausibility guard replaced by the "
                     "last value (implausible, or the method's recent error far above no "
                     "prediction's).")
        if self.roi is not None or self.roi_slices is not None:
            lines.append("\n" + self.roi_text())
        else:
            lines.append("\nField errors are averaged over the whole "
                         + ("volume." if self.image_sequence is not None
                            and self.image_sequence.ndim == 3 else "image."))
        for method, frames in self.warmup_frames.items():
            lines.append(
                f"\n{method} was warming up (forecast = last value, as no prediction) for "
                f"{len(frames)} replayed frame(s), {frames[0]}..{frames[-1]}."
            )
        lines.append("")
        return "\n".join(lines)

    def roi_text(self) -> str:
        """Where field errors are averaged, in words (0-based, end exclusive)."""
        parts = []
        if self.roi_slices is not None:
            parts.append(f"slices {self.roi_slices[0]}..{self.roi_slices[1] - 1}")
        if self.roi is not None:
            r0, c0, r1, c1 = self.roi
            parts.append(f"rows {r0}..{r1 - 1}, columns {c0}..{c1 - 1}")
        else:
            parts.append("every row and column")
        return "Field errors are averaged over the ROI: " + "; ".join(parts) + " (0-based)."

    def summary(self) -> Mapping[str, Any]:
        """JSON-able state: source, settings, position and latency statistics."""
        stats = self.latency_stats()
        return {
            "source": self.source,
            "settings": {
                "methods": list(self.settings.methods),
                "horizon_frames": self.horizon_steps if self.sequence is not None else None,
                "system_latency_ms": self.settings.system_latency_ms,
                "mode": self.settings.mode,
                "n_components": self.settings.n_components,
            },
            "position": self.position,
            "newest": self.newest,
            "latency": None if stats is None else stats.__dict__.copy(),
        }


__all__ = [
    "COMPARE_MODES",
    "FIELD_DISPLAYS",
    "METHOD_PALETTE",
    "STAGES",
    "TOP_PLOTS",
    "WINDOW_PRESETS",
    "DisplayOptions",
    "Event",
    "FrameOutput",
    "FrameProcessor",
    "LatencyStats",
    "ModelEvent",
    "PredictionSettings",
    "ReplayClock",
    "TargetCheck",
    "ViewerEvents",
    "ViewerModel",
    "apply_window",
    "auto_window",
    "checkerboard",
    "compose",
    "default_pipeline_factory",
    "field_in_plane",
    "mask_contours",
    "method_color",
    "move_points",
    "roi_from_provenance",
    "roi_slices_from_provenance",
    "settings_from_evaluation_config",
    "warmup_samples_left",
    "window_presets",
]


def settings_from_evaluation_config(path: str | Path) -> dict[str, Any]:
    """Viewer settings from an evaluation TOML (``motionpredict evaluate CONFIG.toml``).

    Takes the ``[evaluation]`` table's ``methods``, the first of ``horizons_s`` (in ms), the first
    of ``modes``, the first of ``n_components`` and ``system_latency_ms`` (which then sets the
    horizon, see :class:`PredictionSettings`).

    Returns
    -------
    dict
        Keyword arguments for :meth:`ViewerModel.update_settings`.

    Raises
    ------
    InputFileError
        When the file cannot be read or parsed, or has no ``[evaluation]`` table.
    """
    import tomllib

    p = Path(path)
    try:
        with p.open("rb") as fh:
            doc = tomllib.load(fh)
    except OSError as exc:
        raise InputFileError(p, f"cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(p, f"not valid TOML: {exc}") from None
    ev = doc.get("evaluation")
    if not isinstance(ev, dict):
        raise InputFileError(p, "no [evaluation] table")

    def first(key: str) -> Any:
        v = ev.get(key)
        if isinstance(v, list):
            return v[0] if v else None
        return v

    out: dict[str, Any] = {}
    methods = ev.get("methods")
    if isinstance(methods, str):
        methods = [methods]
    if methods:
        out["methods"] = tuple(str(m) for m in methods)
    horizon = first("horizons_s")
    if horizon is not None:
        out["horizon_ms"] = float(horizon) * 1e3
    mode = first("modes")
    if mode is not None:
        out["mode"] = str(mode)
    ncomp = first("n_components")
    if ncomp is not None:
        out["n_components"] = int(ncomp)
    latency = ev.get("system_latency_ms")
    out["system_latency_ms"] = None if latency is None else float(latency)
    if not out:
        raise InputFileError(p, "the [evaluation] table sets none of methods, horizons_s, modes")
    return out


def _provenance_roi(sequence: ImageSequence) -> Any:
    """The raw ``roi`` entry of ``provenance.extra`` or, failing that, of the sequence's sidecar
    (read once by :func:`motionpredict.io.sidecar.sidecar_of`); ``None`` when unreadable."""
    from motionpredict.errors import MotionPredictError
    from motionpredict.io.sidecar import sidecar_of

    extra = sequence.provenance.extra if isinstance(sequence.provenance.extra, dict) else {}
    roi = extra.get("roi")
    if roi is None:
        try:
            side = sidecar_of(extra)
        except MotionPredictError:
            side = None
        roi = None if side is None else side.roi
    return roi


def roi_from_provenance(sequence: ImageSequence) -> tuple[int, int, int, int] | None:
    """The evaluation ROI of a sequence, ``(row0, col0, row1, col1)`` 0-based, end exclusive.

    Read from ``provenance.extra["roi"]`` or from the ``roi`` entry of the sidecar
    (``sequence.json``) the loader recorded in ``provenance.extra["sidecar"]``; both use the
    published convention ``{"x": [c0, c1], "y": [r0, r1]}``, 1-based inclusive, ``x`` = column.
    Returns ``None`` when there is none or it does not fit the frame.
    """
    roi = _provenance_roi(sequence)
    if not isinstance(roi, dict) or "x" not in roi or "y" not in roi:
        return None
    try:
        (c0, c1), (r0, r1) = (int(v) for v in roi["x"]), (int(v) for v in roi["y"])
    except (TypeError, ValueError):
        return None
    h, w = sequence.shape[-2:]
    box = (r0 - 1, c0 - 1, r1, c1)
    if not (0 <= box[0] < box[2] <= h and 0 <= box[1] < box[3] <= w):
        return None
    return box


def roi_slices_from_provenance(sequence: ImageSequence) -> tuple[int, int] | None:
    """The slice range ``(slice0, slice1)`` (0-based, end exclusive) of a volume's ROI.

    From the ``z`` entry (1-based inclusive, as in ``motionpredict.ct4d.roi_mask_xyz``) of the
    ROI found like :func:`roi_from_provenance`; ``None`` for 2D frames, without a ``z`` range,
    or when it does not fit the volume.
    """
    if sequence.ndim != 3:
        return None
    roi = _provenance_roi(sequence)
    if not isinstance(roi, dict) or "z" not in roi:
        return None
    try:
        z0, z1 = (int(v) for v in roi["z"])
    except (TypeError, ValueError):
        return None
    if not 1 <= z0 <= z1 <= sequence.shape[0]:
        return None
    return z0 - 1, z1
