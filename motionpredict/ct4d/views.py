"""Three orthogonal slices of a volume with tumour contours, as plain arrays for any viewer.

The GUI (or a report) draws :class:`OrthoView` objects; nothing here imports Qt or matplotlib.
Contours are iso-lines at 0.5 of each (float) mask on the slice, from
:func:`find_contours` (marching squares of ``contourpy``, the contouring library matplotlib uses:
a runtime dependency, unlike scikit-image), in ``(row, col)`` pixel coordinates of the slice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motionpredict.errors import ValidationError
from motionpredict.registration import warp_forward

#: Slice planes in array-axis order: the axis held fixed, and the plane's name for axial CT.
PLANES: tuple[tuple[int, str], ...] = ((0, "axial"), (1, "coronal"), (2, "sagittal"))


def find_contours(image: np.ndarray, level: float) -> list[np.ndarray]:
    """Iso-lines of a 2D array at ``level`` (marching squares, linear interpolation on pixel edges).

    Parameters
    ----------
    image
        ``(H, W)`` values (e.g. a mask occupancy in ``[0, 1]``); non-finite values are treated as
        outside every line.
    level
        The iso-value.

    Returns
    -------
    list of numpy.ndarray
        One ``(K, 2)`` float64 array of ``(row, col)`` pixel coordinates per line; a closed line
        repeats its first point at the end. Empty when the level is not crossed.
    """
    import contourpy

    z = np.asarray(image, dtype=np.float64)
    if z.ndim != 2:
        raise ValidationError(f"contours need a 2D array, got shape {z.shape}")
    if min(z.shape) < 2:
        return []
    gen = contourpy.contour_generator(z=np.ma.masked_invalid(z),
                                      line_type=contourpy.LineType.Separate)
    return [np.ascontiguousarray(np.asarray(line, dtype=np.float64)[:, ::-1])
            for line in gen.lines(float(level)) if len(line) >= 2]


@dataclass
class OrthoView:
    """One slice of a volume.

    Attributes
    ----------
    plane
        ``"axial"`` (fixed axis 0), ``"coronal"`` (axis 1) or ``"sagittal"`` (axis 2).
    index
        Index of the slice along the fixed axis.
    image
        2D slice of the volume (the two remaining axes, in array order).
    pixel_mm
        Pixel size of ``image`` in mm, ``(row, col)`` (for a correct aspect ratio).
    contours
        ``{name: [(K, 2) arrays of (row, col) pixel coordinates]}``.
    """

    plane: str
    index: int
    image: np.ndarray
    pixel_mm: tuple[float, float]
    contours: dict[str, list[np.ndarray]] = field(default_factory=dict)


def warp_mask(mask: np.ndarray, field_mm: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Move a reference-volume mask by a field: ``(D, H, W)`` float occupancy in 0..1.

    Parameters
    ----------
    mask
        ``(D, H, W)`` bool mask on the reference volume.
    field_mm
        ``(D, H, W, 3)`` field in mm (``I_ref(x) ~ I_t(x + u(x))``).
    spacing
        Voxel size, mm.
    """
    m = np.asarray(mask, dtype=np.float32)
    u_px = np.asarray(field_mm, dtype=np.float32) / np.asarray(spacing, dtype=np.float32)
    return np.clip(np.asarray(warp_forward(m, u_px, sigma=0.5)), 0.0, 1.0)


def orthogonal_views(volume: np.ndarray, spacing: tuple[float, ...], *,
                     centre: tuple[int, int, int] | None = None,
                     masks: dict[str, np.ndarray] | None = None) -> list[OrthoView]:
    """Axial, coronal and sagittal slices through ``centre`` with the contour of each mask.

    Parameters
    ----------
    volume
        ``(D, H, W)`` volume (e.g. a predicted or actual volume).
    spacing
        Voxel size in mm, array-axis order.
    centre
        Voxel index the three planes pass through; the centroid of the first mask (or the volume
        centre) by default.
    masks
        ``{name: (D, H, W) mask}`` (bool or occupancy in 0..1), e.g. ``{"predicted": ...,
        "actual": ...}`` tumour masks.

    Returns
    -------
    list of OrthoView
        Three views, in the order of :data:`PLANES`.
    """
    vol = np.asarray(volume)
    if vol.ndim != 3:
        raise ValidationError(f"orthogonal views need a 3D volume, got shape {vol.shape}")
    masks = {} if masks is None else masks
    for name, m in masks.items():
        if np.shape(m) != vol.shape:
            raise ValidationError(f"mask {name!r} has shape {np.shape(m)}, volume {vol.shape}")
    point: tuple[int, ...]
    if centre is not None:
        point = centre
    else:
        first = next(iter(masks.values()), None)
        if first is not None and np.asarray(first, dtype=np.float64).sum() > 0:
            w = np.asarray(first, dtype=np.float64)
            grid = np.indices(vol.shape).reshape(3, -1)
            point = tuple(round(float(v)) for v in grid @ w.ravel() / w.sum())
        else:
            point = tuple(n // 2 for n in vol.shape)
    if any(not 0 <= c < n for c, n in zip(point, vol.shape, strict=True)):
        raise ValidationError(f"centre {point} outside the volume {vol.shape}")
    views = []
    for axis, plane in PLANES:
        index = int(point[axis])
        image = np.take(vol, index, axis=axis)
        rest = [s for a, s in enumerate(spacing) if a != axis]
        contours = {
            name: find_contours(np.take(np.asarray(m, dtype=np.float64), index, axis=axis), 0.5)
            for name, m in masks.items()
        }
        views.append(OrthoView(plane, index, image, (float(rest[0]), float(rest[1])), contours))
    return views
