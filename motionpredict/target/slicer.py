"""Export for SlicerCineTrack (3D Slicer extension that replays a target over cine images).

SlicerCineTrack loads a folder of images (one file per frame, played in file-name order), one
segmentation (the target on the reference frame) and a transforms table: a CSV with the header
``X,Y,Z`` and one row per image, the translation of the segmentation in LPS mm (the extension
converts LPS to RAS itself). :func:`write_slicer_cinetrack` writes::

    <folder>/images/00000.mha ...       the acquired frames of the scored window
    <folder>/segmentation.mha           the reference-frame target
    <folder>/transforms_predicted.csv   X,Y,Z: predicted centroid minus reference centroid (mm)
    <folder>/transforms_actual.csv      X,Y,Z: actual centroid minus reference centroid (mm)

The frames and the segmentation are written with origin 0 and identity direction, so their LPS
axes are the image axes: ``X`` = column, ``Y`` = row, ``Z`` = slice (3D) or 0 (2D). The
translations are expressed in that same frame, so predicted and actual targets replay exactly
where ``motionpredict`` computed them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motionpredict.errors import ValidationError
from motionpredict.io.atomic import atomic_path
from motionpredict.target.contour import TargetTrack


def _lps(d: np.ndarray) -> np.ndarray:
    """``(T, ndim)`` array-axis displacements -> ``(T, 3)`` X, Y, Z (column, row, slice)."""
    out = np.zeros((len(d), 3))
    out[:, : d.shape[1]] = d[:, ::-1]
    return out


def write_slicer_cinetrack(
    folder: str | Path,
    frames: np.ndarray,
    spacing_mm: tuple[float, ...],
    mask: np.ndarray,
    track: TargetTrack,
) -> Path:
    """Write the SlicerCineTrack inputs for a target track (layout in the module docstring).

    Parameters
    ----------
    folder
        Output folder (created).
    frames
        ``(T_all, *spatial)`` frames of the whole sequence; the scored ones (``track.targets``)
        are written.
    spacing_mm
        Voxel spacing, mm, array-axis order.
    mask
        ``(*spatial)`` reference-frame target.
    track
        The target track.

    Returns
    -------
    The folder.
    """
    import SimpleITK as sitk

    root = Path(folder)
    f = np.asarray(frames)
    m = np.asarray(mask)
    if f.shape[1:] != m.shape or len(spacing_mm) != m.ndim:
        raise ValidationError(f"frames {f.shape} and target {m.shape} do not match")

    def put(arr: np.ndarray, path: Path) -> None:
        img = sitk.GetImageFromArray(arr)
        img.SetSpacing(tuple(float(s) for s in reversed(spacing_mm)))
        with atomic_path(path) as tmp:
            sitk.WriteImage(img, str(tmp), useCompression=True)

    width = max(5, len(str(len(track.targets))))
    for k, idx in enumerate(track.targets):
        put(np.asarray(f[idx], np.float32), root / "images" / f"{k:0{width}d}.mha")
    put(m.astype(np.uint8), root / "segmentation.mha")
    for name, cen in (
        ("predicted", track.predicted_centroid_mm),
        ("actual", track.actual_centroid_mm),
    ):
        xyz = _lps(np.asarray(cen) - track.reference_centroid_mm)
        with atomic_path(root / f"transforms_{name}.csv") as tmp:
            lines = ["X,Y,Z"] + [f"{x:.4f},{y:.4f},{z:.4f}" for x, y, z in xyz]
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root
