"""Per-frame target metrics between two binary masks: Dice, HD95, mean surface distance, centroid.

Definitions follow the TrackRAD2025 challenge's evaluation (a MONAI-style implementation):

* surface ``∂A`` of a mask ``A``: the voxels of ``A`` that the binary erosion (face-connected
  structuring element) removes, ``∂A = A \\ erode(A)``;
* directed surface distances ``d(a, ∂B)`` for ``a ∈ ∂A``, Euclidean in mm (voxel spacing applied);
* ``HD95 = max(P95{d(a, ∂B)}, P95{d(b, ∂A)})`` (mm); ``HD`` is the same with the maximum;
* mean (average symmetric) surface distance
  ``MASD = (Σ_a d(a, ∂B) + Σ_b d(b, ∂A)) / (|∂A| + |∂B|)`` (mm);
* Dice ``2 |A ∩ B| / (|A| + |B|)``;
* centroid distance: Euclidean distance (mm) of the two centres of mass.

Masks are ``(H, W)`` (2D cine) or ``(D, H, W)`` (3D phases) in array-axis order; spacing is in mm
in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from motionpredict.errors import ValidationError

METRIC_NAMES = ("dice", "hd95_mm", "hd_mm", "masd_mm", "centroid_distance_mm")


def _check(
    mask: np.ndarray, spacing_mm: Sequence[float] | np.ndarray, what: str
) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(mask)
    if m.ndim not in (2, 3):
        raise ValidationError(f"{what} must be a 2D or 3D mask, got shape {m.shape}")
    sp = np.asarray(spacing_mm, dtype=np.float64).ravel()
    if sp.shape != (m.ndim,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ValidationError(
            f"spacing {tuple(sp)} (mm) must be {m.ndim} positive numbers "
            f"for a mask of shape {m.shape}"
        )
    return m.astype(bool), sp


def centroid_mm(mask: np.ndarray, spacing_mm: Sequence[float] | np.ndarray) -> np.ndarray:
    """Centre of mass of a binary mask, mm, array-axis order, origin at voxel ``(0, ..., 0)``.

    Parameters
    ----------
    mask
        ``(H, W)`` or ``(D, H, W)`` boolean mask.
    spacing_mm
        Voxel spacing in mm, array-axis order.

    Returns
    -------
    ``(ndim,)`` centroid in mm; NaN where the mask is empty.
    """
    m, sp = _check(mask, spacing_mm, "mask")
    if not m.any():
        return np.full(m.ndim, np.nan)
    idx = np.nonzero(m)
    return np.array([float(np.mean(i)) for i in idx]) * sp


def surface(mask: np.ndarray) -> np.ndarray:
    """Surface voxels ``A \\ erode(A)`` (face-connected erosion; border voxels count as surface)."""
    m = np.asarray(mask, dtype=bool)
    return m & ~ndimage.binary_erosion(m, border_value=0)


def surface_distances(
    a: np.ndarray, b: np.ndarray, spacing_mm: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Directed distances (mm) from each surface voxel of ``a`` to the surface of ``b``.

    Parameters
    ----------
    a, b
        Non-empty boolean masks of one shape.
    spacing_mm
        Voxel spacing in mm, array-axis order.

    Returns
    -------
    ``(|∂a|,)`` distances in mm.
    """
    ma, sp = _check(a, spacing_mm, "mask")
    mb, _ = _check(b, spacing_mm, "mask")
    sa, sb = surface(ma), surface(mb)
    if not sa.any() or not sb.any():
        raise ValidationError("surface distances need two non-empty masks")
    dist = ndimage.distance_transform_edt(~sb, sampling=sp)
    return np.asarray(dist[sa], dtype=np.float64)


def overlap_metrics(
    predicted: np.ndarray, reference: np.ndarray, spacing_mm: Sequence[float] | np.ndarray
) -> dict[str, float]:
    """Dice, HD95, HD, MASD and centroid distance of a predicted mask against a reference mask.

    Parameters
    ----------
    predicted, reference
        ``(H, W)`` or ``(D, H, W)`` boolean masks of one shape.
    spacing_mm
        Voxel spacing in mm, array-axis order.

    Returns
    -------
    ``{"dice", "hd95_mm", "hd_mm", "masd_mm", "centroid_distance_mm"}``. Two empty masks give
    Dice 1 and distances 0; exactly one empty mask gives Dice 0 and infinite distances.
    """
    p, sp = _check(predicted, spacing_mm, "predicted mask")
    r, _ = _check(reference, spacing_mm, "reference mask")
    if p.shape != r.shape:
        raise ValidationError(f"masks of shapes {p.shape} and {r.shape} cannot be compared")
    n_p, n_r = int(p.sum()), int(r.sum())
    if n_p == 0 and n_r == 0:
        return dict.fromkeys(METRIC_NAMES, 0.0) | {"dice": 1.0}
    if n_p == 0 or n_r == 0:
        return dict.fromkeys(METRIC_NAMES, float("inf")) | {"dice": 0.0}
    dice = 2.0 * float(np.logical_and(p, r).sum()) / (n_p + n_r)
    d_pr = surface_distances(p, r, sp)
    d_rp = surface_distances(r, p, sp)
    both = np.concatenate([d_pr, d_rp])
    return {
        "dice": dice,
        "hd95_mm": float(max(np.percentile(d_pr, 95), np.percentile(d_rp, 95))),
        "hd_mm": float(max(d_pr.max(), d_rp.max())),
        "masd_mm": float(both.mean()),
        "centroid_distance_mm": float(np.linalg.norm(centroid_mm(p, sp) - centroid_mm(r, sp))),
    }


def series_metrics(
    predicted: np.ndarray, reference: np.ndarray, spacing_mm: Sequence[float] | np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`overlap_metrics` frame by frame.

    Parameters
    ----------
    predicted, reference
        ``(T, *spatial)`` boolean mask series.
    spacing_mm
        Voxel spacing in mm, array-axis order.

    Returns
    -------
    ``{name: (T,) array}`` for each name of :data:`METRIC_NAMES`.
    """
    p = np.asarray(predicted)
    r = np.asarray(reference)
    if p.shape != r.shape or p.ndim not in (3, 4):
        raise ValidationError(
            f"mask series of shapes {p.shape} and {r.shape} must match and be (T, *spatial)"
        )
    rows = [overlap_metrics(a, b, spacing_mm) for a, b in zip(p, r, strict=True)]
    return {k: np.array([row[k] for row in rows]) for k in METRIC_NAMES}
