"""Synthetic breathing phantoms with exact ground truth (the embedded default data).

* :func:`breathing_signal`: irregular Lujan-type breathing (drifting period and amplitude, baseline
  drift, deep breaths, end-exhale pauses).
* :func:`make_cine`: 2D sagittal cine-MRI-like frames moved by a known displacement field.
* :func:`make_ct4d`: 3D CT-like volumes (4DCT phases or a time series) with known fields.
* :func:`make_markers`: three external-marker trajectories and an internal tumour trajectory.

Every generator draws all its random quantities first into a frozen, JSON-able record
(``result.params``; ``params.to_dict()`` / ``Params.from_dict``) and then applies it; passing the
record back (``params=...``) replays the run bit for bit, and the same seed gives the same output.
Displacements follow ``I_ref(x) = I_t(x + u_t(x))`` (mm, reference = frame 0).
"""

from motionpredict.phantom.breathing import (
    BreathingParams,
    BreathingSignal,
    breathing_signal,
    draw_breathing_params,
)
from motionpredict.phantom.cine import CineParams, PhantomCine, draw_cine_params, make_cine
from motionpredict.phantom.ct4d import CTParams, PhantomCT, draw_ct_params, make_ct4d
from motionpredict.phantom.markers import (
    MarkerParams,
    PhantomMarkers,
    draw_marker_params,
    make_markers,
)

__all__ = [
    "BreathingParams",
    "BreathingSignal",
    "CTParams",
    "CineParams",
    "MarkerParams",
    "PhantomCT",
    "PhantomCine",
    "PhantomMarkers",
    "breathing_signal",
    "draw_breathing_params",
    "draw_cine_params",
    "draw_ct_params",
    "draw_marker_params",
    "make_cine",
    "make_ct4d",
    "make_markers",
]
