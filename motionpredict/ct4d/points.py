"""Internal points: automatic picking around a tumour ROI and tracking through displacement fields.

Positions are in mm, array-axis order ``(slice, row, col)``, measured from the grid's first voxel
centre plus the grid origin: ``p = origin + index * spacing`` (direction cosines are not applied,
so positions live in the volume's own axes).

Tracking follows the field convention ``I_ref(x) ~ I_t(x + u_t(x))``: the tissue at reference
position ``p`` is found at ``p + u_t(p)`` in volume ``t``; ``u_t(p)`` is interpolated trilinearly.

Picking (Shi-Tomasi "good features to track" in 3D): the structure tensor
``M = G_rho * (grad I grad I^T)`` of the (slightly smoothed) reference volume is computed, and its
smallest eigenvalue ``lambda_min`` scores how well a point can be located along *every* axis.
The ``n`` best-scoring voxels inside a shell around the tumour ROI (distance to the ROI at most
``margin_mm``) are kept, at least ``min_distance_mm`` apart (greedy non-maximum suppression).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from motionpredict.errors import ConfigurationError, ValidationError
from motionpredict.sequences import DisplacementFieldSeries, PointTrajectories, Provenance


def mm_to_index(points_mm: np.ndarray, spacing: tuple[float, ...],
                origin: tuple[float, ...] | None = None) -> np.ndarray:
    """Convert ``(N, 3)`` positions in mm to fractional voxel indices (array-axis order)."""
    o = np.zeros(3) if origin is None else np.asarray(origin, dtype=np.float64)
    return (np.asarray(points_mm, dtype=np.float64) - o) / np.asarray(spacing, dtype=np.float64)


def index_to_mm(index: np.ndarray, spacing: tuple[float, ...],
                origin: tuple[float, ...] | None = None) -> np.ndarray:
    """Convert ``(N, 3)`` voxel indices to positions in mm (array-axis order)."""
    o = np.zeros(3) if origin is None else np.asarray(origin, dtype=np.float64)
    return np.asarray(index, dtype=np.float64) * np.asarray(spacing, dtype=np.float64) + o


def _check_points(points_mm: np.ndarray) -> np.ndarray:
    pts = np.asarray(points_mm, dtype=np.float64)
    if pts.ndim == 1 and pts.shape[0] == 3:
        pts = pts[None]
    if pts.ndim != 2 or pts.shape[1] != 3 or pts.shape[0] < 1 or not np.all(np.isfinite(pts)):
        raise ValidationError(
            f"points must be finite (N, 3) positions in mm, got shape {pts.shape}"
        )
    return pts


def sample_field(field_mm: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Trilinear interpolation of one field at fractional voxel indices.

    Parameters
    ----------
    field_mm
        ``(D, H, W, 3)`` displacements in mm.
    index
        ``(N, 3)`` fractional voxel indices; positions outside the grid take the edge value.

    Returns
    -------
    numpy.ndarray
        ``(N, 3)`` displacements in mm.
    """
    coords = np.asarray(index, dtype=np.float64).T
    return np.stack(
        [ndimage.map_coordinates(field_mm[..., c], coords, order=1, mode="nearest")
         for c in range(field_mm.shape[-1])],
        axis=1,
    )


def track_points(fields: DisplacementFieldSeries, points_mm: np.ndarray, *,
                 names: tuple[str, ...] | None = None) -> PointTrajectories:
    """Positions of reference points in every volume: ``p_t = p + u_t(p)``.

    Parameters
    ----------
    fields
        ``(T, D, H, W, 3)`` fields in mm relative to the reference volume.
    points_mm
        ``(N, 3)`` positions in the reference volume, mm, array-axis order (see module docstring).
    names
        Optional point names.

    Returns
    -------
    PointTrajectories
        ``(T, N, 3)`` positions in mm at the fields' times.
    """
    if fields.ndim != 3:
        raise ValidationError(f"point tracking needs 3D fields, got {fields.ndim}D")
    pts = _check_points(points_mm)
    idx = mm_to_index(pts, fields.spacing, fields.origin)
    shape = np.asarray(fields.shape)
    outside = np.any((idx < -0.5) | (idx > shape - 0.5), axis=1)
    if np.any(outside):
        raise ValidationError(
            f"point(s) {np.flatnonzero(outside).tolist()} lie outside the volume "
            f"(0..{(shape - 1) * np.asarray(fields.spacing)} mm)"
        )
    positions = np.stack([pts + sample_field(f, idx) for f in fields.fields])
    return PointTrajectories(
        positions=positions,
        times=fields.times,
        names=names,
        provenance=Provenance(
            source=fields.provenance.source,
            frame_period_source=fields.provenance.frame_period_source,
            extra={"axes": "array-axis order mm (origin + index * spacing)",
                   "tracked_from": "reference volume", "reference_mm": pts.tolist()},
        ),
    )


