"""Per-frame registration quality: intensity RMSE of the reference against the frame pulled back.

For frame ``t`` with field ``u_t`` (``I_ref(x) ~ I_t(x + u_t(x))``) the registered RMSE is

.. math::

    \\mathrm{RMSE}_t = \\sqrt{\\frac{1}{|R|} \\sum_{x \\in R} (I_{ref}(x) - I_t(x + u_t(x)))^2}

over the whole grid or a region of interest ``R`` (intensity units of the images). The identity
RMSE (``u_t = 0``) is reported beside it: registration should lower it. This is the criterion the
reference implementation uses to tune Lucas-Kanade. A frame whose registered RMSE is higher than
its identity RMSE (whole grid) was *made worse* by the registration: it is flagged
(:attr:`QualityReport.made_worse`), counted and listed by ``motionpredict register``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionpredict.errors import ValidationError
from motionpredict.io.atomic import atomic_path
from motionpredict.registration.warp import warp_backward
from motionpredict.sequences import DisplacementFieldSeries, ImageSequence

Roi = np.ndarray | tuple[slice, ...] | None


def roi_from_bounds(bounds: Sequence[tuple[int, int]], shape: tuple[int, ...]) -> np.ndarray:
    """Boolean mask from 1-based inclusive ``(first, last)`` voxel bounds per axis (array order).

    Parameters
    ----------
    bounds
        One ``(first, last)`` pair per axis, e.g. ``[(154, 230), (52, 134)]`` for rows 154-230
        and columns 52-134 (the convention of the reference data's ``sequence.json``).
    shape
        Grid shape.
    """
    if len(bounds) != len(shape):
        raise ValidationError(f"ROI needs {len(shape)} (first, last) pairs, got {len(bounds)}")
    mask = np.zeros(shape, dtype=bool)
    index = []
    for (first, last), n in zip(bounds, shape, strict=True):
        if not 1 <= first <= last <= n:
            raise ValidationError(f"ROI bounds {first}..{last} outside 1..{n}")
        index.append(slice(first - 1, last))
    mask[tuple(index)] = True
    return mask


def _roi_mask(roi: Roi, shape: tuple[int, ...]) -> np.ndarray | None:
    if roi is None:
        return None
    if isinstance(roi, tuple):
        mask = np.zeros(shape, dtype=bool)
        mask[roi] = True
    else:
        mask = np.asarray(roi, dtype=bool)
        if mask.shape != shape:
            raise ValidationError(f"ROI mask shape {mask.shape} differs from the grid {shape}")
    if not mask.any():
        raise ValidationError("the ROI is empty")
    return mask


def rmse(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Root-mean-square difference of two images (optionally inside a boolean mask)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if mask is not None:
        d = d[mask]
    return float(np.sqrt(np.mean(d * d)))


@dataclass
class QualityReport:
    """Per-frame registration quality (intensity units of the images).

    Attributes
    ----------
    times
        ``(T,)`` frame times in s.
    rmse_identity, rmse_registered
        ``(T,)`` RMSE of the reference against frame ``t`` as acquired and pulled back by
        ``u_t`` (whole grid).
    rmse_identity_roi, rmse_registered_roi
        The same inside the ROI; ``None`` without ROI.
    reference_index
        0-based index of the reference frame.

    The per-frame quality flag :attr:`made_worse` marks the frames the registration made worse
    (registered RMSE above the identity RMSE on the whole grid).
    """

    times: np.ndarray
    rmse_identity: np.ndarray
    rmse_registered: np.ndarray
    rmse_identity_roi: np.ndarray | None
    rmse_registered_roi: np.ndarray | None
    reference_index: int

    @property
    def made_worse(self) -> np.ndarray:
        """``(T,)`` bool: the registration made frame ``t`` worse (whole grid); never the
        reference."""
        flag = self.rmse_registered > self.rmse_identity
        flag[self.reference_index] = False
        return np.asarray(flag, dtype=bool)

    def summary(self) -> dict[str, float]:
        """Mean of each column over the frames other than the reference, and the number of
        frames made worse (``n_made_worse``)."""
        keep = np.arange(self.times.size) != self.reference_index
        if not keep.any():
            keep[:] = True
        out = {"rmse_identity": float(self.rmse_identity[keep].mean()),
               "rmse_registered": float(self.rmse_registered[keep].mean())}
        if self.rmse_identity_roi is not None and self.rmse_registered_roi is not None:
            out["rmse_identity_roi"] = float(self.rmse_identity_roi[keep].mean())
            out["rmse_registered_roi"] = float(self.rmse_registered_roi[keep].mean())
        out["n_made_worse"] = float(self.made_worse.sum())
        return out

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write one row per frame (1-based ``frame``, ``time_s``, RMSE columns, ``made_worse``
        0/1) atomically."""
        path = Path(path)
        header = ["frame", "time_s", "rmse_identity", "rmse_registered"]
        cols = [self.rmse_identity, self.rmse_registered]
        if self.rmse_identity_roi is not None and self.rmse_registered_roi is not None:
            header += ["rmse_identity_roi", "rmse_registered_roi"]
            cols += [self.rmse_identity_roi, self.rmse_registered_roi]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([*header, "made_worse"])
            worse = self.made_worse
            for t in range(self.times.size):
                writer.writerow([t + 1, f"{self.times[t]:.6f}", *(f"{c[t]:.6g}" for c in cols),
                                 int(worse[t])])
        return path


def quality_report(seq: ImageSequence, fields: DisplacementFieldSeries, *,
                   roi: Roi = None) -> QualityReport:
    """Registration RMSE of every frame of ``seq`` under the fields ``fields``.

    Parameters
    ----------
    seq
        The registered image sequence.
    fields
        Its fields (mm) relative to ``fields.reference_index``.
    roi
        Boolean mask of the spatial grid, a tuple of slices, or ``None``.
    """
    if fields.n_frames != seq.n_frames or fields.shape != seq.shape:
        raise ValidationError(
            f"fields {fields.fields.shape} do not match the sequence {seq.frames.shape}"
        )
    mask = _roi_mask(roi, seq.shape)
    ref = seq.frames[fields.reference_index]
    px = fields.in_pixels()
    n = seq.n_frames
    ident, reg = np.empty(n), np.empty(n)
    ident_roi, reg_roi = (np.empty(n), np.empty(n)) if mask is not None else (None, None)
    for t in range(n):
        pulled = warp_backward(seq.frames[t], px[t])
        ident[t] = rmse(ref, seq.frames[t])
        reg[t] = rmse(ref, pulled)
        if mask is not None and ident_roi is not None and reg_roi is not None:
            ident_roi[t] = rmse(ref, seq.frames[t], mask)
            reg_roi[t] = rmse(ref, pulled, mask)
    return QualityReport(seq.times.copy(), ident, reg, ident_roi, reg_roi, fields.reference_index)


def frames_made_worse(frames: np.ndarray, fields_mm: np.ndarray, spacing: Sequence[float], *,
                      reference_index: int = 0) -> np.ndarray:
    """The per-frame quality flag for fields already computed (e.g. a pipeline's training
    fields).

    Parameters
    ----------
    frames
        ``(T, *shape)`` images (at least the frames of ``fields_mm``).
    fields_mm
        ``(K, *shape, ndim)`` fields in mm of frames ``0 .. K-1`` relative to
        ``frames[reference_index]``, ``K <= T``.
    spacing
        Voxel spacing in mm per array axis.
    reference_index
        0-based reference frame (never flagged).

    Returns
    -------
    numpy.ndarray
        ``(K,)`` bool: frame ``t`` pulled back by its field differs more from the reference
        (RMSE, whole grid) than the frame as acquired.
    """
    frames = np.asarray(frames)
    fields = np.asarray(fields_mm, dtype=np.float32)
    if fields.ndim != frames.ndim + 1 or fields.shape[0] > frames.shape[0] or \
            fields.shape[1:-1] != frames.shape[1:] or fields.shape[-1] != frames.ndim - 1:
        raise ValidationError(f"fields {fields.shape} do not match the frames {frames.shape}")
    scale = np.asarray(spacing, dtype=np.float32).reshape(-1)
    ref = frames[reference_index]
    flags = np.zeros(fields.shape[0], dtype=bool)
    for t in range(fields.shape[0]):
        if t == reference_index:
            continue
        pulled = warp_backward(frames[t], np.moveaxis(fields[t] / scale, -1, 0))
        flags[t] = rmse(ref, pulled) > rmse(ref, frames[t])
    return flags
