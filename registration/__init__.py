"""Image registration (optical flow, 2D and 3D) and warping.

Imported as ``motionpredict.registration``.

Main entry points
-----------------
* :class:`LKParams`, :func:`lucas_kanade`, :class:`LucasKanade` - pyramidal iterative
  Lucas-Kanade optical flow (NumPy or torch back-end);
* :func:`register_sequence` - fields of a whole sequence (mm) relative to one frame;
* :func:`warp_forward` (Gaussian splatting), :func:`warp_backward` (pull), :func:`invert_field`;
* :func:`quality_report` - registration RMSE per frame and the made-worse flag
  (:func:`frames_made_worse` for fields at hand); :func:`tune_lk` - grid search;
* :func:`cap_displacements` - the plausible-range cap (mm) that :func:`register_sequence` applies;
* baselines :class:`DISRegistrar`, :class:`FarnebackRegistrar`, :class:`DemonsRegistrar`.

Convention: ``I_ref(x) ~ I_t(x + u_t(x))``; flows of the pairwise functions are ``(ndim, *shape)``
in px, fields of sequences ``(T, *shape, ndim)`` in mm, components in array-axis order.
"""

from motionpredict.registration.baselines import (
    DemonsRegistrar,
    DISRegistrar,
    FarnebackRegistrar,
)
from motionpredict.registration.lucas_kanade import LucasKanade, lucas_kanade
from motionpredict.registration.params import LKParams
from motionpredict.registration.plausibility import DEFAULT_MAX_DISPLACEMENT_MM, cap_displacements
from motionpredict.registration.quality import (
    QualityReport,
    frames_made_worse,
    quality_report,
    rmse,
    roi_from_bounds,
)
from motionpredict.registration.sequence import METHODS, make_registrar, register_sequence
from motionpredict.registration.tuning import DEFAULT_GRID, TuningResult, tune_lk
from motionpredict.registration.warp import invert_field, warp_backward, warp_forward

__all__ = [
    "DEFAULT_GRID",
    "DEFAULT_MAX_DISPLACEMENT_MM",
    "METHODS",
    "DISRegistrar",
    "DemonsRegistrar",
    "FarnebackRegistrar",
    "LKParams",
    "LucasKanade",
    "QualityReport",
    "TuningResult",
    "cap_displacements",
    "frames_made_worse",
    "invert_field",
    "lucas_kanade",
    "make_registrar",
    "quality_report",
    "register_sequence",
    "rmse",
    "roi_from_bounds",
    "tune_lk",
    "warp_backward",
    "warp_forward",
]