def corner_score(volume: np.ndarray, spacing: tuple[float, ...], *, sigma_mm: float = 1.0,
                 rho_mm: float = 3.0) -> np.ndarray:
    """Smallest eigenvalue of the 3D structure tensor (Shi-Tomasi score), per voxel.

    Parameters
    ----------
    volume
        ``(D, H, W)`` intensities.
    spacing
        Voxel size in mm, array-axis order.
    sigma_mm
        Gaussian pre-smoothing, mm.
    rho_mm
        Gaussian integration window of the tensor, mm.

    Returns
    -------
    numpy.ndarray
        ``(D, H, W)`` score in (intensity / mm)^2; high where the volume has contrast along all
        three axes.
    """
    sp = np.asarray(spacing, dtype=np.float64)
    smooth = ndimage.gaussian_filter(np.asarray(volume, dtype=np.float64), sigma_mm / sp)
    grads = np.gradient(smooth, *sp)
    win = rho_mm / sp
    tensor = np.empty((*smooth.shape, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            tensor[..., i, j] = tensor[..., j, i] = ndimage.gaussian_filter(grads[i] * grads[j],
                                                                            win)
    return np.linalg.eigvalsh(tensor)[..., 0]


def pick_points(volume: np.ndarray, spacing: tuple[float, ...], roi_mask: np.ndarray, *,
                n_points: int = 3, margin_mm: float = 10.0, min_distance_mm: float = 8.0,
                sigma_mm: float = 1.0, rho_mm: float = 3.0,
                origin: tuple[float, ...] | None = None) -> np.ndarray:
    """Automatically pick high-contrast internal points around a tumour ROI.

    Parameters
    ----------
    volume
        ``(D, H, W)`` reference volume.
    spacing
        Voxel size in mm, array-axis order.
    roi_mask
        ``(D, H, W)`` bool tumour (or ROI) mask; candidates lie within ``margin_mm`` of it
        (inside included).
    n_points
        Number of points wanted.
    margin_mm
        Largest distance of a candidate from the ROI, mm.
    min_distance_mm
        Smallest distance between two picked points, mm.
    sigma_mm, rho_mm
        Smoothing and tensor window of :func:`corner_score`, mm.
    origin
        Grid origin in mm (zeros by default).

    Returns
    -------
    numpy.ndarray
        ``(n_points, 3)`` positions in mm, best score first.

    Raises
    ------
    ConfigurationError
        Empty ROI, or fewer than ``n_points`` candidates far enough apart.
    """
    vol = np.asarray(volume)
    mask = np.asarray(roi_mask, dtype=bool)
    if vol.ndim != 3 or mask.shape != vol.shape:
        raise ValidationError(
            f"volume {vol.shape} and ROI mask {mask.shape} must be the same 3D shape"
        )
    if not mask.any():
        raise ConfigurationError("point picking: the ROI mask is empty")
    if int(n_points) < 1:
        raise ConfigurationError(f"n_points must be >= 1, got {n_points}")
    sp = np.asarray(spacing, dtype=np.float64)
    dist = ndimage.distance_transform_edt(~mask, sampling=sp)
    region = dist <= margin_mm
    # keep candidates away from the volume edge (the tensor window is truncated there)
    edge = np.maximum(1, np.ceil(2.0 * rho_mm / sp)).astype(int)
    inner = np.zeros_like(region)
    inner[tuple(slice(e, n - e) for e, n in zip(edge, vol.shape, strict=True))] = True
    region &= inner
    score = corner_score(vol, spacing, sigma_mm=sigma_mm, rho_mm=rho_mm)
    # local maxima of the score only (3x3x3 neighbourhood)
    peaks = region & (score >= ndimage.maximum_filter(score, size=3)) & (score > 0)
    cand = np.argwhere(peaks)
    order = np.argsort(-score[peaks], kind="stable")
    chosen: list[np.ndarray] = []
    for i in order:
        p = cand[i] * sp
        if all(np.linalg.norm(p - q) >= min_distance_mm for q in chosen):
            chosen.append(p)
            if len(chosen) == int(n_points):
                break
    if len(chosen) < int(n_points):
        raise ConfigurationError(
            f"point picking: only {len(chosen)} high-contrast point(s) at least "
            f"{min_distance_mm} mm apart within {margin_mm} mm of the ROI; lower n_points or "
            "min_distance_mm, or widen margin_mm"
        )
    o = np.zeros(3) if origin is None else np.asarray(origin, dtype=np.float64)
    return np.asarray(chosen) + o
