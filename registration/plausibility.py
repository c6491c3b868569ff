"""A plausible-range cap on displacements, stated in mm.

Respiratory organ motion (lung, liver, their tumours) stays within a few centimetres of the
exhale position: peak-to-peak motion up to about 2-3 cm is typical, larger excursions are rare
(AAPM Task Group 76). A displacement far beyond that is a registration failure (a uniform or
noisy region where optical flow has nothing to hold on to), not motion. :func:`cap_displacements`
replaces every voxel whose displacement is longer than the cap by the average of the plausible
displacements around it (normalised Gaussian convolution, widening until every such voxel has
plausible neighbours) and, as a last resort, shortens what is still beyond the cap to its length,
so that the result never exceeds it. The number of replaced voxels is returned so that it can be
reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from motionpredict.errors import ConfigurationError, ValidationError

#: Default cap (mm): above the largest respiratory motion of the thorax and upper abdomen
#: relative to a reference frame (about 3-4 cm peak-to-peak in the worst reported cases).
DEFAULT_MAX_DISPLACEMENT_MM = 40.0

#: Standard deviations (px) of the neighbourhood averages tried in turn.
_FILL_SIGMAS_PX = (2.0, 4.0, 8.0, 16.0, 32.0)


def check_cap(max_displacement_mm: float | None) -> float | None:
    """Validate a cap: ``None`` (no cap) or a finite length > 0 in mm."""
    if max_displacement_mm is None:
        return None
    value = float(max_displacement_mm)
    if not (np.isfinite(value) and value > 0):
        raise ConfigurationError(
            f"the displacement cap must be a length > 0 mm, got {max_displacement_mm!r}")
    return value


def cap_displacements(flow_px: np.ndarray, spacing_mm: Sequence[float],
                      max_displacement_mm: float) -> tuple[np.ndarray, int]:
    """Replace implausibly long displacements by their plausible neighbourhood.

    Parameters
    ----------
    flow_px
        ``(ndim, *shape)`` flow in px of each axis (array-axis order).
    spacing_mm
        Voxel spacing in mm per array axis (``ndim`` values).
    max_displacement_mm
        Largest plausible displacement length in mm.

    Returns
    -------
    flow, n_capped
        The flow (a new float32 array; ``flow_px`` itself is left unchanged) whose every
        displacement has length ``<= max_displacement_mm``, and the number of voxels that were
        beyond the cap and were replaced.
    """
    cap = check_cap(max_displacement_mm)
    assert cap is not None
    flow = np.array(flow_px, dtype=np.float32)
    ndim = flow.shape[0]
    spacing = np.asarray(spacing_mm, dtype=np.float64).reshape(-1)
    if spacing.size != ndim or flow.ndim != ndim + 1:
        raise ValidationError(
            f"flow {flow.shape} and spacing {tuple(spacing)} do not describe one field")
    if not np.all(np.isfinite(flow)):
        raise ValidationError("the flow contains NaN or Inf")
    length = np.sqrt(sum((flow[i] * spacing[i]) ** 2 for i in range(ndim)))
    bad = length > cap
    n_bad = int(bad.sum())
    if n_bad == 0:
        return flow, 0
    good = (~bad).astype(np.float32)
    todo = bad.copy()
    for sigma in _FILL_SIGMAS_PX:
        weight = ndimage.gaussian_filter(good, sigma, mode="nearest")
        ok = todo & (weight > 1e-3)
        if ok.any():
            for i in range(ndim):
                avg = ndimage.gaussian_filter(flow[i] * good, sigma, mode="nearest")
                flow[i][ok] = avg[ok] / weight[ok]
            todo &= ~ok
        if not todo.any():
            break
    # whatever is left (no plausible voxel anywhere near, or an average that is itself long):
    # shorten to the cap
    length = np.sqrt(sum((flow[i].astype(np.float64) * spacing[i]) ** 2 for i in range(ndim)))
    over = length > cap
    if over.any():
        shrink = np.where(over, cap / np.where(over, length, 1.0) * (1 - 1e-6), 1.0)
        flow *= shrink.astype(np.float32)
    return flow, n_bad
