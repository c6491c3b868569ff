"""The target moved by displacement fields: predicted and actual masks and centroids (mm).

Field convention (:mod:`motionpredict.sequences`): ``I_ref(x) = I_t(x + u_t(x))``, so a point
``x`` of the reference frame sits at ``x + u_t(x)`` in frame ``t``. A target mask ``M_0`` drawn on
the reference frame is carried to frame ``t`` by pushing it along the arrows (the same Gaussian
splatting that builds predicted frames, :func:`motionpredict.registration.warp.warp_forward`) and
thresholding at one half:

.. math::

    M_t(y) = [\\hat M_t(y) \\ge 1/2], \\qquad
    \\hat M_t(y) = \\frac{\\sum_x K(y - x - u_t(x)) M_0(x)}{\\sum_x K(y - x - u_t(x))}.

The predicted field ``û_{t+h}`` gives the predicted target of frame ``t + h``; the acquired
frame's own (Lucas-Kanade) field gives the "actual" target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.registration.warp import warp_forward
from motionpredict.target.metrics import METRIC_NAMES, centroid_mm, overlap_metrics


def move_mask(
    mask: np.ndarray,
    field_mm: np.ndarray,
    spacing_mm: Sequence[float],
    *,
    backend: str | None = None,
) -> np.ndarray:
    """Carry a reference-frame mask along a displacement field.

    Parameters
    ----------
    mask
        ``(H, W)`` or ``(D, H, W)`` boolean target mask on the reference frame.
    field_mm
        ``(*spatial, ndim)`` or ``(ndim, *spatial)`` displacement in mm
        (``I_ref(x) = I_t(x + u(x))``).
    spacing_mm
        Voxel spacing in mm, array-axis order.
    backend
        Warp back-end (``"numpy"`` or ``"torch"``).

    Returns
    -------
    ``mask``-shaped boolean mask of the target in frame ``t``.
    """
    m = np.asarray(mask, dtype=bool)
    sp = np.asarray(spacing_mm, dtype=np.float64).ravel()
    if m.ndim not in (2, 3) or sp.shape != (m.ndim,) or np.any(sp <= 0):
        raise ValidationError(
            f"mask of shape {m.shape} with spacing {tuple(sp)} mm is not a 2D/3D target"
        )
    u = np.asarray(field_mm, dtype=np.float64)
    if u.shape == (*m.shape, m.ndim):
        u_px = u / sp
    elif u.shape == (m.ndim, *m.shape):
        u_px = u / sp.reshape((m.ndim,) + (1,) * m.ndim)
    else:
        raise ValidationError(f"field of shape {u.shape} does not fit a mask of shape {m.shape}")
    if not np.all(np.isfinite(u_px)):
        raise ValidationError("the displacement field holds NaN or infinite values")
    soft = np.asarray(warp_forward(m.astype(np.float32), u_px.astype(np.float32), backend=backend))
    return np.asarray(soft >= 0.5)


@dataclass
class TargetTrack:
    """Predicted and actual target of each scored frame.

    Attributes
    ----------
    targets
        ``(T,)`` 0-based indices of the frames the predictions are for.
    times_s
        ``(T,)`` acquisition times of those frames, s.
    spacing_mm
        Voxel spacing, mm, array-axis order.
    reference_centroid_mm
        ``(ndim,)`` centroid of the reference-frame mask, mm.
    predicted_centroid_mm, actual_centroid_mm
        ``(T, ndim)`` centroids, mm, array-axis order (for a sagittal cine: rows SI, columns AP).
    metrics
        ``{name: (T,)}`` per-frame Dice, HD95 (mm), HD (mm), MASD (mm), centroid distance (mm) of
        the predicted against the actual mask.
    predicted_masks, actual_masks
        ``(T, *spatial)`` boolean masks (kept only when asked).
    """

    targets: np.ndarray
    times_s: np.ndarray
    spacing_mm: tuple[float, ...]
    reference_centroid_mm: np.ndarray
    predicted_centroid_mm: np.ndarray
    actual_centroid_mm: np.ndarray
    metrics: dict[str, np.ndarray]
    predicted_masks: np.ndarray | None = None
    actual_masks: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        """Mean of each per-frame metric plus the mean and p95 centroid distance (mm)."""
        out = {f"mean_{k}": float(np.mean(v)) for k, v in self.metrics.items()}
        out["p95_centroid_distance_mm"] = float(
            np.percentile(self.metrics["centroid_distance_mm"], 95)
        )
        out["n_frames"] = float(len(self.targets))
        return out


def track_fields(
    mask: np.ndarray,
    predicted_fields_mm: np.ndarray,
    actual_fields_mm: np.ndarray,
    spacing_mm: Sequence[float],
    *,
    targets: np.ndarray | None = None,
    times_s: np.ndarray | None = None,
    keep_masks: bool = False,
) -> TargetTrack:
    """Predicted vs actual target for series of predicted and actual fields.

    Parameters
    ----------
    mask
        ``(*spatial)`` reference-frame target mask.
    predicted_fields_mm, actual_fields_mm
        ``(T, *spatial, ndim)`` fields in mm of the same target frames.
    spacing_mm
        Voxel spacing in mm.
    targets, times_s
        ``(T,)`` frame indices and times (s); ``0..T-1`` when omitted.
    keep_masks
        Keep the ``(T, *spatial)`` masks in the result.
    """
    pf = np.asarray(predicted_fields_mm)
    af = np.asarray(actual_fields_mm)
    if pf.shape != af.shape or pf.ndim < 3:
        raise ValidationError(f"predicted {pf.shape} and actual {af.shape} field series must match")
    n = pf.shape[0]
    pm = (
        np.stack([move_mask(mask, f, spacing_mm) for f in pf])
        if n
        else np.zeros((0, *np.shape(mask)), bool)
    )
    am = (
        np.stack([move_mask(mask, f, spacing_mm) for f in af])
        if n
        else np.zeros((0, *np.shape(mask)), bool)
    )
    return _track(mask, pm, am, spacing_mm, targets, times_s, keep_masks)


def _track(
    mask: np.ndarray,
    pm: np.ndarray,
    am: np.ndarray,
    spacing_mm: Sequence[float],
    targets: np.ndarray | None,
    times_s: np.ndarray | None,
    keep_masks: bool,
) -> TargetTrack:
    n = len(pm)
    rows = [overlap_metrics(p, a, spacing_mm) for p, a in zip(pm, am, strict=True)]
    metrics = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in METRIC_NAMES}
    idx = np.arange(n) if targets is None else np.asarray(targets)
    times = idx.astype(np.float64) if times_s is None else np.asarray(times_s, dtype=np.float64)
    nd = np.ndim(mask)
    return TargetTrack(
        targets=idx,
        times_s=times,
        spacing_mm=tuple(float(s) for s in spacing_mm),
        reference_centroid_mm=centroid_mm(mask, spacing_mm),
        predicted_centroid_mm=np.array([centroid_mm(p, spacing_mm) for p in pm]).reshape(n, nd),
        actual_centroid_mm=np.array([centroid_mm(a, spacing_mm) for a in am]).reshape(n, nd),
        metrics=metrics,
        predicted_masks=pm if keep_masks else None,
        actual_masks=am if keep_masks else None,
    )


def track_pipeline(
    pipeline: Any,
    mask: np.ndarray,
    *,
    window: tuple[int, int] | None = None,
    keep_masks: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TargetTrack:
    """Run an :class:`~motionpredict.pipeline.OnlineFramePipeline` and track the target.

    Every prediction ``û_{t+h}`` issued at frame ``t`` moves ``mask`` to the predicted target of
    frame ``t + h``; frame ``t + h``'s own Lucas-Kanade field moves it to the actual target.

    Parameters
    ----------
    pipeline
        A frame pipeline (prepared or not).
    mask
        Reference-frame target mask on the sequence's grid.
    window
        ``(start, stop)`` 0-based half-open range of target frames; default every frame after the
        training window that has a prediction.
    keep_masks
        Keep the masks.
    progress
        ``progress(done, total)``.
    """
    if pipeline.next_frame is None:
        pipeline.prepare()
    first = int(pipeline.next_frame)
    h = int(pipeline.horizon_steps)
    seq = pipeline.sequence
    n = seq.n_frames
    m = np.asarray(mask, dtype=bool)
    if m.shape != tuple(seq.shape):
        raise ValidationError(
            f"target mask of shape {m.shape} does not fit frames of shape {seq.shape}"
        )
    if not m.any():
        raise ValidationError("the target mask is empty")
    start, stop = window if window is not None else (first + h, n)
    if not first + h <= start < stop <= n:
        raise ConfigurationError(f"target window {start}..{stop} must lie in {first + h}..{n}")
    sp = tuple(float(s) for s in seq.spacing)
    pred: dict[int, np.ndarray] = {}
    actual: dict[int, np.ndarray] = {}
    issue = range(first, stop)
    for k, t in enumerate(issue):
        r = pipeline.process(t)
        if start <= r.target_t < stop:
            pred[r.target_t] = move_mask(m, r.predicted_field_mm, sp)
        if start <= t < stop and r.field_mm is not None:
            actual[t] = move_mask(m, r.field_mm, sp)
        if progress is not None:
            progress(k + 1, len(issue))
    targets = np.array(sorted(set(pred) & set(actual)), dtype=np.int64)
    pm = np.stack([pred[i] for i in targets])
    am = np.stack([actual[i] for i in targets])
    track = _track(m, pm, am, sp, targets, np.asarray(seq.times)[targets], keep_masks)
    track.extra = {"horizon_steps": h, "method": getattr(pipeline, "method", None)}
    return track


def mask_from_sidecar(folder_or_file: str | Path, shape: tuple[int, ...]) -> np.ndarray:
    """The target mask from a sequence's ``sequence.json`` ``roi`` (1-based inclusive box).

    Raises :class:`~motionpredict.errors.ConfigurationError` when the sidecar has no ROI.
    """
    from motionpredict.io.sidecar import read_sidecar

    side = read_sidecar(folder_or_file)
    roi = None if side is None else side.roi_mask(shape)
    if roi is None:
        raise ConfigurationError(f"{folder_or_file}: no sidecar with a 'roi' to use as the target")
    return np.asarray(roi, dtype=bool)


def mask_from_label(
    path: str | Path, shape: tuple[int, ...], *, label: int | None = None
) -> np.ndarray:
    """A target mask read from a label image (``.mha``, ``.nii.gz``, ``.nrrd``...; SimpleITK).

    ``label`` selects one label value; by default every non-zero voxel is target. A 2D label
    stored as a one-slice volume is squeezed.
    """
    import SimpleITK as sitk

    from motionpredict.errors import InputFileError

    try:
        arr = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    except RuntimeError as exc:
        raise InputFileError(
            path, f"cannot read the label image ({str(exc).splitlines()[0]})"
        ) from exc
    arr = np.squeeze(arr)
    if arr.shape != tuple(shape):
        raise ValidationError(
            f"{path}: label of shape {arr.shape} does not fit frames of shape {shape}"
        )
    m = arr != 0 if label is None else arr == label
    if not m.any():
        raise ValidationError(f"{path}: the label holds no target voxel")
    return np.asarray(m)
