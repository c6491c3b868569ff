"""The live motion model: built from the first N frames received, then one causal prediction per
frame, with the same arithmetic as :class:`motionpredict.pipeline.OnlineFramePipeline`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.live.frames import LiveFrame
from motionpredict.pipeline import FrameResult, OnlineFramePipeline
from motionpredict.sequences import ImageSequence, Provenance
from motionpredict.units import Horizon

__all__ = ["LivePrediction", "LiveSession", "parse_roi"]


def parse_roi(text: str) -> tuple[int, int, int, int]:
    """Parse ``"R0:R1,C0:C1"`` (0-based, half-open pixel rows and columns of the reference frame).

    Raises
    ------
    ConfigurationError
        Any other form, or an empty box.
    """
    try:
        rows, cols = text.split(",")
        r0, r1 = (int(v) for v in rows.split(":"))
        c0, c1 = (int(v) for v in cols.split(":"))
    except ValueError:
        raise ConfigurationError(f"ROI {text!r} not understood; write ROW0:ROW1,COL0:COL1 in "
                                 "pixels, e.g. 40:60,50:80") from None
    if not (0 <= r0 < r1 and 0 <= c0 < c1):
        raise ConfigurationError(f"ROI {text!r} is empty or negative")
    return r0, r1, c0, c1


class _StreamPipeline(OnlineFramePipeline):
    """An :class:`OnlineFramePipeline` over a stream: its sequence holds the training frames and one
    slot for the newest frame, which :meth:`push` fills before running the unchanged
    :meth:`process` on it (causal mode only: nothing is read ahead)."""

    def push(self, pixels: np.ndarray, t: int) -> FrameResult:
        slot = self.train_frames
        self.sequence.frames[slot] = pixels
        self._next_t = slot
        r = self.process(slot)
        r.t, r.target_t = t, t + self.horizon_steps
        return r


@dataclass
class LivePrediction:
    """What the session made of one frame.

    Attributes
    ----------
    frame
        The received frame.
    t
        0-based index of the frame among the frames the session took.
    phase
        ``"training"`` (kept for the model), ``"built"`` (the last training frame; the model was
        built on it) or ``"predicted"``.
    result
        The pipeline's output for a predicted frame (``None`` otherwise).
    target_lps_mm, acquired_lps_mm
        Predicted position of the target (ROI centroid) for frame ``t + h``, and its position in
        frame ``t`` from the registration, LPS mm (``None`` before the model exists).
    build_ms
        Time to build the model (``"built"`` only), ms.
    """

    frame: LiveFrame
    t: int
    phase: str
    result: FrameResult | None = None
    target_lps_mm: np.ndarray | None = None
    acquired_lps_mm: np.ndarray | None = None
    build_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class LiveSession:
    """Build the motion model from the first ``train_frames`` frames, then predict every frame.

    Parameters
    ----------
    method
        Registered forecaster name.
    horizon
        The latency to compensate: ``"300ms"``, ``"0.3s"`` or ``"2steps"``; a time is rounded to
        the nearest whole number of frame periods (at least 1) and the result says so
        (:attr:`horizon`).
    train_frames
        Number of first frames used for the reference (frame 0), the PCA model and the
        forecaster's warm-up.
    n_components, seed, method_params, lk_params
        As in :class:`~motionpredict.pipeline.OnlineFramePipeline`.
    frame_period_s
        Frame period in s; ``None`` takes it from the training frames' header times
        (TriggerTime / AcquisitionDateTime), else from their arrival times.
    roi
        ``(r0, r1, c0, c1)`` pixel box on the reference frame whose centroid is the target;
        ``None`` uses the whole frame.
    """

    def __init__(self, *, method: str, horizon: str, train_frames: int, n_components: int = 3,
                 seed: int = 0, method_params: dict[str, Any] | None = None,
                 lk_params: Any = None, frame_period_s: float | None = None,
                 roi: tuple[int, int, int, int] | None = None) -> None:
        from motionpredict.forecasters import get
        from motionpredict.units import parse_horizon_text

        get(method)  # unknown names fail before anything listens
        parse_horizon_text(horizon)
        if int(train_frames) <= int(n_components) or int(train_frames) < 3:
            raise ConfigurationError(f"train frames must exceed n_components ({n_components}) and "
                                     f"be at least 3, got {train_frames}")
        if frame_period_s is not None and not (np.isfinite(frame_period_s) and frame_period_s > 0):
            raise ConfigurationError(f"frame period must be a positive time in s, got "
                                     f"{frame_period_s}")
        self.method = method
        self.horizon_text = horizon
        self.train_frames = int(train_frames)
        self.n_components = int(n_components)
        self.seed = int(seed)
        self.method_params = dict(method_params or {})
        self.lk_params = lk_params
        self.frame_period_s = frame_period_s
        self.period_source = "option" if frame_period_s is not None else None
        self.roi = roi
        self.horizon: Horizon | None = None
        self.pipeline: _StreamPipeline | None = None
        self._training: list[LiveFrame] = []
        self._t = 0
        self._reference: LiveFrame | None = None
        self._roi_px: tuple[float, float] = (0.0, 0.0)
        self._roi_slices: tuple[slice, slice] = (slice(None), slice(None))

    @property
    def built(self) -> bool:
        """``True`` once the model exists."""
        return self.pipeline is not None

    def _check(self, frame: LiveFrame) -> None:
        ref = self._reference
        if ref is None:
            return
        if frame.pixels.shape != ref.pixels.shape:
            raise ValidationError(f"frame {frame.instance or self._t}: {frame.pixels.shape} "
                                  f"pixels, the session's frames have {ref.pixels.shape}")
        if not np.allclose(frame.spacing, ref.spacing, rtol=1e-4):
            raise ValidationError(f"frame {frame.instance or self._t}: pixel spacing "
                                  f"{frame.spacing} mm differs from {ref.spacing} mm")

    def push(self, frame: LiveFrame) -> LivePrediction:
        """Take one frame: keep it for training, build the model on the last training frame, or
        predict.

        Raises
        ------
        ValidationError
            A frame whose size or spacing differs from the first frame's (the frame is not used).
        """
        if self._reference is None:
            ny, nx = frame.pixels.shape
            r0, r1, c0, c1 = self.roi if self.roi is not None else (0, ny, 0, nx)
            if r1 > ny or c1 > nx:
                raise ConfigurationError(f"ROI rows {r0}:{r1}, columns {c0}:{c1} lie outside the "
                                         f"{ny} x {nx} frame")
            self._roi_slices = (slice(r0, r1), slice(c0, c1))
            self._roi_px = ((r0 + r1 - 1) / 2.0, (c0 + c1 - 1) / 2.0)
            self._reference = frame
        self._check(frame)
        t = self._t
        if self.pipeline is None:
            self._training.append(frame)
            self._t += 1
            if len(self._training) < self.train_frames:
                return LivePrediction(frame=frame, t=t, phase="training")
            t0 = time.perf_counter()
            self._build()
            return LivePrediction(frame=frame, t=t, phase="built",
                                  build_ms=(time.perf_counter() - t0) * 1e3)
        r = self.pipeline.push(frame.pixels, t)
        self._t += 1
        assert r.field_mm is not None
        return LivePrediction(frame=frame, t=t, phase="predicted", result=r,
                              target_lps_mm=self._position(r.predicted_field_mm),
                              acquired_lps_mm=self._position(r.field_mm))

    def _period(self) -> float:
        if self.frame_period_s is not None:
            return float(self.frame_period_s)
        acq = [f.acquisition_s for f in self._training]
        if all(a is not None for a in acq):
            d = np.diff(np.asarray(acq, dtype=np.float64))
            if d.size and np.all(d > 0):
                self.period_source = "header"
                return float(np.median(d))
        d = np.diff([f.arrival_unix_s for f in self._training])
        if d.size and float(np.median(d)) > 0:
            self.period_source = "arrival"
            return float(np.median(d))
        raise ConfigurationError("the frame period cannot be told from the training frames; "
                                 "give --frame-period")

    def _build(self) -> None:
        period = self._period()
        self.frame_period_s = period
        self.horizon = Horizon.from_text(self.horizon_text, period, rounded=True)
        ref = self._training[0]
        frames = np.stack([f.pixels for f in self._training] + [self._training[-1].pixels])
        seq = ImageSequence(frames=frames, spacing=ref.spacing,
                            times=np.arange(len(frames)) * period,
                            provenance=Provenance(source="live", frame_period_source="option"))
        pipe = _StreamPipeline(seq, method=self.method, horizon_s=self.horizon.seconds,
                               n_components=self.n_components, train_frames=self.train_frames,
                               lk_params=self.lk_params, seed=self.seed,
                               method_params=self.method_params)
        pipe.prepare()
        self._training.clear()
        self.pipeline = pipe

    def _position(self, field_mm: np.ndarray) -> np.ndarray:
        """LPS mm of the ROI centroid of the reference moved by ``field_mm`` (mm, array order)."""
        assert self._reference is not None
        sp = np.asarray(self._reference.spacing)
        mean_mm = np.asarray(field_mm[self._roi_slices], dtype=np.float64).reshape(-1, 2).mean(0)
        r, c = np.asarray(self._roi_px) + mean_mm / sp
        return (self._reference.ijk_to_lps @ np.array([c, r, 0.0, 1.0]))[:3]

    def settings(self) -> dict[str, Any]:
        """JSON-able record of the session's settings (the horizon once the model is built)."""
        return {
            "method": self.method, "method_params": self.method_params,
            "horizon_requested": self.horizon_text,
            "horizon": None if self.horizon is None else {**self.horizon.as_dict(),
                                                          "label": self.horizon.label()},
            "frame_period_s": self.frame_period_s, "frame_period_source": self.period_source,
            "train_frames": self.train_frames, "n_components": self.n_components,
            "seed": self.seed, "roi_px": list(self.roi) if self.roi else None,
        }

    @property
    def reference(self) -> LiveFrame | None:
        """The reference frame (frame 0): the predicted frames are on its grid."""
        return self._reference
