"""Set up a 4DCT point-prediction experiment: fields, points, series, correspondence training.

:func:`prepare_ct4d` takes the phases of a 4DCT (an :class:`~motionpredict.sequences.ImageSequence`
of ``n`` volumes, reference = phase 0) and a tumour ROI, and returns a :class:`Ct4dSetup` holding

* the fields of every phase (3D Lucas-Kanade with the given parameters, or fields passed in, e.g.
  the phantom's exact ones),
* the internal points (given, or picked around the ROI) and their positions in every phase,
* the breathing-length series cycled through the phases and the points' trajectories in it.

:meth:`Ct4dSetup.correspondence` fits a correspondence model on training pairs only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from motionpredict.ct4d.breathing_series import (
    BreathingSeries,
    SeriesParams,
    make_breathing_series,
)
from motionpredict.ct4d.correspondence import CorrespondenceModel, make_correspondence
from motionpredict.ct4d.pipeline import training_pairs
from motionpredict.ct4d.points import pick_points, track_points
from motionpredict.errors import ValidationError
from motionpredict.registration import LKParams, register_sequence
from motionpredict.sequences import DisplacementFieldSeries, ImageSequence, PointTrajectories


@dataclass(eq=False)
class Ct4dSetup:
    """Everything an experiment on one 4DCT needs.

    Attributes
    ----------
    phases
        The 4DCT volumes (phase 0 = reference).
    fields
        ``(n, D, H, W, 3)`` fields of the phases relative to phase 0, mm.
    roi_mask
        ``(D, H, W)`` bool tumour ROI.
    points_mm
        ``(N, 3)`` internal points on the reference volume, mm (array-axis order).
    phase_points
        Their positions in every phase.
    series
        The breathing-length series.
    trajectories
        ``(T, N, 3)`` positions of the points in every sample of the series, mm.
    registration_s
        Wall time of the registration of all phases, s (0 when fields were given).
    """

    phases: ImageSequence
    fields: DisplacementFieldSeries
    roi_mask: np.ndarray
    points_mm: np.ndarray
    phase_points: PointTrajectories
    series: BreathingSeries
    trajectories: PointTrajectories
    registration_s: float

    def correspondence(self, name: str, *, train_samples: int, n_from_train: int = 10,
                       surrogate: np.ndarray | None = None,
                       phase_surrogate: np.ndarray | None = None) -> CorrespondenceModel:
        """Fit a correspondence model (``"linear"`` or ``"nw"``) on training pairs.

        Parameters
        ----------
        name
            Model name.
        train_samples
            Training window of the series (samples); only those samples may be used.
        n_from_train
            Training samples added to the phases (0: the phases only).
        surrogate, phase_surrogate
            ``(T, p)`` surrogate of the series and ``(n, p)`` at the phases; the point
            coordinates by default.
        """
        if surrogate is None:
            surrogate = self.trajectories.as_series()
            phase_surrogate = self.phase_points.as_series()
        if phase_surrogate is None:
            raise ValidationError("a surrogate needs its values at the phases too")
        s, u = training_pairs(self.series, surrogate, phase_surrogate,
                              train_samples=train_samples, n_from_train=n_from_train)
        return make_correspondence(name).fit(s, u, mask=self.roi_mask)


def prepare_ct4d(phases: ImageSequence, roi_mask: np.ndarray, *,
                 fields: DisplacementFieldSeries | None = None,
                 lk_params: LKParams | dict[str, Any] | None = None, backend: str = "numpy",
                 points_mm: np.ndarray | None = None, n_points: int = 3,
                 margin_mm: float = 10.0, min_distance_mm: float = 8.0, seed: int = 0,
                 series_params: SeriesParams | None = None,
                 **series_options: float) -> Ct4dSetup:
    """Register the phases (unless ``fields`` is given), pick and track points, build the series.

    Parameters
    ----------
    phases
        ``(n, D, H, W)`` 4DCT volumes with spacing (mm); phase 0 is the reference.
    roi_mask
        ``(D, H, W)`` bool tumour ROI (metrics, point picking).
    fields
        Known fields of the phases (mm); skips the registration.
    lk_params
        Lucas-Kanade parameters (:class:`LKParams`, or a ``reference_lk_parameters`` mapping of
        a ``sequence.json``).
    backend
        Registration back-end, ``"numpy"`` or ``"torch"``.
    points_mm
        ``(N, 3)`` internal points (mm, array-axis order); picked automatically when ``None``.
    n_points, margin_mm, min_distance_mm
        Options of :func:`motionpredict.ct4d.points.pick_points`.
    seed
        Seed of the breathing series.
    series_params
        A series record to replay (overrides ``seed`` and ``series_options``).
    **series_options
        Options of :func:`motionpredict.ct4d.breathing_series.draw_series_params`.
    """
    if phases.ndim != 3:
        raise ValidationError(f"a 4DCT needs 3D volumes, got {phases.ndim}D frames")
    mask = np.asarray(roi_mask, dtype=bool)
    if mask.shape != phases.shape:
        raise ValidationError(f"ROI mask {mask.shape} does not fit volumes {phases.shape}")
    start = time.perf_counter()
    reg_s = 0.0
    if fields is None:
        params = (LKParams.from_mapping(lk_params) if isinstance(lk_params, dict)
                  else lk_params)
        fields = register_sequence(phases, params=params, backend=backend)
        reg_s = time.perf_counter() - start
    ref = phases.frames[fields.reference_index]
    if points_mm is None:
        points_mm = pick_points(ref, phases.spacing, mask, n_points=n_points,
                                margin_mm=margin_mm, min_distance_mm=min_distance_mm,
                                origin=fields.origin)
    pts = np.asarray(points_mm, dtype=np.float64).reshape(-1, 3)
    phase_points = track_points(fields, pts)
    series = make_breathing_series(ref, fields, seed=seed, params=series_params,
                                   **series_options)
    return Ct4dSetup(phases=phases, fields=fields, roi_mask=mask, points_mm=pts,
                     phase_points=phase_points, series=series, trajectories=series.track(pts),
                     registration_s=reg_s)
